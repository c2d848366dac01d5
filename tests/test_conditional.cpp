// The conditional entropy model: its integer layers against their float mirror, the coding's
// round trip (symbols, image, size estimate) with a small untrained model, hostile streams.
#include <random>

#include "bitstream/sha256.hpp"
#include "catch_compat.hpp"
#include "codec/codec.hpp"
#include "codec/conditional.hpp"
#include "cosae/error.hpp"
#include "cosae/model_file.hpp"
#include "image_test_util.hpp"
#include "model/conditional_entropy.hpp"
#include "temp_dir.hpp"

using namespace cosae;

namespace {

model::ModelConfig tiny_conditional_config() {
  auto config = model::load_config("tiny");
  config.name = "cosae-tiny-conditional";
  config.conditional.hyper_channels = 4;
  config.conditional.hyper_stride = 2;
  config.conditional.slices = 2;
  config.conditional.features = 8;
  config.conditional.hidden = 6;
  config.validate();
  return config;
}

codec::CodecModel tiny_conditional_model(const std::string& dir, uint64_t seed) {
  torch::manual_seed(seed);
  model::CosAE net(tiny_conditional_config());
  const std::string path = dir + "/tiny-conditional-" + std::to_string(seed) + ".safetensors";
  codec::save_codec_model(path, *net);
  return codec::load_codec_model(path, torch::kCPU);
}

Image wavy_image(int width, int height) {
  Image image{width, height, 3, 8, {}};
  image.samples.resize(image.sample_count());
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < 3; ++c)
        image.samples[(static_cast<std::size_t>(y) * width + x) * 3 + c] =
            static_cast<uint16_t>(127.5 + 100 * std::sin(0.21 * x + 0.13 * y * (c + 1)) * std::cos(0.05 * x * y / 7.0));
  return image;
}

}  // namespace

TEST_CASE("round_shift divides by a power of two rounding half up, negatives included", "[conditional]") {
  CHECK(entropy::round_shift(0, 4) == 0);
  CHECK(entropy::round_shift(7, 4) == 0);
  CHECK(entropy::round_shift(8, 4) == 1);
  CHECK(entropy::round_shift(-8, 4) == 0);   // -0.5 rounds up to 0
  CHECK(entropy::round_shift(-9, 4) == -1);
  CHECK(entropy::round_shift(-24, 4) == -1);  // -1.5 -> -1
  CHECK(entropy::round_shift(-25, 4) == -2);
  CHECK(entropy::round_shift(-5, 0) == -5);
}

TEST_CASE("an integer layer computes exactly what its float mirror computes", "[conditional]") {
  torch::manual_seed(11);
  for (int64_t kernel : {1, 3}) {
    model::QuantizedConv layer(5, 7, kernel, -40, 255, 3.0);
    {
      torch::NoGradGuard no_grad;
      layer->bias.uniform_(-20, 20);
    }
    layer->to(torch::kDouble);
    const auto integer = layer->to_integer("test");
    auto x = torch::randint(-127, 128, {1, 5, 6, 9}, torch::kDouble);
    const auto mirror = layer->forward(x).to(torch::kInt).contiguous();
    auto x_int = x.to(torch::kInt).contiguous();
    std::vector<int32_t> out(7 * 6 * 9);
    integer.forward(x_int.data_ptr<int32_t>(), 6, 9, out.data());
    const std::vector<int32_t> expected(mirror.data_ptr<int32_t>(), mirror.data_ptr<int32_t>() + mirror.numel());
    INFO("kernel " << kernel);
    CHECK(out == expected);
    CHECK(*std::min_element(out.begin(), out.end()) >= -40);
  }
}

