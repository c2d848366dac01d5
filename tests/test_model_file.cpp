// Safetensors model files: round trips, byte-exact known files, and refusal of bad ones.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "catch_compat.hpp"
#include "cosae/error.hpp"
#include "cosae/image.hpp"
#include "cosae/model_file.hpp"
#include "image_test_util.hpp"
#include "temp_dir.hpp"

using cosae::DType;
using cosae::ErrorKind;
using cosae::ModelFile;
using cosae::TensorRecord;
using cosae_test::contains;
using cosae_test::expect_error;
using cosae_test::TemporaryDirectory;

namespace {

const DType kAllDTypes[] = {DType::boolean, DType::u8,  DType::i8,  DType::f8_e5m2, DType::f8_e4m3, DType::f8_e8m0,
                            DType::i16,     DType::u16, DType::f16, DType::bf16,    DType::i32,     DType::u32,
                            DType::f32,     DType::f64, DType::i64, DType::u64};

// A file from its parts: the 8-byte little-endian length of `header`, `header`, then `data`.
std::vector<uint8_t> file_with(const std::string& header, const std::vector<uint8_t>& data = {}) {
  std::vector<uint8_t> bytes;
  for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<uint8_t>(uint64_t(header.size()) >> (8 * i)));
  bytes.insert(bytes.end(), header.begin(), header.end());
  bytes.insert(bytes.end(), data.begin(), data.end());
  return bytes;
}

ModelFile parse(const std::vector<uint8_t>& bytes) { return cosae::parse_safetensors(bytes.data(), bytes.size()); }

// The model error that parsing `bytes` throws; its message must be one line.
cosae::Error rejection(const std::vector<uint8_t>& bytes) {
  const cosae::Error error = expect_error([&] { parse(bytes); });
  CHECK(error.kind() == ErrorKind::model);
  CHECK(std::string(error.what()).find('\n') == std::string::npos);
  return error;
}

// Rejection of a header whose one tensor, described by `tensor_json`, has `data`.
std::string tensor_rejection(const std::string& tensor_json, const std::vector<uint8_t>& data) {
  return rejection(file_with("{\"t\":" + tensor_json + "}", data)).what();
}

TensorRecord random_tensor(const std::string& name, DType dtype, std::vector<int64_t> shape, std::mt19937& random) {
  TensorRecord tensor{name, dtype, std::move(shape), {}};
  tensor.data.resize(static_cast<std::size_t>(tensor.element_count()) * cosae::dtype_size(dtype));
  for (uint8_t& byte : tensor.data) byte = static_cast<uint8_t>(random());
  return tensor;
}

void check_same(const ModelFile& actual, const ModelFile& expected) {
  CHECK(actual.metadata == expected.metadata);
  REQUIRE(actual.tensors.size() == expected.tensors.size());
  for (const TensorRecord& want : expected.tensors) {
    INFO(want.name);
    const TensorRecord* got = actual.find(want.name);
    REQUIRE(got != nullptr);
    CHECK(got->dtype == want.dtype);
    CHECK(got->shape == want.shape);
    CHECK(got->data == want.data);
  }
}

// A small valid file with metadata and three non-empty tensors, for damage tests.
std::vector<uint8_t> small_file() {
  std::mt19937 random(7);
  ModelFile model;
  model.metadata = {{"format", "pt"}, {"model_id", "cosae-test"}};
  model.tensors.push_back(random_tensor("a", DType::f32, {2, 3}, random));
  model.tensors.push_back(random_tensor("b", DType::bf16, {5}, random));
  model.tensors.push_back(random_tensor("c", DType::u8, {}, random));
  return cosae::serialize_safetensors(model);
}

}  // namespace

