#include "codec/model_package.hpp"


#include <cstdlib>
#include <cstring>
#include <future>

#include <nlohmann/json.hpp>

#include "bitstream/sha256.hpp"
#include "codec/conditional.hpp"
#include "codec/polar.hpp"
#include "cosae/error.hpp"
#include "cosae/image.hpp"
#include "io/mapped_file.hpp"
#include "model/model_io.hpp"


namespace cosae::codec {

namespace {

constexpr const char* kTablePrefix = "entropy_tables.";
constexpr const char* kSupersedesKey = "supersedes";

Sha256Digest digest_from_hex(const std::string& hex, const std::string& source) {
  Sha256Digest d{};
  COSAE_CHECK(hex.size() == 2 * d.size(), model, source, ": bad SHA-256 '", hex, "' in \"", kSupersedesKey, "\"");
  auto nibble = [&](char ch) -> uint8_t {
    if (ch >= '0' && ch <= '9') return static_cast<uint8_t>(ch - '0');
    if (ch >= 'a' && ch <= 'f') return static_cast<uint8_t>(ch - 'a' + 10);
    COSAE_FAIL(model, source, ": bad SHA-256 '", hex, "' in \"", kSupersedesKey, "\"");
  };
  for (std::size_t i = 0; i < d.size(); ++i) d[i] = static_cast<uint8_t>(nibble(hex[2 * i]) << 4 | nibble(hex[2 * i + 1]));
  return d;
}

// A model file's config without what does not touch the streams of a model without it.
nlohmann::json stream_config(const ModelFile& file, const std::string& source) {
  auto it = file.metadata.find("config");
  COSAE_CHECK(it != file.metadata.end(), model, source, ": not a cosae model (no config)");
  auto j = nlohmann::json::parse(it->second, nullptr, false);
  COSAE_CHECK(j.is_object(), model, source, ": the model config is not a JSON object");
  j.erase("name");
  j.erase("conditional");
  return j;
}

const std::string& metadata_id(const std::map<std::string, std::string>& metadata, const std::string& source) {
  auto it = metadata.find("model_id");
  COSAE_CHECK(it != metadata.end(), model, source, ": no model_id (exported without entropy tables?)");
  return it->second;
}

}  // namespace

std::vector<entropy::CdfTable> build_cdf_tables(model::EntropyBottleneckImpl& prior) {
  auto pmf = prior.pmf_tables();
  std::vector<entropy::CdfTable> tables;
  const int64_t C = pmf.pmf.size(0);
  for (int64_t c = 0; c < C; ++c) {
    const int64_t n = pmf.lengths[c].item<int64_t>();
    auto row = pmf.pmf[c].narrow(0, 0, n).contiguous();
    std::vector<double> p(row.data_ptr<double>(), row.data_ptr<double>() + n);
    tables.push_back(entropy::CdfTable::from_pmf(static_cast<int32_t>(pmf.offsets[c].item<int64_t>()), p,
                                                 std::max(pmf.tail[c].item<double>(), 1e-9)));
  }
  return tables;
}

void append_table_records(const std::string& prefix, const std::vector<entropy::CdfTable>& tables, ModelFile& file) {
  std::vector<int32_t> offsets, sizes;
  std::size_t width = 0;
  for (const auto& t : tables) width = std::max(width, t.cdf().size());
  std::vector<uint32_t> cdf(tables.size() * width, 0);
  for (std::size_t c = 0; c < tables.size(); ++c) {
    offsets.push_back(tables[c].offset());
    sizes.push_back(static_cast<int32_t>(tables[c].cdf().size()));
    std::copy(tables[c].cdf().begin(), tables[c].cdf().end(), cdf.begin() + static_cast<std::ptrdiff_t>(c * width));
  }
  const auto C = static_cast<int64_t>(tables.size());
  file.tensors.push_back(make_record(prefix + "offsets", DType::i32, {C}, offsets));
  file.tensors.push_back(make_record(prefix + "sizes", DType::i32, {C}, sizes));
  file.tensors.push_back(make_record(prefix + "cdf", DType::u32, {C, static_cast<int64_t>(width)}, cdf));
}

std::vector<entropy::CdfTable> read_table_records(const ModelFileView& file, const std::string& prefix, int64_t count,
                                                  const std::string& source) {
  const auto offsets = record_values<int32_t>(file.at(prefix + "offsets"), DType::i32, source);
  const auto sizes = record_values<int32_t>(file.at(prefix + "sizes"), DType::i32, source);
  const auto& cdf_record = file.at(prefix + "cdf");
  const auto cdf = record_values<uint32_t>(cdf_record, DType::u32, source);
  const auto C = static_cast<std::size_t>(count);
  COSAE_CHECK(offsets.size() == C && sizes.size() == C && cdf_record.shape.size() == 2 &&
                  cdf_record.shape[0] == static_cast<int64_t>(C),
              model, source, ": ", prefix, "* tables do not match the model's ", C, " channels");
  const auto width = static_cast<std::size_t>(cdf_record.shape[1]);
  std::vector<entropy::CdfTable> tables;
  for (std::size_t c = 0; c < C; ++c) {
    COSAE_CHECK(sizes[c] >= 2 && static_cast<std::size_t>(sizes[c]) <= width, model, source, ": bad ", prefix,
                "* table size for channel ", c);
    const auto begin = cdf.begin() + static_cast<std::ptrdiff_t>(c * width);
    tables.push_back(entropy::CdfTable::from_cdf(offsets[c], std::vector<uint32_t>(begin, begin + sizes[c])));
  }
  return tables;
}

ModelFile export_codec_model(model::CosAEImpl& net, DType weights) {
  ModelFile file = model::export_model(net, weights);
  append_table_records(kTablePrefix, build_cdf_tables(*net.entropy), file);
  if (net.conditional) append_conditional_records(build_conditional_coder(net), file);
  // Identity: the family name and a hash of every tensor, so retrained weights get a new id.
  Sha256 hash;
  for (const auto& t : file.tensors) {
    hash.update(reinterpret_cast<const uint8_t*>(t.name.data()), t.name.size());
    hash.update(t.data.data(), t.data.size());
  }
  file.metadata["model_id"] = net.config.name + "-" + to_hex(hash.finish()).substr(0, 12);
  return file;
}

void save_codec_model(const std::string& path, model::CosAEImpl& net, DType weights) {
  write_safetensors(path, export_codec_model(net, weights));
}

int64_t decoder_reach_cells(const model::ModelConfig& c) {
  if (c.attention == "latent" && c.decoder_blocks > 0) return -1;
  // Tiles start on cell boundaries: windows line up with the whole image's only if T is a
  // multiple of the window.
  if (c.attention == "window" && c.decoder_blocks > 0 && c.tile() % c.window != 0) return -1;
  int64_t pixels = 1;  // the last 3x3 convolution
  for (int u = c.upsampling; u > 1; u /= 2) ++pixels;
  pixels += static_cast<int64_t>(c.decoder_blocks) * (2 + (c.attention == "window" ? c.window - 1 : 0));
  // The ablation's stride-2 transposed convolutions (kernel 4) each reach one pixel of their
  // input: T + T/2 + ... + 2 harmonic-map pixels, less than 2T.
  if (!c.harmonic) pixels += 2 * c.tile();
  return (pixels + c.tile() - 1) / c.tile();
}

int64_t encoder_reach_cells(const model::ModelConfig& c) {
  int64_t pixels = 0;  // in input pixels
  for (int s = 1; s <= c.stages(); ++s) pixels += (int64_t(1) << (s - 1)) + 2 * (int64_t(1) << s);
  return (pixels + c.downsampling - 1) / c.downsampling;
}

std::vector<ModelIdentity> superseded_models(const ModelFile& file, const std::string& source) {
  return superseded_models(file.metadata, source);
}

std::vector<ModelIdentity> superseded_models(const std::map<std::string, std::string>& metadata,
                                             const std::string& source) {
  std::vector<ModelIdentity> out;
  auto it = metadata.find(kSupersedesKey);
  if (it == metadata.end()) return out;
  auto j = nlohmann::json::parse(it->second, nullptr, false);
  COSAE_CHECK(j.is_array(), model, source, ": \"", kSupersedesKey, "\" is not a JSON list");
  for (const auto& e : j) {
    COSAE_CHECK(e.is_object() && e.contains("model_id") && e["model_id"].is_string() && e.contains("sha256") &&
                    e["sha256"].is_string(),
                model, source, ": \"", kSupersedesKey, "\" entries need a model_id and a sha256");
    out.push_back({e["model_id"].get<std::string>(), digest_from_hex(e["sha256"].get<std::string>(), source)});
  }
  return out;
}

void supersede_model(ModelFile& successor, const ModelFile& predecessor, const Sha256Digest& predecessor_sha256,
                     const std::string& source) {
  COSAE_CHECK(stream_config(successor, "the new model") == stream_config(predecessor, source), model, source,
              ": another network than the new model's (configs differ beyond name and conditional part)");
  for (const auto& t : predecessor.tensors) {
    const TensorRecord* mine = successor.find(t.name);
    COSAE_CHECK(mine && mine->dtype == t.dtype && mine->shape == t.shape && mine->data == t.data, model, source,
                ": tensor ", t.name, mine ? " differs in" : " is missing from", " the new model, so its streams would not decode");
  }
  auto list = superseded_models(successor, "the new model");
  auto add = [&](const ModelIdentity& m) {
    for (const auto& have : list)
      if (have.id == m.id && have.sha256 == m.sha256) return;
    list.push_back(m);
  };
  add({metadata_id(predecessor.metadata, source), predecessor_sha256});
  for (const auto& m : superseded_models(predecessor, source)) add(m);
  nlohmann::json j = nlohmann::json::array();
  for (const auto& m : list) j.push_back({{"model_id", m.id}, {"sha256", to_hex(m.sha256)}});
  successor.metadata[kSupersedesKey] = j.dump();
}

void check_stream_model(const BitstreamHeader& header, const CodecModel& m) {
  for (const auto& old : m.supersedes)
    if (header.model_id == old.id && header.model_sha256 == old.sha256) return;
  check_bitstream_model(header, m.id, m.file_sha256);
}

struct ModelSource {
  explicit ModelSource(const std::string& path) : bytes(path), view(view_safetensors(bytes.data(), bytes.size())) {}
  MappedFile bytes;
  ModelFileView view;  // points into `bytes`
};

const std::vector<entropy::CdfTable>& CodecModel::polar_tables() {
  if (!polar_tables_cache) {
    // Pairing two tables costs the product of their sizes: ~350k steps in all for the shipped
    // model; a file with tables so wide that this would take seconds can still code Cartesian.
    const std::size_t C = tables.size();
    int64_t pairing_cost = 0;
    for (std::size_t k = 0; k < C / 2; ++k) pairing_cost += tables[k].symbol_count() * tables[k + C / 2].symbol_count();
    polar_tables_cache.emplace();
    if (C % 2 == 0 && pairing_cost <= (int64_t{1} << 26)) *polar_tables_cache = amplitude_tables(tables);
  }
  return *polar_tables_cache;
}

void CodecModel::ensure(model::Parts parts) {
  const model::Parts missing = parts & ~net->built();
  if (missing == 0) return;
  COSAE_CHECK(source, internal, "model ", id, " was loaded without parts it now needs");
  model::load_parts(*net, source->view, path, missing);
  net->eval();
  net->to(device);
  if ((net->built() & model::kAllParts) == model::kAllParts) source.reset();
}

CodecModel load_codec_model(const std::string& path, const torch::Device& device, model::Parts parts) {
  auto source = std::make_shared<const ModelSource>(path);
  const ModelFileView& file = source->view;
  // The file's hash (a stream names the model by it) on another thread, while the network loads.
  auto digest = std::async(std::launch::async, [&source] { return sha256(source->bytes.data(), source->bytes.size()); });
  CodecModel m;
  m.path = path;
  m.net = model::import_model(file, path, parts);
  m.net->eval();
  m.net->to(device);
  m.device = device;
  const int64_t reach = decoder_reach_cells(m.net->config);
  if (reach < 0)
    m.decode_tile_cells = int64_t(1) << 40;  // no exact tiling: decode whole images
  else
    m.decode_margin_cells = reach;
  m.encode_margin_cells = encoder_reach_cells(m.net->config);
  m.half_precision = device.is_cuda();
  if (device.is_cuda()) {  // GPU memory holds a 4K frame whole: tiles of 64 cells (4096 px)
    m.encode_tile_cells = 64;
    if (reach >= 0) m.decode_tile_cells = 64;
  }
  m.id = metadata_id(file.metadata, path);
  m.supersedes = superseded_models(file.metadata, path);
  const auto C = static_cast<std::size_t>(m.net->config.latent_channels());
  m.tables = read_table_records(file, kTablePrefix, static_cast<int64_t>(C), path);
  if (m.net->conditional) {
    m.conditional = read_conditional_coder(file, m.net->config, path, device);
  }
  m.file_sha256 = digest.get();
  if ((m.net->built() & model::kAllParts) != model::kAllParts) m.source = std::move(source);
  return m;
}

}  // namespace cosae::codec
