#include "train/checkpoint.hpp"

#include <sstream>

#include "cosae/error.hpp"
#include "cosae/image.hpp"

namespace cosae::train {

namespace {

constexpr int64_t kCheckpointVersion = 1;

torch::serialize::InputArchive open_archive(const std::string& path) {
  const auto bytes = read_file(path);
  torch::serialize::InputArchive archive;
  try {
    std::istringstream in(std::string(bytes.begin(), bytes.end()));
    archive.load_from(in);
  } catch (const c10::Error& e) {
    COSAE_FAIL(bad_input, path, ": not a cosae checkpoint (", std::string(e.what()).substr(0, 80), ")");
  }
  return archive;
}

CheckpointInfo read_info(torch::serialize::InputArchive& archive, const std::string& path) {
  CheckpointInfo info;
  try {
    c10::IValue version, step, seed, config;
    archive.read("version", version);
    COSAE_CHECK(version.toInt() <= kCheckpointVersion, bad_input, path, ": checkpoint version ", version.toInt(),
                " is newer than this cosae");
    archive.read("step", step);
    archive.read("seed", seed);
    archive.read("config", config);
    info.step = step.toInt();
    info.seed = static_cast<uint64_t>(seed.toInt());
    info.config_json = config.toStringRef();
  } catch (const c10::Error& e) {
    COSAE_FAIL(bad_input, path, ": not a cosae checkpoint (", std::string(e.what()).substr(0, 80), ")");
  }
  return info;
}

}  // namespace

void save_checkpoint(const std::string& path, model::CosAEImpl& model, torch::optim::Optimizer& optimizer,
                     torch::optim::Optimizer& aux_optimizer, const CheckpointInfo& info) {
  torch::serialize::OutputArchive archive, model_archive, optimizer_archive, aux_archive;
  archive.write("version", c10::IValue(kCheckpointVersion));
  archive.write("step", c10::IValue(info.step));
  archive.write("seed", c10::IValue(static_cast<int64_t>(info.seed)));
  archive.write("config", c10::IValue(info.config_json));
  model.save(model_archive);
  optimizer.save(optimizer_archive);
  aux_optimizer.save(aux_archive);
  archive.write("model", model_archive);
  archive.write("optimizer", optimizer_archive);
  archive.write("aux_optimizer", aux_archive);
  std::ostringstream out;
  archive.save_to(out);
  write_file_atomic(path, out.str());
}

CheckpointInfo read_checkpoint_info(const std::string& path) {
  auto archive = open_archive(path);
  return read_info(archive, path);
}

CheckpointInfo load_checkpoint(const std::string& path, model::CosAEImpl& model, torch::optim::Optimizer& optimizer,
                               torch::optim::Optimizer& aux_optimizer) {
  auto archive = open_archive(path);
  auto info = read_info(archive, path);
  try {
    torch::serialize::InputArchive model_archive, optimizer_archive, aux_archive;
    archive.read("model", model_archive);
    archive.read("optimizer", optimizer_archive);
    archive.read("aux_optimizer", aux_archive);
    model.load(model_archive);
    optimizer.load(optimizer_archive);
    aux_optimizer.load(aux_archive);
  } catch (const c10::Error& e) {
    COSAE_FAIL(bad_input, path, ": checkpoint does not fit this model (", std::string(e.what()).substr(0, 120), ")");
  }
  return info;
}

}  // namespace cosae::train