TEST_CASE("dtype names and sizes", "[model_file]") {
  for (const DType dtype : kAllDTypes) {
    INFO(cosae::dtype_name(dtype));
    CHECK(cosae::dtype_from_name(cosae::dtype_name(dtype)) == dtype);
  }
  CHECK(std::string(cosae::dtype_name(DType::boolean)) == "BOOL");
  CHECK(std::string(cosae::dtype_name(DType::bf16)) == "BF16");
  CHECK(cosae::dtype_size(DType::boolean) == 1);
  CHECK(cosae::dtype_size(DType::f8_e4m3) == 1);
  CHECK(cosae::dtype_size(DType::bf16) == 2);
  CHECK(cosae::dtype_size(DType::u32) == 4);
  CHECK(cosae::dtype_size(DType::f64) == 8);
  for (const char* unknown : {"", "f32", "F33", "F4", "F6_E2M3", "C64", "F32 "}) CHECK(!cosae::dtype_from_name(unknown));
}

TEST_CASE("a hand-written file parses, and the writer reproduces it byte for byte", "[model_file]") {
  // One F32 tensor of shape [2] holding 1.0 and 2.0; the 54-byte header padded to 56.
  const std::string header = R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}  )";
  REQUIRE(header.size() == 56);
  std::vector<uint8_t> bytes = {56, 0, 0, 0, 0, 0, 0, 0};
  bytes.insert(bytes.end(), header.begin(), header.end());
  for (const uint8_t byte : {0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x40}) bytes.push_back(byte);

  const ModelFile model = parse(bytes);
  CHECK(model.metadata.empty());
  REQUIRE(model.tensors.size() == 1);
  const TensorRecord& x = model.at("x");
  CHECK(x.dtype == DType::f32);
  CHECK(x.shape == std::vector<int64_t>{2});
  float values[2];
  REQUIRE(x.data.size() == sizeof(values));
  std::memcpy(values, x.data.data(), sizeof(values));
  CHECK(values[0] == 1.0f);
  CHECK(values[1] == 2.0f);
  CHECK(cosae::serialize_safetensors(model) == bytes);

  // No tensors: "{}" padded to 8 bytes.
  CHECK(cosae::serialize_safetensors(ModelFile{}) == file_with("{}      "));
  CHECK(parse(file_with("{}")).tensors.empty());
}

TEST_CASE("other writers' layouts are read: any key order, whitespace, no padding", "[model_file]") {
  const std::string header =
      "{ \"b\" : {\"data_offsets\": [4, 6], \"shape\": [1, 1], \"dtype\": \"I16\"},\n"
      "  \"a\": {\"shape\": [], \"dtype\": \"I32\", \"data_offsets\": [0, 4]},\n"
      "  \"__metadata__\": {\"format\": \"pt\", \"caf\\u00e9\": \"\\\"quoted\\\"\\n\"} }";
  const ModelFile model = parse(file_with(header, {1, 0, 0, 0, 0xfe, 0xff}));
  CHECK(model.metadata == std::map<std::string, std::string>{{"format", "pt"}, {"caf\xc3\xa9", "\"quoted\"\n"}});
  REQUIRE(model.tensors.size() == 2);
  CHECK(model.tensors[0].name == "a");  // sorted by name
  CHECK(model.tensors[0].shape.empty());
  CHECK(model.tensors[0].element_count() == 1);
  CHECK(model.tensors[0].data == std::vector<uint8_t>{1, 0, 0, 0});
  CHECK(model.at("b").dtype == DType::i16);
  CHECK(model.at("b").data == std::vector<uint8_t>{0xfe, 0xff});
  CHECK(model.find("c") == nullptr);
  const cosae::Error missing = expect_error([&] { model.at("c"); });
  CHECK(missing.kind() == ErrorKind::model);
  CHECK(contains(missing.what(), "'c'"));
}

