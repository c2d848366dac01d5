// A trained CosAE as a model file (safetensors): the config and format version in the
// metadata, every parameter as a float32 tensor under its module path.
#pragma once

#include <string>

#include "cosae/model_file.hpp"
#include "model/cosae_model.hpp"

namespace cosae::model {

constexpr const char* kModelFormat = "cosae-model";
constexpr int kModelFormatVersion = 1;

ModelFile export_model(CosAEImpl& model);
// Throws cosae::Error (model) for a file that is not a cosae model, a newer format, a bad
// config, or missing/extra/misshapen tensors.
CosAE import_model(const ModelFile& file, const std::string& source_name = "model file");

void save_model(const std::string& path, CosAEImpl& model);
CosAE load_model(const std::string& path);

}  // namespace cosae::model
