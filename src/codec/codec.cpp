#include "codec/codec.hpp"

#include <algorithm>
#include <chrono>
#include <functional>
#include <optional>

#include "cosae/error.hpp"
#include "common/device.hpp"
#include "common/torch_compat.hpp"
#include "codec/conditional.hpp"
#include "codec/detail.hpp"
#include "codec/payload.hpp"
#include "codec/refine.hpp"

namespace cosae::codec {

namespace {

int64_t cells(int64_t pixels, int64_t D) { return (pixels + D - 1) / D; }

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::size_t total_size(const std::vector<std::vector<uint8_t>>& streams) {
  std::size_t size = 0;
  for (const auto& stream : streams) size += stream.size();
  return size;
}

}  // namespace

Coding coding_from_name(const std::string& name) {
  if (name == "cartesian") return Coding::cartesian;
  if (name == "polar") return Coding::polar;
  if (name == "adaptive") return Coding::adaptive;
  if (name == "cell-gains") return Coding::cell_gains;
  if (name == "factorised") return Coding::smaller;
  if (name == "conditional") return Coding::conditional;
  if (name == "auto") return Coding::automatic;
  COSAE_FAIL(usage, "coding '", name, "': cartesian, polar, adaptive, cell-gains, factorised, conditional or auto");
}

int default_quality(const model::ModelConfig& config, int detail_level) {
  return detail_level != 0 ? config.nearest_quality(kDetailBaseLambda) : config.default_quality();
}

const char* coding_name(Coding coding) {
  switch (coding) {
    case Coding::cartesian: return "cartesian";
    case Coding::polar: return "polar";
    case Coding::adaptive: return "adaptive";
    case Coding::cell_gains: return "cell-gains";
    case Coding::smaller: return "factorised";
    case Coding::conditional: return "conditional";
    case Coding::automatic: break;
  }
  return "auto";
}

namespace {

// The image tensor [1, 3, H, W], padded by replication to whole cells, through the encoder
// (tiled, float16 where the model says): the scaled latent [1, 2K, h, w] as float32.
torch::Tensor analyze_image(torch::Tensor x, CodecModel& m, int quality) {
  const int64_t D = m.net->config.downsampling;
  const int64_t H = x.size(2), W = x.size(3);
  const int64_t h = cells(H, D), w = cells(W, D);
  x = torch::nn::functional::pad(
      x, torch::nn::functional::PadFuncOptions({0, w * D - W, 0, h * D - H}).mode(torch::kReplicate));
  std::optional<compat::AutocastScope> half;
  if (m.half_precision) half.emplace(m.device, true, at::kHalf);
  return analyze_tiled(*m.net, x, quality - 1, m.encode_tile_cells, m.encode_margin_cells).to(torch::kFloat);
}

// The decoder (tiled, float16 where the model says) from a scaled latent, cropped to the
// image's height x width: [1, 3, height, width] float32, not clamped.
torch::Tensor synthesize_image(const torch::Tensor& scaled_latent, CodecModel& m, int quality, int64_t height,
                               int64_t width) {
  torch::Tensor x;
  {
    std::optional<compat::AutocastScope> half;
    if (m.half_precision) half.emplace(m.device, true, at::kHalf);
    x = synthesize_tiled(*m.net, scaled_latent, quality - 1, m.decode_tile_cells, m.decode_margin_cells)
            .to(torch::kFloat);
  }
  return x.slice(2, 0, height).slice(3, 0, width);
}

void check_quality(const CodecModel& m, int quality) {
  const int levels = m.net->config.quality_levels();
  COSAE_CHECK(quality >= 1 && quality <= levels, usage, "quality ", quality, " outside 1..", levels, " of model ",
              m.id);
}

}  // namespace

Image reconstruct_unquantized(const Image& image, CodecModel& m, int quality, AlphaPolicy alpha) {
  check_quality(m, quality);
  m.ensure(model::kEncoderPart | model::kDecoderPart);
  torch::NoGradGuard no_grad;
  const auto x = image_to_tensor(image, alpha, m.device);
  const auto y = synthesize_image(analyze_image(x, m, quality), m, quality, image.height, image.width);
  return tensor_to_image(y, image.channels <= 2 ? 1 : 3, image.bit_depth);
}

namespace {

// The image the base streams (the payload without the detail layer) decode to.
Image decode_base(const std::vector<ByteSpan>& streams, const BitstreamHeader& header, CodecModel& m,
                  CodecTimings& timings, int preview_slices = 0) {
  const auto& config = m.net->config;
  const int64_t D = config.downsampling;
  const int64_t h = cells(header.height, D), w = cells(header.width, D), n = h * w;
  const int64_t C = config.latent_channels();
  // Sizes come from a validated header: at most kMaxImagePixels / D^2 cells.
  const auto entropy_start = Clock::now();
  auto symbols = torch::empty({1, C, h, w}, torch::kFloat);
  if (header.mode == CodingMode::conditional)  // symbols holds y_hat itself
    decode_conditional(*m.conditional, streams, h, w, symbols.data_ptr<float>(), preview_slices > 0 ? preview_slices : -1);
  else
    decode_payload(streams, PayloadShape{C / 2, n}, header.mode,
                   header.mode == CodingMode::polar ? m.polar_tables() : m.tables, symbols.data_ptr<float>());
  timings.entropy_s += since(entropy_start);

  torch::NoGradGuard no_grad;
  const auto network_start = Clock::now();
  const auto y_hat = header.mode == CodingMode::conditional ? symbols.to(m.device) : m.net->dequantize(symbols.to(m.device));
  const auto x = synthesize_image(y_hat, m, header.quality, header.height, header.width);
  synchronize(m.device);  // only to split the time between network and image
  timings.network_s += since(network_start);
  const auto image_start = Clock::now();
  Image image = tensor_to_image(x, header.channels <= 2 ? 1 : 3, header.bit_depth);
  timings.image_s += since(image_start);
  return image;
}

std::vector<ByteSpan> spans_of(const Payload& payload) {
  std::vector<ByteSpan> spans;
  for (const auto& stream : payload) spans.push_back(ByteSpan{stream.data(), stream.size()});
  return spans;
}

}  // namespace

std::vector<uint8_t> encode(const Image& image, CodecModel& m, const EncodeOptions& options, CodecTimings* timings) {
  EncodeOptions o = options;
  if (o.quality == 0) o.quality = default_quality(m.net->config, o.detail_level);
  check_quality(m, o.quality);
  if (o.detail_level != 0) detail_step(o.detail_level);  // refuses a level out of range before any work
  // The encoder; the decoder for the detail layer's base; all of it to refine the latent.
  m.ensure(model::kEncoderPart | (o.detail_level != 0 ? model::kDecoderPart : 0) |
           (o.refine_steps != 0 ? model::kAllParts : 0));
  torch::NoGradGuard no_grad;
  const auto image_start = Clock::now();
  auto x = image_to_tensor(image, o.alpha, m.device);
  const double image_s = since(image_start);
  const auto network_start = Clock::now();
  auto latent = analyze_image(x, m, o.quality);
  if (o.refine_steps != 0)  // refine_latent refuses negative steps
    latent = refine_latent(*m.net, x, latent, o.quality - 1, o.refine_steps, m.half_precision).latent;
  const int64_t C = latent.size(1), n = latent.size(2) * latent.size(3);
  if (o.coding == Coding::automatic) o.coding = m.conditional ? Coding::conditional : Coding::smaller;
  COSAE_CHECK(o.coding != Coding::polar || !m.polar_tables().empty(), usage, "model ", m.id,
              " cannot code polar: use cartesian coding");
  COSAE_CHECK(o.coding != Coding::conditional || m.conditional, usage, "model ", m.id,
              " has no conditional entropy model: use --coding factorised (or leave --coding out)");
  const bool all = o.coding == Coding::smaller;
  const bool cartesian = all || o.coding == Coding::cartesian;
  const bool adaptive = all || o.coding == Coding::adaptive;
  const bool cell_gains = all || o.coding == Coding::cell_gains;
  const bool polar = (all || o.coding == Coding::polar) && !m.polar_tables().empty();
  // One copy to the host serves both coders: the centred latent (Cartesian symbols are its
  // rounding, the same numbers as CosAEImpl::quantize).
  torch::Tensor centred, y_cpu, hyper_symbols;
  if (o.coding == Coding::conditional) {
    hyper_symbols = m.net->conditional->hyper_symbols(latent);
    y_cpu = latent.to(torch::kCPU, torch::kFloat).contiguous();
  } else {
    centred = m.net->centre(latent).to(torch::kCPU, torch::kFloat).contiguous();
  }
  const double network_s = since(network_start);

  const auto entropy_start = Clock::now();
  const PayloadShape shape{C / 2, n};
  // With a detail layer the base leaves it kMaxDetailStreams of the stream slots.
  const int64_t streams =
      std::min<int64_t>(payload_streams(shape), kMaxPayloadStreams - (o.detail_level != 0 ? kMaxDetailStreams : 0));
  // auto: every coding (all their streams in one parallel loop); the smallest payload is kept.
  std::vector<PayloadCoding> codings;
  if (cartesian) codings.push_back({CodingMode::cartesian, &m.tables});
  if (polar) codings.push_back({CodingMode::polar, &m.polar_tables()});
  if (adaptive) codings.push_back({CodingMode::adaptive, &m.tables});
  if (cell_gains) codings.push_back({CodingMode::cell_gains, &m.tables});
  CodingMode mode = CodingMode::conditional;
  Payload payload;
  if (o.coding == Coding::conditional) {
    const auto z = hyper_symbols.to(torch::kCPU, torch::kInt).contiguous();
    payload = encode_conditional(*m.conditional, y_cpu.data_ptr<float>(), z.data_ptr<int32_t>(), latent.size(2),
                                 latent.size(3));
  } else {
    auto payloads = encode_payloads(centred.data_ptr<float>(), shape, codings, streams);
    std::size_t best = 0;
    for (std::size_t i = 1; i < payloads.size(); ++i)
      if (total_size(payloads[i]) < total_size(payloads[best])) best = i;
    mode = codings[best].mode;
    payload = std::move(payloads[best]);
  }
  CodecTimings t{network_s, since(entropy_start), image_s};

  BitstreamHeader header;
  header.model_id = m.id;
  header.model_sha256 = m.file_sha256;
  header.quality = static_cast<uint8_t>(o.quality);
  header.mode = mode;
  header.width = image.width;
  header.height = image.height;
  header.channels = image.channels;
  header.bit_depth = image.bit_depth;
  if (o.detail_level != 0) {
    const Image base = decode_base(spans_of(payload), header, m, t);
    const auto detail_start = Clock::now();
    auto detail = encode_detail(image, base, o.detail_level);
    t.entropy_s += since(detail_start);
    header.detail_level = o.detail_level;
    header.detail_streams = static_cast<int>(detail.size());
    for (auto& stream : detail) payload.push_back(std::move(stream));
  }
  if (timings) *timings = t;
  return write_bitstream(header, payload);
}

namespace {

// The h x w cell grid in tiles of `tile` cells: `f` runs on each tile with `margin` cells of
// context around it (cells [a0, a1) x [b0, b1)) and returns [B, C, rows * scale, cols * scale];
// each tile's own part is cut out and stitched. One call on the whole grid when it fits.
torch::Tensor over_tiles(int64_t h, int64_t w, int64_t tile, int64_t margin, int64_t scale,
                         const std::function<torch::Tensor(int64_t, int64_t, int64_t, int64_t)>& f) {
  COSAE_CHECK(tile >= 1 && margin >= 0, usage, "tiling: tile must be >= 1 cell, margin >= 0");
  if (h <= tile + 2 * margin && w <= tile + 2 * margin) return f(0, h, 0, w);
  torch::Tensor out;
  for (int64_t i0 = 0; i0 < h; i0 += tile)
    for (int64_t j0 = 0; j0 < w; j0 += tile) {
      const int64_t i1 = std::min(h, i0 + tile), j1 = std::min(w, j0 + tile);
      const int64_t a0 = std::max<int64_t>(0, i0 - margin), a1 = std::min(h, i1 + margin);
      const int64_t b0 = std::max<int64_t>(0, j0 - margin), b1 = std::min(w, j1 + margin);
      auto piece = f(a0, a1, b0, b1);
      if (!out.defined()) out = torch::empty({piece.size(0), piece.size(1), h * scale, w * scale}, piece.options());
      out.slice(2, i0 * scale, i1 * scale)
          .slice(3, j0 * scale, j1 * scale)
          .copy_(piece.slice(2, (i0 - a0) * scale, (i1 - a0) * scale).slice(3, (j0 - b0) * scale, (j1 - b0) * scale));
    }
  return out;
}

}  // namespace

torch::Tensor synthesize_tiled(model::CosAEImpl& net, const torch::Tensor& y, int64_t level, int64_t tile,
                               int64_t margin) {
  return over_tiles(y.size(2), y.size(3), tile, margin, net.config.downsampling,
                    [&](int64_t a0, int64_t a1, int64_t b0, int64_t b1) {
                      return net.synthesis(y.slice(2, a0, a1).slice(3, b0, b1), level);
                    });
}

torch::Tensor analyze_tiled(model::CosAEImpl& net, const torch::Tensor& x, int64_t level, int64_t tile,
                            int64_t margin) {
  const int64_t D = net.config.downsampling;
  COSAE_CHECK(x.size(2) % D == 0 && x.size(3) % D == 0, usage, "analyze_tiled: pad the image to a multiple of D");
  return over_tiles(x.size(2) / D, x.size(3) / D, tile, margin, 1, [&](int64_t a0, int64_t a1, int64_t b0, int64_t b1) {
    return net.analysis(x.slice(2, a0 * D, a1 * D).slice(3, b0 * D, b1 * D), level);
  });
}

BitstreamHeader peek_header(const uint8_t* data, std::size_t size) { return parse_bitstream(data, size).header; }

Decoded decode(const uint8_t* data, std::size_t size, CodecModel& m, CodecTimings* timings, int preview_slices) {
  const auto parsed = parse_bitstream(data, size);
  const auto& header = parsed.header;
  check_stream_model(header, m);
  const auto& config = m.net->config;
  COSAE_CHECK(header.mode != CodingMode::conditional || m.conditional, bad_input, "bitstream uses the conditional coding, which model ", m.id,
              " does not have");
  COSAE_CHECK(header.mode != CodingMode::polar || !m.polar_tables().empty(), bad_input,
              "bitstream is polar-coded, which model ", m.id, " cannot decode");
  COSAE_CHECK(header.quality >= 1 && header.quality <= config.quality_levels(), bad_input, "bitstream quality ",
              int(header.quality), " outside 1..", config.quality_levels());
  // The header guarantees at least one base stream when there is a detail layer.
  const auto base_count = parsed.streams.size() - static_cast<std::size_t>(header.detail_streams);
  const std::vector<ByteSpan> base(parsed.streams.begin(), parsed.streams.begin() + static_cast<std::ptrdiff_t>(base_count));
  COSAE_CHECK(preview_slices >= 0, usage, "preview slices must be >= 0");
  if (preview_slices > 0) {
    COSAE_CHECK(header.mode == CodingMode::conditional, usage,
                "a preview needs a stream of the conditional coding (this one is ", int(header.mode), ")");
    COSAE_CHECK(preview_slices <= m.conditional->config.slices, usage, "preview of ", preview_slices,
                " slices: the model has ", m.conditional->config.slices);
  }
  m.ensure(model::kDecoderPart);
  CodecTimings t;
  Decoded decoded{decode_base(base, header, m, t, preview_slices), header};
  if (header.detail_level != 0 && preview_slices == 0) {
    const auto detail_start = Clock::now();
    decode_detail({parsed.streams.begin() + static_cast<std::ptrdiff_t>(base_count), parsed.streams.end()},
                  header.detail_level, decoded.image);
    t.entropy_s += since(detail_start);
  }
  if (timings) *timings = t;
  return decoded;
}

}  // namespace cosae::codec