TEST_CASE("the writer orders tensors by decreasing alignment, then name", "[model_file]") {
  ModelFile model;
  model.tensors.push_back({"a", DType::u8, {3}, {1, 2, 3}});
  model.tensors.push_back({"c", DType::f32, {}, {0, 0, 0x80, 0x3f}});
  model.tensors.push_back({"b", DType::f64, {1}, {0, 0, 0, 0, 0, 0, 0xf0, 0x3f}});
  model.tensors.push_back({"d", DType::f32, {0, 4}, {}});
  model.metadata["model_id"] = "m";
  std::string header = R"({"__metadata__":{"model_id":"m"},"b":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},)"
                       R"("c":{"dtype":"F32","shape":[],"data_offsets":[8,12]},)"
                       R"("d":{"dtype":"F32","shape":[0,4],"data_offsets":[12,12]},)"
                       R"("a":{"dtype":"U8","shape":[3],"data_offsets":[12,15]}})";
  header.append((8 - header.size() % 8) % 8, ' ');
  CHECK(cosae::serialize_safetensors(model) ==
        file_with(header, {0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0, 0, 0x80, 0x3f, 1, 2, 3}));
}

TEST_CASE("random tensors of every dtype and shape round trip", "[model_file]") {
  std::mt19937 random(2024);
  const std::vector<std::vector<int64_t>> shapes = {{}, {0}, {1}, {7}, {3, 0, 2}, {2, 3, 4}, {1, 1, 1, 5}};
  ModelFile model;
  model.metadata = {{"config", R"({"channels": 64, "frequencies": 32})"}, {"model_id", "cosae-q4-v1"}, {"", ""}};
  for (const DType dtype : kAllDTypes) {
    for (std::size_t i = 0; i < shapes.size(); ++i) {
      const std::string name = std::string("layer.") + cosae::dtype_name(dtype) + "." + std::to_string(i);
      model.tensors.push_back(random_tensor(name, dtype, shapes[i], random));
    }
  }
  model.tensors.push_back(random_tensor("\xce\xbb weird \"name\"\n\\", DType::f32, {3}, random));

  const std::vector<uint8_t> bytes = cosae::serialize_safetensors(model);
  const ModelFile parsed = parse(bytes);
  check_same(parsed, model);
  CHECK(cosae::serialize_safetensors(parsed) == bytes);  // the written form is canonical

  // Header padded to 8 bytes, and each tensor's data aligned to its element size.
  uint64_t header_length = 0;
  std::memcpy(&header_length, bytes.data(), 8);
  CHECK(header_length % 8 == 0);
  const auto header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<long>(header_length));
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") continue;
    const auto dtype = cosae::dtype_from_name(entry.at("dtype").get<std::string>());
    REQUIRE(dtype);
    CHECK(entry.at("data_offsets").at(0).get<uint64_t>() % cosae::dtype_size(*dtype) == 0);
  }

  TemporaryDirectory directory;
  const std::string path = directory / "model.safetensors";
  cosae::write_safetensors(path, model);
  CHECK(cosae::read_file(path) == bytes);
  check_same(cosae::read_safetensors(path), model);
  CHECK(directory.entries() == std::vector<std::string>{"model.safetensors"});
}

TEST_CASE("truncated and damaged files are refused with a model error", "[model_file]") {
  const std::vector<uint8_t> bytes = small_file();
  const ModelFile original = parse(bytes);
  for (std::size_t size = 0; size < bytes.size(); ++size) {
    INFO("truncated to " << size << " of " << bytes.size() << " bytes");
    rejection(std::vector<uint8_t>(bytes.begin(), bytes.begin() + static_cast<long>(size)));
  }
  CHECK(contains(rejection({}).what(), "empty"));
  CHECK(contains(rejection(std::vector<uint8_t>(bytes.begin(), bytes.end() - 1)).what(), "truncated"));

  std::vector<uint8_t> longer = bytes;
  longer.push_back(0);
  CHECK(contains(rejection(longer).what(), "after the header"));

  // Any single bit flipped: either refused, or a valid file that survives a round trip.
  for (std::size_t position = 0; position < bytes.size(); ++position) {
    std::vector<uint8_t> damaged = bytes;
    damaged[position] ^= static_cast<uint8_t>(1u << (position % 8));
    try {
      const ModelFile model = parse(damaged);
      check_same(parse(cosae::serialize_safetensors(model)), model);
    } catch (const cosae::Error& error) {
      CHECK(error.kind() == ErrorKind::model);
    }
  }
}