TEST_CASE("the float64 device path computes the integer layers exactly", "[conditional]") {
  std::mt19937 rng(5);
  for (int64_t kernel : {1, 3}) {
    entropy::IntegerConv layer;
    layer.name = "wide";
    layer.kernel = kernel;
    layer.outputs = 6;
    layer.inputs = kernel == 1 ? 60000 : 6000;  // accumulations near the 2^31 bound
    layer.low = -(1 << 30);
    layer.high = 1 << 30;
    std::uniform_int_distribution<int> weight(-127, 127), input(-255, 255);
    layer.weight.resize(static_cast<std::size_t>(layer.outputs * layer.inputs * kernel * kernel));
    for (auto& v : layer.weight) v = static_cast<int8_t>(kernel == 1 ? 127 : weight(rng));
    layer.bias = {0, 5, -7, 1 << 20, -(1 << 20), 3};
    layer.shift = {0, 1, 4, 9, 17, 30};
    REQUIRE_NOTHROW(layer.validate());
    codec::ConditionalCoder coder;
    coder.layers = {layer};
    coder.place_on(torch::kCPU);
    std::vector<int32_t> x(static_cast<std::size_t>(layer.inputs * 2 * 3));
    for (auto& v : x) v = kernel == 1 ? 255 : input(rng);
    std::vector<int32_t> expected(static_cast<std::size_t>(layer.outputs * 2 * 3));
    layer.forward(x.data(), 2, 3, expected.data());
    const auto got = codec::exact_forward(layer, coder.device_layers[0],
                                          torch::from_blob(x.data(), {layer.inputs, 2, 3}, torch::kInt).to(torch::kDouble))
                         .to(torch::kInt)
                         .contiguous();
    INFO("kernel " << kernel);
    CHECK(std::vector<int32_t>(got.data_ptr<int32_t>(), got.data_ptr<int32_t>() + got.numel()) == expected);
  }
}

TEST_CASE("integer layers that could overflow or are misshapen are refused", "[conditional]") {
  entropy::IntegerConv layer;
  layer.name = "big";
  layer.outputs = 1;
  layer.inputs = 70000 / 9;
  layer.kernel = 3;
  layer.weight.assign(static_cast<std::size_t>(layer.inputs * 9), 127);
  layer.bias = {0};
  layer.shift = {0};
  CHECK_THROWS_AS(layer.validate(), Error);  // 127 * 255 * 69993 > 2^31
  layer.weight.assign(layer.weight.size(), 1);
  CHECK_NOTHROW(layer.validate());
  layer.shift = {31};
  CHECK_THROWS_AS(layer.validate(), Error);
  layer.shift = {0};
  layer.bias = {0, 0};
  CHECK_THROWS_AS(layer.validate(), Error);
}

TEST_CASE("slices run from low to high frequencies", "[conditional]") {
  model::ConditionalEntropyImpl module(4, tiny_conditional_config().conditional, {3});
  module.order_frequencies(torch::tensor({{3.0, 0.0}, {0.0, 0.5}, {1.0, 1.0}, {0.0, 0.0}}));
  CHECK(module.frequency_order() == std::vector<int64_t>{3, 1, 2, 0});
  module.config.slices = 2;
  CHECK(module.slice_channels(0) == std::vector<int64_t>{3, 1, 7, 5});
  CHECK(module.slice_channels(1) == std::vector<int64_t>{2, 0, 6, 4});
}

TEST_CASE("the conditional config is written only when present, and read back", "[conditional]") {
  const auto plain = model::load_config("tiny");
  CHECK_FALSE(model::to_json(plain).contains("conditional"));
  const auto config = tiny_conditional_config();
  const auto back = model::config_from_json(model::to_json(config));
  CHECK(back.conditional.hyper_channels == 4);
  CHECK(back.conditional.slices == 2);
  CHECK(back.conditional.hidden == 6);
  auto j = model::to_json(config);
  j["conditional"]["slices"] = 3;  // does not divide K = 8
  CHECK_THROWS_AS(model::config_from_json(j), Error);
  j["conditional"]["slices"] = 2;
  j["conditional"]["typo"] = 1;
  CHECK_THROWS_AS(model::config_from_json(j), Error);
}

TEST_CASE("training a conditional model: finite rate, gradients into the parameter path", "[conditional]") {
  torch::manual_seed(3);
  model::CosAE net(tiny_conditional_config());
  net->train();
  auto x = torch::rand({2, 3, 32, 48});
  auto out = net->forward_train(x, torch::tensor({0, 5}, torch::kLong));
  REQUIRE(out.bits.defined());
  REQUIRE(out.prior_bits.defined());
  CHECK(torch::isfinite(out.bits).all().item<bool>());
  CHECK((out.side_bits < out.bits).all().item<bool>());
  (out.bits.sum() + (out.reconstruction - x).pow(2).sum()).backward();
  CHECK(net->conditional->slice_mean[1]->weight.grad().abs().sum().item<double>() > 0);
  CHECK(net->conditional->hyper_analysis->parameters()[0].grad().abs().sum().item<double>() > 0);
  CHECK(net->encoder->parameters()[0].grad().abs().sum().item<double>() > 0);
}

