// Model files: the safetensors format (https://github.com/huggingface/safetensors), torch-free.
//
//   [8 bytes: header length N, little-endian u64]
//   [N bytes: UTF-8 JSON object; may be padded with spaces]
//       {"__metadata__": {"key": "value", ...},
//        "<tensor name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
//   [data section: raw little-endian row-major tensor bytes; offsets relative to its start]
//
// The reader follows the format's rules: header at most 100 MB and starting with '{', no
// duplicate keys, byte sizes equal to product(shape) * element size (overflow-checked), offsets
// contiguous and covering the data section exactly. Every number from the file is checked
// before it sizes an allocation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// Tensor bytes are little-endian in the file and are handed over as they are: code that reads
// them as numbers assumes a little-endian host, so other hosts are refused at compile time.
#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__)
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "cosae model files need a little-endian host");
#endif

namespace cosae {

// Element types. The enumerators follow the reference implementation's order (increasing
// alignment); the writer lays data out in decreasing order of it, so that every tensor starts
// at a multiple of its element size. Sub-byte types (F4, F6_*) are not supported.
enum class DType : uint8_t {
  boolean,  // "BOOL", one byte per element
  u8,
  i8,
  f8_e5m2,
  f8_e4m3,
  f8_e8m0,
  i16,
  u16,
  f16,
  bf16,
  i32,
  u32,
  f32,
  f64,
  i64,
  u64,
};

// The format's name of a dtype, e.g. "F32", "BF16", "BOOL".
const char* dtype_name(DType dtype);
// The dtype with that name (case-sensitive, as in the format); nullopt when unknown.
std::optional<DType> dtype_from_name(std::string_view name);
// Bytes per element.
std::size_t dtype_size(DType dtype);

// Largest JSON header accepted (and written), as in the reference implementation.
constexpr uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;

struct TensorRecord {
  std::string name;
  DType dtype = DType::f32;
  std::vector<int64_t> shape;  // [] is a scalar (one element)
  std::vector<uint8_t> data;   // element_count() * dtype_size(dtype) bytes, little-endian, row-major

  // product(shape); throws ErrorKind::usage for a negative dimension or on overflow.
  int64_t element_count() const;
};

struct ModelFile {
  std::map<std::string, std::string> metadata;  // the header's "__metadata__"
  std::vector<TensorRecord> tensors;            // parse_safetensors returns them sorted by name

  // The tensor with this name, or nullptr.
  const TensorRecord* find(const std::string& name) const;
  // The tensor with this name; throws ErrorKind::model naming it when there is none.
  const TensorRecord& at(const std::string& name) const;
};

// A tensor of a file held elsewhere (a memory map, a buffer): where its bytes are, not a copy.
struct TensorView {
  std::string name;
  DType dtype = DType::f32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // `size` bytes, little-endian, row-major
  std::size_t size = 0;
};

// A safetensors file's header and where each tensor's bytes lie: what a reader needs to load
// the tensors it wants without copying the others. Valid while the bytes it points into are.
struct ModelFileView {
  std::map<std::string, std::string> metadata;
  std::vector<TensorView> tensors;  // sorted by name

  const TensorView* find(const std::string& name) const;  // nullptr when absent
  const TensorView& at(const std::string& name) const;    // throws ErrorKind::model when absent
};

// Checks a whole safetensors file held in memory as parse_safetensors does, without copying
// its tensors; the view points into `data`.
ModelFileView view_safetensors(const uint8_t* data, std::size_t size);
// A view of the records of `model` (valid while `model` is, unchanged).
ModelFileView view_of(const ModelFile& model);

// Parses a whole safetensors file held in memory. The tensors' bytes are copied.
// Throws cosae::Error (ErrorKind::model) for anything that is not a valid safetensors file.
ModelFile parse_safetensors(const uint8_t* data, std::size_t size);
// Reads and parses a file ("-" is standard input); errors start with the path.
// ErrorKind::io when the file cannot be read, ErrorKind::model when it is not valid.
ModelFile read_safetensors(const std::string& path);

// Serialises like the reference writer: "__metadata__" first (omitted when empty), tensors in
// decreasing dtype alignment then by name, header padded with spaces to a multiple of 8 bytes.
// Throws ErrorKind::usage for a model that cannot be written: duplicate or reserved
// ("__metadata__") tensor names, a data size that does not match the shape, names or metadata
// that are not valid UTF-8.
std::vector<uint8_t> serialize_safetensors(const ModelFile& model);
// Serialises, then writes atomically (temporary file + rename): a failure leaves no file
// behind and any previous file intact. ErrorKind::io when the path cannot be written.
void write_safetensors(const std::string& path, const ModelFile& model);

}  // namespace cosae