TEST_CASE("header lengths beyond the file or the limit are refused", "[model_file]") {
  std::vector<uint8_t> bytes = file_with("{}");
  bytes[0] = 3;
  CHECK(contains(rejection(bytes).what(), "header length 3 but only 2 bytes follow"));
  for (const uint64_t length : {uint64_t(100'000'001), uint64_t(1) << 63, ~uint64_t(0)}) {
    std::vector<uint8_t> huge(8);
    for (int i = 0; i < 8; ++i) huge[i] = static_cast<uint8_t>(length >> (8 * i));
    huge.push_back('{');
    const std::string message = rejection(huge).what();
    CHECK(contains(message, "not a safetensors file (header length " + std::to_string(length) + " exceeds"));
  }
}

TEST_CASE("headers that are not the format's JSON object are refused", "[model_file]") {
  for (const char* header : {"[]", "\"x\"", "1", "null", " {}", "", "\xef\xbb\xbf{}"}) {
    INFO(header);
    CHECK(contains(rejection(file_with(header)).what(), "does not start with '{'"));
  }
  CHECK(contains(rejection(file_with("{")).what(), "not valid JSON"));
  CHECK(contains(rejection(file_with("{} x")).what(), "not valid JSON"));
  CHECK(contains(rejection(file_with(std::string("{}\0", 3))).what(), "not valid JSON"));
  CHECK(contains(rejection(file_with("{\"a\":}")).what(), "not valid JSON"));
  CHECK(contains(rejection(file_with("{\"\xff\":1}")).what(), "not valid JSON"));
  CHECK(contains(rejection(file_with("{\"t\":[1]}")).what(), "tensor 't' is described by an array"));
  CHECK(contains(rejection(file_with("{\"__metadata__\":[]}")).what(), "\"__metadata__\" is an array"));
  CHECK(contains(rejection(file_with("{\"__metadata__\":{\"k\":1}}")).what(), "metadata value of 'k' is a number"));
  CHECK(contains(rejection(file_with("{\"__metadata__\":{\"k\":{}}}")).what(), "metadata value of 'k' is an object"));
  CHECK(contains(tensor_rejection(R"({"dtype":"U8","shape":[]})", {}), "lacks \"data_offsets\""));
  CHECK(contains(tensor_rejection(R"({"dtype":"U8","shape":[],"data_offsets":[0,1],"x":1})", {0}),
                 "unknown field 'x'"));
  CHECK(contains(tensor_rejection(R"({"dtype":"U8","shape":[[1]],"data_offsets":[0,1]})", {0}),
                 "shape holds an array"));
  // A message quotes names from the file on one line, whatever they hold.
  const std::string message = rejection(file_with("{\"\\n\\u0085\\u001b[31m\":[]}")).what();
  CHECK(contains(message, "tensor '\\x0a\\u0085\\x1b[31m' is described by an array"));
}

