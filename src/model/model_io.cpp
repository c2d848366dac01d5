#include "model/model_io.hpp"

#include <cstring>
#include <set>

#include "cosae/error.hpp"

namespace cosae::model {

ModelFile export_model(CosAEImpl& model) {
  torch::NoGradGuard no_grad;
  ModelFile file;
  file.metadata["format"] = kModelFormat;
  file.metadata["format_version"] = std::to_string(kModelFormatVersion);
  file.metadata["config"] = to_json(model.config).dump();
  for (const auto& item : model.named_parameters()) {
    const auto t = item.value().detach().to(torch::kCPU, torch::kFloat).contiguous();
    TensorRecord record;
    record.name = item.key();
    record.dtype = DType::f32;
    record.shape.assign(t.sizes().begin(), t.sizes().end());
    record.data.resize(static_cast<std::size_t>(t.numel()) * sizeof(float));
    if (t.numel() > 0) std::memcpy(record.data.data(), t.data_ptr<float>(), record.data.size());
    file.tensors.push_back(std::move(record));
  }
  return file;
}

CosAE import_model(const ModelFile& file, const std::string& source) {
  auto meta = [&](const std::string& key) -> const std::string& {
    auto it = file.metadata.find(key);
    COSAE_CHECK(it != file.metadata.end(), model, source, ": not a cosae model (no '", key, "' in its metadata)");
    return it->second;
  };
  COSAE_CHECK(meta("format") == kModelFormat, model, source, ": not a cosae model (format '", meta("format"), "')");
  int version = 0;
  try {
    version = std::stoi(meta("format_version"));
  } catch (const std::exception&) {
    COSAE_FAIL(model, source, ": bad format_version '", meta("format_version"), "'");
  }
  COSAE_CHECK(version <= kModelFormatVersion, model, source, ": model format ", version,
              " is newer than this cosae supports (", kModelFormatVersion, ")");
  ModelConfig config;
  try {
    config = config_from_json(nlohmann::json::parse(meta("config")));
  } catch (const nlohmann::json::exception& e) {
    COSAE_FAIL(model, source, ": bad config: ", e.what());
  } catch (const Error& e) {
    COSAE_FAIL(model, source, ": bad config: ", e.what());
  }
  CosAE net(config);
  torch::NoGradGuard no_grad;
  std::set<std::string> expected;
  for (auto& item : net->named_parameters()) {
    expected.insert(item.key());
    const TensorRecord* record = file.find(item.key());
    COSAE_CHECK(record, model, source, ": tensor '", item.key(), "' is missing");
    COSAE_CHECK(record->dtype == DType::f32, model, source, ": tensor '", item.key(), "' is ",
                dtype_name(record->dtype), ", expected F32");
    COSAE_CHECK(torch::IntArrayRef(record->shape) == item.value().sizes(), model, source, ": tensor '", item.key(),
                "' has shape ", torch::IntArrayRef(record->shape), ", expected ", item.value().sizes());
    auto target = item.value();
    if (target.numel() > 0) std::memcpy(target.data_ptr<float>(), record->data.data(), record->data.size());
  }
  for (const auto& record : file.tensors)  // entropy tables are the codec's (codec/model_package)
    COSAE_CHECK(expected.count(record.name) || record.name.rfind("entropy_tables.", 0) == 0, model, source,
                ": unexpected tensor '", record.name, "'");
  return net;
}

void save_model(const std::string& path, CosAEImpl& model) { write_safetensors(path, export_model(model)); }

CosAE load_model(const std::string& path) { return import_model(read_safetensors(path), path); }

}  // namespace cosae::model