TEST_CASE("conditional coding round trips, decodes to the encoder's latent, and matches its estimate",
          "[conditional][codec]") {
  cosae_test::TemporaryDirectory dir;
  auto m = tiny_conditional_model(dir.path, 4);
  REQUIRE(m.conditional);
  for (const auto& [w, h] : {std::pair{63, 65}, std::pair{16, 16}, std::pair{100, 40}}) {
    const auto image = wavy_image(w, h);
    for (int q : {1, 6}) {
      INFO(w << "x" << h << " q" << q);
      const auto bytes = codec::encode(image, m, {q});
      CHECK(bytes == codec::encode(image, m, {q}));
      const auto parsed = parse_bitstream(bytes.data(), bytes.size());
      CHECK(parsed.header.mode == CodingMode::conditional);
      CHECK(parsed.header.format_version == 3);
      CHECK(parsed.streams.size() == 2);  // one per slice
      const auto decoded = codec::decode(bytes.data(), bytes.size(), m);
      CHECK(decoded.image.width == w);
      CHECK(decoded.image.height == h);

      // The decoder's latent is the encoder's, and the image is the network's decode of it.
      torch::NoGradGuard no_grad;
      const int64_t cw = (w + 15) / 16, ch = (h + 15) / 16;
      auto x = torch::nn::functional::pad(image_to_tensor(image),
                                          torch::nn::functional::PadFuncOptions({0, cw * 16 - w, 0, ch * 16 - h})
                                              .mode(torch::kReplicate));
      const auto y = m.net->analysis(x, q - 1).contiguous();
      const auto z = m.net->conditional->hyper_symbols(y).to(torch::kInt).contiguous();
      std::vector<float> encoder_y_hat(static_cast<std::size_t>(y.numel())), decoder_y_hat(encoder_y_hat.size());
      double estimate = 0;
      const auto streams = codec::encode_conditional(*m.conditional, y.data_ptr<float>(), z.data_ptr<int32_t>(), ch,
                                                     cw, encoder_y_hat.data(), &estimate);
      std::vector<ByteSpan> spans;
      for (const auto& s : streams) spans.push_back({s.data(), s.size()});
      codec::decode_conditional(*m.conditional, spans, ch, cw, decoder_y_hat.data());
      CHECK(decoder_y_hat == encoder_y_hat);
      const auto y_hat = torch::from_blob(decoder_y_hat.data(), y.sizes(), torch::kFloat);
      const auto expected = tensor_to_image(m.net->synthesis(y_hat, q - 1).slice(2, 0, h).slice(3, 0, w), 3, 8);
      CHECK(decoded.image.samples == expected.samples);
      // The coded size is the tables' ideal cost plus each stream's 8-byte flush, to within 1%.
      std::size_t payload = 0;
      for (const auto& s : streams) payload += s.size();
      const double ideal = estimate / 8 + 8.0 * static_cast<double>(streams.size());
      CHECK(static_cast<double>(payload) <= ideal * 1.01 + 4);
      CHECK(static_cast<double>(payload) >= estimate / 8);

      // A preview from the first slice: the later slices at their predicted means.
      std::vector<float> preview(encoder_y_hat.size());
      codec::decode_conditional(*m.conditional, spans, ch, cw, preview.data(), 1);
      const int64_t cells = ch * cw;
      for (int64_t j = 0; j < m.conditional->channels_per_slice(); ++j) {  // slice 0 is exact
        const int64_t c = m.conditional->channel(0, j);
        for (int64_t p = 0; p < cells; ++p) CHECK(preview[c * cells + p] == encoder_y_hat[c * cells + p]);
      }
    }
  }
  // A preview from the first slice through the whole decoder; all slices are the full decode.
  const auto image = wavy_image(63, 65);
  const auto coded = codec::encode(image, m, {4});
  const auto full = codec::decode(coded.data(), coded.size(), m);
  const auto preview = codec::decode(coded.data(), coded.size(), m, nullptr, 1);
  CHECK(preview.image.width == 63);
  CHECK(preview.image.height == 65);
  CHECK(codec::decode(coded.data(), coded.size(), m, nullptr, 2).image.samples == full.image.samples);
  CHECK(cosae_test::expect_error([&] { codec::decode(coded.data(), coded.size(), m, nullptr, 3); }).kind() ==
        ErrorKind::usage);

  // The factorised codings still run on the same model.
  codec::EncodeOptions factorised;
  factorised.quality = 3;
  factorised.coding = codec::Coding::smaller;
  const auto bytes = codec::encode(wavy_image(40, 40), m, factorised);
  CHECK(parse_bitstream(bytes.data(), bytes.size()).header.mode != CodingMode::conditional);
  CHECK(codec::decode(bytes.data(), bytes.size(), m).image.width == 40);
  CHECK(cosae_test::expect_error([&] { codec::decode(bytes.data(), bytes.size(), m, nullptr, 1); }).kind() ==
        ErrorKind::usage);  // a preview needs the conditional coding
}