TEST_CASE("bad dtypes, shapes and offsets are refused", "[model_file]") {
  CHECK(contains(tensor_rejection(R"({"dtype":"F33","shape":[1],"data_offsets":[0,4]})", {0, 0, 0, 0}),
                 "unsupported dtype 'F33'"));
  CHECK(contains(tensor_rejection(R"({"dtype":"F4","shape":[2],"data_offsets":[0,1]})", {0}), "unsupported dtype"));
  CHECK(contains(tensor_rejection(R"({"dtype":4,"shape":[1],"data_offsets":[0,4]})", {0, 0, 0, 0}),
                 "dtype is a number"));
  // Byte size must match shape and dtype.
  CHECK(contains(tensor_rejection(R"({"dtype":"F32","shape":[3],"data_offsets":[0,8]})", std::vector<uint8_t>(8)),
                 "needs 12 bytes but data_offsets [0, 8] hold 8"));
  // Shapes whose size overflows 64 bits, or that are not dimensions.
  CHECK(contains(tensor_rejection(R"({"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,0]})", {}),
                 "overflows"));
  CHECK(contains(tensor_rejection(R"({"dtype":"F64","shape":[2305843009213693952,2],"data_offsets":[0,0]})", {}),
                 "overflows"));
  CHECK(contains(tensor_rejection(R"({"dtype":"U8","shape":[9223372036854775808],"data_offsets":[0,0]})", {}),
                 "too large"));
  CHECK(contains(tensor_rejection(R"({"dtype":"U8","shape":[-1],"data_offsets":[0,0]})", {}), "negative"));
  CHECK(contains(tensor_rejection(R"({"dtype":"U8","shape":[1.0],"data_offsets":[0,1]})", {0}), "non-integer"));
  CHECK(contains(tensor_rejection(R"({"dtype":"U8","shape":[1e3],"data_offsets":[0,1000]})", std::vector<uint8_t>(1000)),
                 "non-integer"));
  CHECK(contains(tensor_rejection(R"({"dtype":"U8","shape":[99999999999999999999],"data_offsets":[0,1]})", {0}),
                 "non-integer"));
  // A zero-size tensor may have huge dimensions if the product never overflows on the way.
  CHECK(parse(file_with(R"({"t":{"dtype":"F32","shape":[0,1099511627776,1099511627776],"data_offsets":[0,0]}})"))
            .at("t")
            .data.empty());
  // Offsets: two numbers, contiguous from 0, covering the data section.
  CHECK(contains(tensor_rejection(R"({"dtype":"U8","shape":[1],"data_offsets":[0]})", {0}), "must hold 2"));
  CHECK(contains(tensor_rejection(R"({"dtype":"U8","shape":[1],"data_offsets":[0,1,2]})", {0}), "must hold 2"));
  CHECK(contains(tensor_rejection(R"({"dtype":"U8","shape":[1],"data_offsets":[1,2]})", {0, 0}), "should start at 0"));
  CHECK(contains(tensor_rejection(R"({"dtype":"U8","shape":[1],"data_offsets":[0,1]})", {0, 0}), "after the header"));
  CHECK(contains(tensor_rejection(R"({"dtype":"U8","shape":[0],"data_offsets":[1,0]})", {0}), "end before they begin"));
  const std::string two = R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},)";
  CHECK(contains(rejection(file_with(two + R"("b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}})", {1, 2, 3}))
                     .what(),
                 "should start at 2"));  // overlap
  CHECK(contains(rejection(file_with(two + R"("b":{"dtype":"U8","shape":[1],"data_offsets":[3,4]}})", {1, 2, 3, 4}))
                     .what(),
                 "should start at 2"));  // gap
  CHECK(contains(rejection(file_with(two + R"("b":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})", {1, 2}))
                     .what(),
                 "should start at 1 (tensors follow each other without overlap or gap)"));
}

TEST_CASE("duplicate keys are refused", "[model_file]") {
  const std::string tensor = R"({"dtype":"U8","shape":[0],"data_offsets":[0,0]})";
  CHECK(contains(rejection(file_with("{\"t\":" + tensor + ",\"t\":" + tensor + "}")).what(), "tensor 't' appears twice"));
  CHECK(contains(rejection(file_with(R"({"__metadata__":{},"__metadata__":{}})")).what(), "\"__metadata__\" appears twice"));
  CHECK(contains(rejection(file_with(R"({"__metadata__":{"k":"1","k":"2"}})")).what(), "metadata key 'k' appears twice"));
  CHECK(contains(tensor_rejection(R"({"dtype":"U8","dtype":"U8","shape":[0],"data_offsets":[0,0]})", {}),
                 "\"dtype\" twice"));
}

