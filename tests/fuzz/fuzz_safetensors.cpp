// libFuzzer target for the safetensors reader: any input must either parse to a model that the
// writer re-serialises into a file that parses back to the same model, or throw cosae::Error of
// kind model; never crash, leak, hang or trip a sanitizer.
//
// Built alone, without CMake or LibTorch:
//   clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Iinclude -Isrc tests/fuzz/fuzz_safetensors.cpp src/model/safetensors.cpp src/io/file.cpp src/common/error.cpp -o /tmp/fuzz_safetensors
//   mkdir -p /tmp/safetensors_corpus && printf '{"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[],"data_offsets":[8,9]}}\0123456789' > /tmp/safetensors_corpus/seed
//   /tmp/fuzz_safetensors -runs=500000 -max_len=4096 /tmp/safetensors_corpus
// (More seeds: any small .safetensors files, e.g. those the [model_file] tests write.)
// -fno-sanitize-recover=all makes UBSan findings crash, so libFuzzer reports them.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "cosae/error.hpp"
#include "cosae/model_file.hpp"

namespace {

bool same_model(const cosae::ModelFile& a, const cosae::ModelFile& b) {
  if (a.metadata != b.metadata || a.tensors.size() != b.tensors.size()) return false;
  for (std::size_t i = 0; i < a.tensors.size(); ++i) {  // both sorted by name
    const cosae::TensorRecord& x = a.tensors[i];
    const cosae::TensorRecord& y = b.tensors[i];
    if (x.name != y.name || x.dtype != y.dtype || x.shape != y.shape || x.data != y.data) return false;
  }
  return true;
}

void parse_and_check(const uint8_t* data, std::size_t size) {
  cosae::ModelFile model;
  try {
    model = cosae::parse_safetensors(data, size);
  } catch (const cosae::Error& error) {
    if (error.kind() != cosae::ErrorKind::model || std::strchr(error.what(), '\n')) std::abort();
    return;
  }
  // A parsed model is always writable, and the written form parses back to it and is canonical.
  const std::vector<uint8_t> bytes = cosae::serialize_safetensors(model);
  const cosae::ModelFile again = cosae::parse_safetensors(bytes.data(), bytes.size());
  if (!same_model(model, again)) std::abort();
  if (cosae::serialize_safetensors(again) != bytes) std::abort();
  for (const cosae::TensorRecord& tensor : model.tensors) {
    if (tensor.data.size() != static_cast<std::size_t>(tensor.element_count()) * cosae::dtype_size(tensor.dtype)) {
      std::abort();
    }
  }
}

// Mutations rarely keep the 8-byte header length right, so the input is also read as
// "<header JSON> NUL <data>" with the length put in front: that reaches the header checks.
std::vector<uint8_t> with_length_prefix(const uint8_t* data, std::size_t size) {
  const void* nul = std::memchr(data, 0, size);
  const std::size_t header_size = nul ? static_cast<std::size_t>(static_cast<const uint8_t*>(nul) - data) : size;
  std::vector<uint8_t> file(8);
  for (int i = 0; i < 8; ++i) file[i] = static_cast<uint8_t>(uint64_t(header_size) >> (8 * i));
  file.insert(file.end(), data, data + header_size);
  if (nul) file.insert(file.end(), data + header_size + 1, data + size);
  return file;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  parse_and_check(data, size);
  const std::vector<uint8_t> file = with_length_prefix(data, size);
  parse_and_check(file.data(), file.size());
  return 0;
}
