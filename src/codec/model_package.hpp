// A model as the codec uses it: the network, its integer CDF tables (one per latent channel,
// built from the learned prior at export, stored in the model file) and its identity.
#pragma once

#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "codec/conditional.hpp"
#include "cosae/bitstream.hpp"
#include "cosae/error.hpp"
#include "cosae/model_file.hpp"
#include "entropy/cdf_table.hpp"
#include "model/model_io.hpp"
#include "model/cosae_model.hpp"

namespace cosae::codec {

// A model file's identity as a bitstream names it.
struct ModelIdentity {
  std::string id;
  Sha256Digest sha256{};
};

struct ModelSource;  // a model file held for loading the parts of a network not loaded yet

struct CodecModel {
  model::CosAE net{nullptr};
  std::vector<entropy::CdfTable> tables;  // one per latent channel (2K)
  // Polar coding's amplitude tables, one per frequency (K), derived from `tables` when first
  // asked for (codec/polar.hpp); empty when the Cartesian tables are too wide to pair up quickly.
  const std::vector<entropy::CdfTable>& polar_tables();
  // Builds and loads the networks `parts` (model/config.hpp) where the model was loaded
  // without them; codec functions call it for the networks they run.
  void ensure(model::Parts parts);
  // The conditional coding's integer network and tables, when the model has one.
  std::optional<ConditionalCoder> conditional;
  std::string id;                         // stable identity: name + content hash
  Sha256Digest file_sha256{};             // of the model file's bytes
  // Earlier model files whose streams this one decodes too: it holds their every tensor
  // unchanged (see supersede_model).
  std::vector<ModelIdentity> supersedes;
  std::string path;
  torch::Device device = torch::kCPU;
  // On a GPU the encoder and decoder networks run under float16 autocast (convolutions and
  // attention in float16, the latent, the synthesis and the output in float32); on the CPU,
  // float32 throughout. Symbols always come from float32 latents and integer tables.
  bool half_precision = false;
  // Decoder tiling (codec/codec.hpp): 16 cells of output per tile (1024 px at D = 64; 64 cells
  // on a GPU) and the decoder's reach as context around it (set by load_codec_model).
  int64_t decode_tile_cells = 16;
  int64_t decode_margin_cells = 4;
  // Encoder tiling likewise: 32 cells of latent per tile (2048 px at D = 64; 64 cells on a
  // GPU) with the encoder's reach as context (set by load_codec_model).
  int64_t encode_tile_cells = 32;
  int64_t encode_margin_cells = 5;

  // Set by load_codec_model and polar_tables(): the file while some parts are not loaded, and
  // the amplitude tables once derived.
  std::shared_ptr<const ModelSource> source;
  std::optional<std::vector<entropy::CdfTable>> polar_tables_cache;
};

// How far the encoder reaches, in latent cells (rounded up): each stage's stride-2 3x3
// convolution reaches 1 pixel of its input, its residual block 2 of its output.
int64_t encoder_reach_cells(const model::ModelConfig& config);

// How far the decoder reaches, in latent cells (rounded up), so that tiles with this much
// context decode exactly as the whole image: in harmonic-map pixels, each residual block
// reaches 2, each window-attention block up to window - 1, the upsampling convolutions 1
// each. -1 when no margin makes tiles exact: latent attention (it reaches the whole image),
// or windows that do not divide the tile T (they would not line up).
int64_t decoder_reach_cells(const model::ModelConfig& config);

// A factorised prior quantised to 16-bit integer CDF tables, one per channel.
std::vector<entropy::CdfTable> build_cdf_tables(model::EntropyBottleneckImpl& prior);

// Tables as the tensors PREFIXoffsets, PREFIXsizes and PREFIXcdf of a model file, and back
// (read_table_records throws cosae::Error (model) unless there are `count` valid tables).
void append_table_records(const std::string& prefix, const std::vector<entropy::CdfTable>& tables, ModelFile& file);
std::vector<entropy::CdfTable> read_table_records(const ModelFileView& file, const std::string& prefix, int64_t count,
                                                  const std::string& source);

// make_record, record_values: model/model_io.hpp.
using model::make_record;
using model::record_values;



// Model file with weights, config, CDF tables and model id (metadata "model_id").
// `weights`: how the network's weights are stored (F32, F16 or BF16; see model/model_io.hpp).
ModelFile export_codec_model(model::CosAEImpl& net, DType weights = DType::f32);
void save_codec_model(const std::string& path, model::CosAEImpl& net, DType weights = DType::f32);

// Records in `successor` (metadata "supersedes") that it decodes the streams of
// `predecessor` (whose file's SHA-256 is `predecessor_sha256`), and of every model that one
// supersedes. Throws cosae::Error (model) unless the successor holds every tensor of the
// predecessor byte for byte and the same config apart from its name and conditional part:
// then a stream of the predecessor decodes to the same image with either file.
void supersede_model(ModelFile& successor, const ModelFile& predecessor, const Sha256Digest& predecessor_sha256,
                     const std::string& source);
std::vector<ModelIdentity> superseded_models(const ModelFile& file, const std::string& source);
std::vector<ModelIdentity> superseded_models(const std::map<std::string, std::string>& metadata, const std::string& source);

// Throws cosae::Error (model) unless the bitstream was coded with `m` or a model it supersedes.
void check_stream_model(const BitstreamHeader& header, const CodecModel& m);

// Loads a model file for coding on `device`; throws cosae::Error (model) if it is not one.
// `parts`: the networks to build and load now (model/config.hpp); the file stays mapped for
// the others, which CodecModel::ensure loads when they are needed. A command that knows what
// it runs (a decode: the decoder alone) starts much sooner.
CodecModel load_codec_model(const std::string& path, const torch::Device& device,
                            model::Parts parts = model::kAllParts);


}  // namespace cosae::codec