TEST_CASE("files of other kinds are refused with a clear error", "[model_file]") {
  TemporaryDirectory directory;
  const std::vector<uint8_t> png = cosae::encode_png(cosae_test::random_image(4, 4, 3, 8, 1));
  const std::string png_path = directory / "model.safetensors";
  cosae::write_file_atomic(png_path, png.data(), png.size());
  cosae::Error error = expect_error([&] { cosae::read_safetensors(png_path); });
  CHECK(error.kind() == ErrorKind::model);
  CHECK(contains(error.what(), png_path + ": not a safetensors file (header length "));
  CHECK(contains(error.what(), "PNG"));

  const std::string text = "model_id = cosae\nchannels = 64\n";
  const std::string text_path = directory / "notes.txt";
  cosae::write_file_atomic(text_path, reinterpret_cast<const uint8_t*>(text.data()), text.size());
  error = expect_error([&] { cosae::read_safetensors(text_path); });
  CHECK(error.kind() == ErrorKind::model);
  CHECK(contains(error.what(), text_path + ": not a safetensors file"));

  error = expect_error([&] { cosae::read_safetensors(directory / "missing.safetensors"); });
  CHECK(error.kind() == ErrorKind::io);
  CHECK(contains(error.what(), "missing.safetensors"));
}

TEST_CASE("models that cannot be written are refused before anything is written", "[model_file]") {
  const auto refusal = [](const ModelFile& model) {
    const cosae::Error error = expect_error([&] { cosae::serialize_safetensors(model); });
    CHECK(error.kind() == ErrorKind::usage);
    return std::string(error.what());
  };
  ModelFile model;
  model.tensors.push_back({"t", DType::f32, {2}, std::vector<uint8_t>(7)});
  CHECK(contains(refusal(model), "holds 7 bytes of data, not 8"));
  model.tensors[0] = {"t", DType::f32, {-2}, {}};
  CHECK(contains(refusal(model), "not a valid size"));
  CHECK(expect_error([&] { model.tensors[0].element_count(); }).kind() == ErrorKind::usage);
  model.tensors[0] = {"t", DType::u8, {1}, {0}};
  model.tensors.push_back({"t", DType::f32, {}, std::vector<uint8_t>(4)});
  CHECK(contains(refusal(model), "tensor 't' appears twice"));
  model.tensors[1].name = "__metadata__";
  CHECK(contains(refusal(model), "may not be called __metadata__"));
  model.tensors[1].name = "bad \xff name";
  CHECK(contains(refusal(model), "not valid UTF-8"));
  model.tensors.pop_back();
  model.metadata["key"] = "bad \xc3";
  CHECK(contains(refusal(model), "metadata value 'bad \xc3' is not valid UTF-8"));

  TemporaryDirectory directory;
  const std::string path = directory / "model.safetensors";
  CHECK(expect_error([&] { cosae::write_safetensors(path, model); }).kind() == ErrorKind::usage);
  CHECK(directory.entries().empty());
}

TEST_CASE("writing to an unwritable path throws and leaves no file", "[model_file]") {
  TemporaryDirectory directory;
  ModelFile model;
  model.tensors.push_back({"t", DType::u8, {2}, {1, 2}});
  const std::string existing = directory / "existing.safetensors";
  cosae::write_safetensors(existing, model);
  cosae_test::make_dirs(directory / "occupied/child");
  std::vector<std::string> unwritable = {directory / "no-such-dir/model.safetensors",
                                         existing + "/model.safetensors", directory / "occupied"};
  if (::geteuid() != 0) {  // root writes anywhere
    const std::string locked = directory / "locked";
    ::mkdir(locked.c_str(), 0500);
    unwritable.push_back(locked + "/model.safetensors");
  }
  for (const std::string& path : unwritable) {
    INFO(path);
    const cosae::Error error = expect_error([&] { cosae::write_safetensors(path, model); });
    CHECK(error.kind() == ErrorKind::io);
    CHECK(contains(error.what(), path));
  }
  std::vector<std::string> names = directory.entries();  // no temporary left behind
  std::sort(names.begin(), names.end());
  CHECK(names == (::geteuid() != 0 ? std::vector<std::string>{"existing.safetensors", "locked", "occupied"}
                                   : std::vector<std::string>{"existing.safetensors", "occupied"}));
  CHECK(cosae_test::entries(directory / "occupied") == std::vector<std::string>{"child"});
  if (::geteuid() != 0) {
    ::chmod((directory / "locked").c_str(), 0700);
    CHECK(cosae_test::entries(directory / "locked").empty());
  }
  check_same(cosae::read_safetensors(existing), model);  // untouched
}
