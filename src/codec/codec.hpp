// Image <-> .cosae bitstream with a CodecModel: pad to a multiple of D, encoder, symbols
// (Cartesian: per channel round(y - median); polar: amplitude and phase per frequency, see
// codec/polar.hpp), rANS with the model's integer CDF tables, bitstream container; then,
// optionally, the detail layer over the decoded base (codec/detail.hpp). Entropy decoding uses
// only integer tables, so symbols decode identically on any device.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "codec/model_package.hpp"
#include "cosae/bitstream.hpp"
#include "cosae/image.hpp"
#include "io/tensor_image.hpp"

namespace cosae::codec {

// How encode codes the coefficients. Under the factorised prior: Cartesian, polar, adaptive
// (Cartesian with a table chosen per channel for this image, codec/adaptive.hpp), cell gains
// (adaptive, with a gain on the scales per cell), or all four with the smallest stream kept
// (`factorised`: on the validation set no one of them wins at every rate). Under the
// conditional entropy model: `conditional` (codec/conditional.hpp). `auto`, the default, is
// conditional for a model that has one and factorised otherwise. The header records the mode
// a stream uses.
enum class Coding { cartesian, polar, adaptive, cell_gains, smaller, conditional, automatic };
// "cartesian", "polar", "adaptive", "cell-gains", "factorised", "conditional", "auto"; throws
// cosae::Error (usage) for anything else.
Coding coding_from_name(const std::string& name);
const char* coding_name(Coding coding);

// What `cosae encode` does without -q and -d: the detail layer at kDefaultDetailLevel over the
// network level nearest kDetailBaseLambda in log (q5 of the shipped model, the best base of
// those measured; docs/experiments.md, "Detail layer").
inline constexpr int kDefaultDetailLevel = 14;
// The detail levels `cosae eval` sweeps by default: the default codec's curve, from about 0.2
// to 2.3 bpp on photos (docs/experiments.md, "Detail layer").
inline constexpr int kDefaultDetailSweep[] = {10, 12, 14, 16, 18, 20, 24, 28};
inline constexpr double kDetailBaseLambda = 0.0018;
// The level encode uses when asked for none (quality 0): with a detail layer the one nearest
// kDetailBaseLambda, without one the model's default (ModelConfig::default_quality).
int default_quality(const model::ModelConfig& config, int detail_level);

struct EncodeOptions {
  int quality = 0;  // 1 .. the model's number of levels; 0 = default_quality(config, detail_level)
  AlphaPolicy alpha = AlphaPolicy::reject_translucent;
  Coding coding = Coding::automatic;
  // Encoder effort: gradient steps on the latent before coding (codec/refine.hpp), for a lower
  // rate-distortion cost with the same decoder; 0 = the encoder network's latent as it is.
  int refine_steps = 0;
  // The detail layer (codec/detail.hpp) over the network's reconstruction: 0 = none, else its
  // level, 1..kMaxDetailLevel (finer as it rises). The encoder decodes its own base to code it.
  int detail_level = 0;
};

// Where a coding's time went (seconds; the network part includes host <-> device copies).
// image_s: the image's conversion to or from a float tensor and its transfer to or from the
// device. The detail layer's coding counts as entropy coding; the encoder's decode of its own
// base is split like a decode's.
struct CodecTimings {
  double network_s = 0;
  double entropy_s = 0;
  double image_s = 0;
};

std::vector<uint8_t> encode(const Image& image, CodecModel& model, const EncodeOptions& options,
                            CodecTimings* timings = nullptr);

struct Decoded {
  Image image;  // RGB, or grey when the original was grey; at the original bit depth
  BitstreamHeader header;
};
// Throws cosae::Error: bad_input for corrupt streams, model when the stream names another model.
// preview_slices > 0 (conditional streams only): a coarse image from the first slices (low
// frequencies) alone, the others at their predicted means, without the detail layer.
Decoded decode(const uint8_t* data, std::size_t size, CodecModel& model, CodecTimings* timings = nullptr,
               int preview_slices = 0);

// The decoder network over overlapping tiles of `tile_cells` latent cells with `margin_cells`
// of context on each side, cropped and stitched: memory bounded by the tile, not the image.
// With a margin of at least decoder_reach_cells(config) the result equals the untiled one.
torch::Tensor synthesize_tiled(model::CosAEImpl& net, const torch::Tensor& scaled_latent, int64_t level,
                               int64_t tile_cells, int64_t margin_cells);

// The encoder likewise over tiles of the padded image x [B, 3, hD, wD] (whose sides must be
// multiples of D), returning the latent [B, 2K, h, w]; with a margin of at least
// encoder_reach_cells(config) it equals the untiled encoder up to float rounding.
torch::Tensor analyze_tiled(model::CosAEImpl& net, const torch::Tensor& x, int64_t level, int64_t tile_cells,
                            int64_t margin_cells);

// The network's reconstruction of `image` at `quality` from its unquantised latent: no
// rounding and no entropy coding, what infinitely fine quantisation would give. The PSNR the
// quality levels can at best approach (`cosae eval --unquantized`).
Image reconstruct_unquantized(const Image& image, CodecModel& model, int quality,
                              AlphaPolicy alpha = AlphaPolicy::reject_translucent);

// Reads just the header (for `cosae info`).
BitstreamHeader peek_header(const uint8_t* data, std::size_t size);

}  // namespace cosae::codec
