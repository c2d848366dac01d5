// A trained CosAE as a model file (safetensors): the config and format version in the
// metadata, every parameter under its module path: float32, or float16/bfloat16 to halve the
// file (the priors and the conditional model's parameter path stay float32). Loading widens them to float32.
#pragma once

#include <string>

#include "cosae/model_file.hpp"
#include "model/cosae_model.hpp"

namespace cosae::model {

constexpr const char* kModelFormat = "cosae-model";
constexpr int kModelFormatVersion = 1;

// `weights`: DType::f32, f16 or bf16.
ModelFile export_model(CosAEImpl& model, DType weights = DType::f32);
// "f32", "f16" or "bf16" (any case) as a DType; anything else is a usage error naming `option`.
DType weight_dtype_from_name(const std::string& name, const std::string& option);
// Throws cosae::Error (model) for a file that is not a cosae model, a newer format, a bad
// config, or missing/extra/misshapen tensors.
CosAE import_model(const ModelFile& file, const std::string& source_name = "model file");

void save_model(const std::string& path, CosAEImpl& model);
CosAE load_model(const std::string& path);

}  // namespace cosae::model