TEST_CASE("a half-precision model file keeps the parameter path's float mirror exact", "[conditional]") {
  cosae_test::TemporaryDirectory dir;
  torch::manual_seed(8);
  model::CosAE net(tiny_conditional_config());
  codec::save_codec_model(dir / "half.safetensors", *net, DType::f16);
  auto m = codec::load_codec_model(dir / "half.safetensors", torch::kCPU);
  // The integer layers' weights travel only as integers: no float record of them.
  const auto file = read_safetensors(dir / "half.safetensors");
  CHECK(file.find("conditional.slice0_in.weight") == nullptr);
  CHECK(file.find("conditional_int.slice0_in.weight") != nullptr);
  CHECK(file.find("conditional.slice0_in.bias") != nullptr);
  const auto original = net->conditional->integer_layers();
  torch::NoGradGuard no_grad;
  const auto y = m.net->analysis(image_to_tensor(wavy_image(64, 48)), 2).contiguous();
  const auto z = m.net->conditional->hyper_symbols(y).to(torch::kInt).contiguous();
  std::vector<float> coded(static_cast<std::size_t>(y.numel()));
  codec::encode_conditional(*m.conditional, y.data_ptr<float>(), z.data_ptr<int32_t>(), 3, 4, coded.data());
  const auto mirror = m.net->conditional->forward(y).y_hat.contiguous();
  CHECK(std::vector<float>(mirror.data_ptr<float>(), mirror.data_ptr<float>() + mirror.numel()) == coded);
  // The loaded float weights quantise to exactly the integer layers the file holds.
  const auto layers = m.net->conditional->integer_layers();
  REQUIRE(layers.size() == m.conditional->layers.size());
  for (std::size_t i = 0; i < layers.size(); ++i) {
    INFO(layers[i].name);
    CHECK(layers[i].weight == m.conditional->layers[i].weight);
    CHECK(layers[i].bias == m.conditional->layers[i].bias);
    CHECK(layers[i].shift == m.conditional->layers[i].shift);
    CHECK(layers[i].weight == original[i].weight);  // and are the network's own
    CHECK(layers[i].shift == original[i].shift);
  }
}

TEST_CASE("hostile conditional streams are refused", "[conditional][codec]") {
  cosae_test::TemporaryDirectory dir;
  auto m = tiny_conditional_model(dir.path, 5);
  const auto bytes = codec::encode(wavy_image(48, 32), m, {2});
  for (std::size_t n = 0; n < bytes.size(); n += 3) CHECK_THROWS_AS(codec::decode(bytes.data(), n, m), Error);
  std::mt19937 rng(9);
  for (int i = 0; i < 100; ++i) {
    auto damaged = bytes;
    damaged[rng() % damaged.size()] ^= static_cast<uint8_t>(1u << (rng() % 8));
    CHECK_THROWS_AS(codec::decode(damaged.data(), damaged.size(), m), Error);
  }
  // Streams that pass the CRC but hold the wrong symbols: one stream too few, or garbage.
  std::vector<uint8_t> junk(64, 0x5a);
  std::vector<ByteSpan> one = {{junk.data(), junk.size()}};
  std::vector<float> y_hat(16 * 2 * 3);
  CHECK_THROWS_AS(codec::decode_conditional(*m.conditional, one, 2, 3, y_hat.data()), Error);
  std::vector<ByteSpan> two = {{junk.data(), junk.size()}, {junk.data(), 16}};
  CHECK_THROWS_AS(codec::decode_conditional(*m.conditional, two, 2, 3, y_hat.data()), Error);
  // A model without a conditional model refuses conditional streams and the option.
  torch::manual_seed(1);
  model::CosAE plain_net(model::load_config("tiny"));
  codec::save_codec_model(dir / "plain.safetensors", *plain_net);
  auto plain = codec::load_codec_model(dir / "plain.safetensors", torch::kCPU);
  codec::EncodeOptions conditional;
  conditional.coding = codec::Coding::conditional;
  CHECK(cosae_test::expect_error([&] { codec::encode(wavy_image(16, 16), plain, conditional); }).kind() ==
        ErrorKind::usage);
}

