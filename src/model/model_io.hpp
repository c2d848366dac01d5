// A trained CosAE as a model file (safetensors): the config and format version in the
// metadata, every parameter under its module path: float32, or float16/bfloat16 to halve the
// file (the priors stay float32). Loading widens them to float32.
//
// A conditional model's parameter path is also written as the integer layers the codec runs
// (entropy/integer_network.hpp): "conditional_int.<layer>.weight" (I8), ".bias" (I32), ".shift"
// (U8, per output channel) and ".clamp" (I32 low, high). A narrowed file (f16, bf16) keeps
// those layers' float weights only there: they are exactly weight / 2^shift, which loading
// restores, so the float mirror the trainer runs is the integer network bit for bit. Their
// float biases stay float32.
#pragma once

#include <cstring>
#include <string>
#include <vector>

#include "cosae/error.hpp"

#include "cosae/model_file.hpp"
#include "model/cosae_model.hpp"

namespace cosae::model {

constexpr const char* kModelFormat = "cosae-model";
constexpr int kModelFormatVersion = 1;
constexpr const char* kIntegerLayerPrefix = "conditional_int.";

// `weights`: DType::f32, f16 or bf16.
ModelFile export_model(CosAEImpl& model, DType weights = DType::f32);
// "f32", "f16" or "bf16" (any case) as a DType; anything else is a usage error naming `option`.
DType weight_dtype_from_name(const std::string& name, const std::string& option);
// Throws cosae::Error (model) for a file that is not a cosae model, a newer format, a bad
// config, or missing/extra/misshapen tensors.
CosAE import_model(const ModelFile& file, const std::string& source_name = "model file");
// The same from a view, building only `parts` (model/config.hpp): the tensors of the others
// are not read (nor checked) until load_parts builds them.
CosAE import_model(const ModelFileView& file, const std::string& source_name, Parts parts = kAllParts);
// Builds `parts` of `net` where missing and loads their parameters from `file`, the file
// `net` was imported from; throws cosae::Error (model) as import_model.
void load_parts(CosAEImpl& net, const ModelFileView& file, const std::string& source_name, Parts parts);

// A tensor record from raw values, and a record's values (throws (model) for another dtype).
template <typename T>
inline TensorRecord make_record(const std::string& name, DType dtype, std::vector<int64_t> shape, const std::vector<T>& values) {
  TensorRecord r;
  r.name = name;
  r.dtype = dtype;
  r.shape = std::move(shape);
  r.data.resize(values.size() * sizeof(T));
  if (!values.empty()) std::memcpy(r.data.data(), values.data(), r.data.size());
  return r;
}

template <typename T>
inline std::vector<T> record_values(const TensorView& r, DType dtype, const std::string& source) {
  COSAE_CHECK(r.dtype == dtype, model, source, ": tensor '", r.name, "' has dtype ", dtype_name(r.dtype));
  std::vector<T> values(r.size / sizeof(T));
  if (!values.empty()) std::memcpy(values.data(), r.data, values.size() * sizeof(T));
  return values;
}

template <typename T>
inline std::vector<T> record_values(const TensorRecord& r, DType dtype, const std::string& source) {
  return record_values<T>(TensorView{r.name, r.dtype, r.shape, r.data.data(), r.data.size()}, dtype, source);
}

void save_model(const std::string& path, CosAEImpl& model);
CosAE load_model(const std::string& path);

}  // namespace cosae::model