TEST_CASE("a model that supersedes another decodes its streams, and only one it holds unchanged",
          "[conditional][codec]") {
  cosae_test::TemporaryDirectory dir;
  torch::manual_seed(1);
  model::CosAE plain_net(model::load_config("tiny"));
  codec::save_codec_model(dir / "plain.safetensors", *plain_net);
  // The successor: the same transform and factorised prior, plus a conditional part.
  torch::manual_seed(2);
  model::CosAE successor_net(tiny_conditional_config());
  {
    torch::NoGradGuard no_grad;
    auto from = plain_net->named_parameters();
    for (auto& p : successor_net->named_parameters())
      if (from.contains(p.key())) p.value().copy_(from[p.key()]);
    auto buffers = plain_net->named_buffers();
    for (auto& b : successor_net->named_buffers())
      if (buffers.contains(b.key())) b.value().copy_(buffers[b.key()]);
  }
  const auto plain_bytes = read_file(dir / "plain.safetensors");
  const ModelFile plain_file = parse_safetensors(plain_bytes.data(), plain_bytes.size());
  ModelFile successor_file = codec::export_codec_model(*successor_net);
  codec::supersede_model(successor_file, plain_file, sha256(plain_bytes.data(), plain_bytes.size()), "plain");
  write_safetensors(dir / "successor.safetensors", successor_file);
  auto plain = codec::load_codec_model(dir / "plain.safetensors", torch::kCPU);
  auto successor = codec::load_codec_model(dir / "successor.safetensors", torch::kCPU);
  REQUIRE(successor.supersedes.size() == 1);
  CHECK(successor.supersedes[0].id == plain.id);
  CHECK(successor.id != plain.id);

  const Image image = wavy_image(48, 32);
  const auto old_stream = codec::encode(image, plain, {2});
  CHECK(codec::decode(old_stream.data(), old_stream.size(), successor).image.samples ==
        codec::decode(old_stream.data(), old_stream.size(), plain).image.samples);
  const auto new_stream = codec::encode(image, successor, {2});
  CHECK(codec::peek_header(new_stream.data(), new_stream.size()).mode == CodingMode::conditional);
  CHECK(codec::decode(new_stream.data(), new_stream.size(), successor).image.width == 48);
  // The predecessor cannot decode the successor's streams.
  CHECK(cosae_test::expect_error([&] { codec::decode(new_stream.data(), new_stream.size(), plain); }).kind() ==
        ErrorKind::model);

  // Another transform is refused: its streams would not decode.
  torch::manual_seed(3);
  model::CosAE other_net(model::load_config("tiny"));
  const ModelFile other_file = codec::export_codec_model(*other_net);
  ModelFile again = codec::export_codec_model(*successor_net);
  CHECK(cosae_test::expect_error([&] { codec::supersede_model(again, other_file, Sha256Digest{}, "other"); }).kind() ==
        ErrorKind::model);
  // So is another conditional part, and the streams of a model the successor does not name.
  CHECK_THROWS_AS(codec::supersede_model(again, codec::export_codec_model(*tiny_conditional_model(dir.path, 6).net),
                                         Sha256Digest{}, "conditional"),
                  Error);
  codec::save_codec_model(dir / "other.safetensors", *other_net);
  auto other = codec::load_codec_model(dir / "other.safetensors", torch::kCPU);
  const auto other_stream = codec::encode(image, other, {2});
  CHECK(cosae_test::expect_error([&] { codec::decode(other_stream.data(), other_stream.size(), successor); }).kind() ==
        ErrorKind::model);
  // A chain: superseding the successor carries the plain model's identity along.
  ModelFile third = codec::export_codec_model(*successor_net);
  const auto successor_bytes = read_file(dir / "successor.safetensors");
  codec::supersede_model(third, parse_safetensors(successor_bytes.data(), successor_bytes.size()),
                         sha256(successor_bytes.data(), successor_bytes.size()), "successor");
  CHECK(codec::superseded_models(third, "third").size() == 2);
}
