// Safetensors model files: reader and writer (format notes in include/cosae/model_file.hpp).
// Torch-free: the fuzzer builds this file alone.
#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "cosae/error.hpp"
#include "cosae/image.hpp"
#include "cosae/model_file.hpp"
#include "io/io_detail.hpp"
#include "model/safetensors_detail.hpp"

namespace cosae {
namespace {

using safetensors_detail::checked_byte_size;
using safetensors_detail::quoted_name;
using safetensors_detail::shape_text;
using safetensors_detail::TensorEntry;

struct DTypeInfo {
  DType dtype;
  const char* name;
  std::size_t size;
};

// Indexed by DType.
constexpr std::array<DTypeInfo, 16> kDTypes = {{
    {DType::boolean, "BOOL", 1}, {DType::u8, "U8", 1},   {DType::i8, "I8", 1},
    {DType::f8_e5m2, "F8_E5M2", 1}, {DType::f8_e4m3, "F8_E4M3", 1}, {DType::f8_e8m0, "F8_E8M0", 1},
    {DType::i16, "I16", 2},      {DType::u16, "U16", 2}, {DType::f16, "F16", 2},
    {DType::bf16, "BF16", 2},    {DType::i32, "I32", 4}, {DType::u32, "U32", 4},
    {DType::f32, "F32", 4},      {DType::f64, "F64", 8}, {DType::i64, "I64", 8},
    {DType::u64, "U64", 8},
}};

constexpr bool dtype_table_is_indexed_by_enum() {
  for (std::size_t i = 0; i < kDTypes.size(); ++i) {
    if (static_cast<std::size_t>(kDTypes[i].dtype) != i) return false;
  }
  return true;
}
static_assert(dtype_table_is_indexed_by_enum(), "kDTypes must list the DType enumerators in order");

constexpr std::size_t kLengthPrefixBytes = 8;
const char* const kMetadataKey = "__metadata__";

const DTypeInfo& info(DType dtype) {
  const auto index = static_cast<std::size_t>(dtype);
  COSAE_CHECK(index < kDTypes.size(), usage, "invalid DType value ", index);
  return kDTypes[index];
}

uint64_t read_u64_le(const uint8_t* bytes) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | bytes[i];
  return value;
}

void append_u64_le(std::vector<uint8_t>& out, uint64_t value) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

// Checks the 8-byte length prefix against the file and returns the header length. A file of
// another kind usually fails here, with a huge "length" made of its first bytes.
uint64_t checked_header_length(const uint8_t* data, std::size_t size) {
  COSAE_CHECK(size > 0, model, "not a safetensors file (the file is empty)");
  COSAE_CHECK(size >= kLengthPrefixBytes, model, "not a safetensors file (", size,
              " bytes, too short for the 8-byte header length)");
  const uint64_t header_length = read_u64_le(data);
  const char* kind = io_detail::has_png_signature(data, size) ? "; it is a PNG image" : "";
  COSAE_CHECK(header_length <= kMaxSafetensorsHeaderBytes, model, "not a safetensors file (header length ",
              header_length, " exceeds the format's limit of ", kMaxSafetensorsHeaderBytes, " bytes", kind, ")");
  const uint64_t available = size - kLengthPrefixBytes;
  COSAE_CHECK(header_length <= available, model, "truncated or not a safetensors file (header length ",
              header_length, " but only ", available, " bytes follow)");
  COSAE_CHECK(header_length > 0 && data[kLengthPrefixBytes] == '{', model,
              "not a safetensors file (the header does not start with '{')");
  return header_length;
}

// Checks that no name appears twice; sorts `tensors` by name on the way.
void check_unique_names(std::vector<TensorEntry>& tensors) {
  std::sort(tensors.begin(), tensors.end(),
            [](const TensorEntry& a, const TensorEntry& b) { return a.name < b.name; });
  const auto duplicate = std::adjacent_find(tensors.begin(), tensors.end(),
                                            [](const TensorEntry& a, const TensorEntry& b) { return a.name == b.name; });
  COSAE_CHECK(duplicate == tensors.end(), model, "invalid safetensors header: tensor ", quoted_name(duplicate->name),
              " appears twice");
}

// The reference implementation's rules: in offset order, each tensor starts where the previous
// one ended, its byte count matches its shape and dtype, and the last one ends at the end of the
// file. Afterwards every [begin, end) lies inside the data section.
void check_layout(const std::vector<TensorEntry>& tensors, uint64_t data_section_bytes) {
  std::vector<const TensorEntry*> by_offset;
  by_offset.reserve(tensors.size());
  for (const TensorEntry& tensor : tensors) by_offset.push_back(&tensor);
  std::sort(by_offset.begin(), by_offset.end(), [](const TensorEntry* a, const TensorEntry* b) {
    return std::make_pair(a->begin, a->end) < std::make_pair(b->begin, b->end);
  });
  uint64_t next_offset = 0;
  for (const TensorEntry* tensor : by_offset) {
    const std::string offsets = "[" + std::to_string(tensor->begin) + ", " + std::to_string(tensor->end) + "]";
    COSAE_CHECK(tensor->end >= tensor->begin, model, "invalid safetensors header: tensor ", quoted_name(tensor->name),
                " has data_offsets ", offsets, " that end before they begin");
    COSAE_CHECK(tensor->begin == next_offset, model, "invalid safetensors header: tensor ", quoted_name(tensor->name),
                " has data_offsets ", offsets, "; it should start at ", next_offset,
                " (tensors follow each other without overlap or gap)");
    const std::optional<uint64_t> bytes = checked_byte_size(tensor->shape, tensor->dtype);
    COSAE_CHECK(bytes.has_value(), model, "invalid safetensors header: tensor ", quoted_name(tensor->name),
                " has a shape whose size overflows: ", shape_text(tensor->shape));
    COSAE_CHECK(*bytes == tensor->end - tensor->begin, model, "invalid safetensors header: tensor ",
                quoted_name(tensor->name), " of shape ", shape_text(tensor->shape), " and dtype ", dtype_name(tensor->dtype),
                " needs ", *bytes, " bytes but data_offsets ", offsets, " hold ", tensor->end - tensor->begin);
    next_offset = tensor->end;
  }
  COSAE_CHECK(next_offset == data_section_bytes, model, "truncated or corrupt safetensors file (the tensors hold ",
              next_offset, " bytes of data but the file has ", data_section_bytes, " after the header)");
}

// The JSON text of a string; throws ErrorKind::usage when it is not valid UTF-8.
std::string json_string(const std::string& text, const char* what) {
  try {
    return nlohmann::json(text).dump();
  } catch (const nlohmann::json::exception&) {
    COSAE_FAIL(usage, "cannot write a safetensors file: ", what, " ", quoted_name(text), " is not valid UTF-8");
  }
}

// Tensor names must be unique and must not be the metadata key.
void check_writable_names(const std::vector<TensorRecord>& tensors) {
  std::vector<const std::string*> names;
  names.reserve(tensors.size());
  for (const TensorRecord& tensor : tensors) {
    COSAE_CHECK(tensor.name != kMetadataKey, usage, "cannot write a safetensors file: a tensor may not be called ",
                kMetadataKey);
    names.push_back(&tensor.name);
  }
  std::sort(names.begin(), names.end(), [](const std::string* a, const std::string* b) { return *a < *b; });
  const auto duplicate =
      std::adjacent_find(names.begin(), names.end(), [](const std::string* a, const std::string* b) { return *a == *b; });
  COSAE_CHECK(duplicate == names.end(), usage, "cannot write a safetensors file: tensor ", quoted_name(**duplicate),
              " appears twice");
}

}  // namespace

const char* dtype_name(DType dtype) { return info(dtype).name; }

std::size_t dtype_size(DType dtype) { return info(dtype).size; }

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const DTypeInfo& entry : kDTypes) {
    if (name == entry.name) return entry.dtype;
  }
  return std::nullopt;
}

int64_t TensorRecord::element_count() const {
  const std::optional<uint64_t> bytes = checked_byte_size(shape, DType::u8);
  COSAE_CHECK(bytes && *bytes <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()), usage, "tensor ",
              quoted_name(name), " has an invalid shape ", shape_text(shape));
  return static_cast<int64_t>(*bytes);
}

const TensorRecord* ModelFile::find(const std::string& name) const {
  for (const TensorRecord& tensor : tensors) {
    if (tensor.name == name) return &tensor;
  }
  return nullptr;
}

const TensorRecord& ModelFile::at(const std::string& name) const {
  const TensorRecord* tensor = find(name);
  COSAE_CHECK(tensor, model, "the model file has no tensor ", quoted_name(name));
  return *tensor;
}

const TensorView* ModelFileView::find(const std::string& name) const {
  const auto it = std::lower_bound(tensors.begin(), tensors.end(), name,
                                   [](const TensorView& tensor, const std::string& key) { return tensor.name < key; });
  return it != tensors.end() && it->name == name ? &*it : nullptr;
}

const TensorView& ModelFileView::at(const std::string& name) const {
  const TensorView* tensor = find(name);
  COSAE_CHECK(tensor, model, "the model file has no tensor ", quoted_name(name));
  return *tensor;
}

ModelFileView view_safetensors(const uint8_t* data, std::size_t size) {
  COSAE_CHECK(data || size == 0, usage, "parse_safetensors: null data");
  const uint64_t header_length = checked_header_length(data, size);
  const uint8_t* header = data + kLengthPrefixBytes;

  // nlohmann's lexer takes a NUL byte for the end of input, so "{}\0junk" would pass; JSON
  // never holds a raw NUL (not even inside strings), so any NUL is an error.
  const void* nul = std::memchr(header, 0, header_length);
  COSAE_CHECK(!nul, model, "invalid safetensors header: not valid JSON at byte ",
              static_cast<const uint8_t*>(nul) - header + 1, ": a NUL byte");

  safetensors_detail::HeaderReader reader;
  nlohmann::json::sax_parse(header, header + header_length, &reader);
  COSAE_CHECK(reader.complete(), model, "invalid safetensors header: the JSON ends early");

  std::vector<TensorEntry>& entries = reader.tensors;
  check_unique_names(entries);
  const uint8_t* data_section = header + header_length;
  check_layout(entries, size - kLengthPrefixBytes - header_length);

  ModelFileView view;
  view.metadata = std::move(reader.metadata);
  view.tensors.reserve(entries.size());
  for (TensorEntry& entry : entries) {
    TensorView& tensor = view.tensors.emplace_back();
    tensor.name = std::move(entry.name);
    tensor.dtype = entry.dtype;
    tensor.shape = std::move(entry.shape);
    tensor.data = data_section + entry.begin;
    tensor.size = static_cast<std::size_t>(entry.end - entry.begin);
  }
  return view;
}

ModelFileView view_of(const ModelFile& model) {
  ModelFileView view;
  view.metadata = model.metadata;
  view.tensors.reserve(model.tensors.size());
  for (const TensorRecord& record : model.tensors)
    view.tensors.push_back({record.name, record.dtype, record.shape, record.data.data(), record.data.size()});
  std::sort(view.tensors.begin(), view.tensors.end(),
            [](const TensorView& a, const TensorView& b) { return a.name < b.name; });
  return view;
}

ModelFile parse_safetensors(const uint8_t* data, std::size_t size) {
  ModelFileView view = view_safetensors(data, size);
  ModelFile model;
  model.metadata = std::move(view.metadata);
  model.tensors.reserve(view.tensors.size());
  for (TensorView& entry : view.tensors) {
    TensorRecord& tensor = model.tensors.emplace_back();
    tensor.name = std::move(entry.name);
    tensor.dtype = entry.dtype;
    tensor.shape = std::move(entry.shape);
    tensor.data.assign(entry.data, entry.data + entry.size);
  }
  return model;
}

ModelFile read_safetensors(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file(path);
  return io_detail::with_source_name(io_detail::display_name(path, false),
                                     [&] { return parse_safetensors(bytes.data(), bytes.size()); });
}

std::vector<uint8_t> serialize_safetensors(const ModelFile& model) {
  // Decreasing alignment, then name, like the reference writer: with the header padded to 8
  // bytes, every tensor's data starts at a multiple of its element size.
  std::vector<const TensorRecord*> order;
  order.reserve(model.tensors.size());
  for (const TensorRecord& tensor : model.tensors) order.push_back(&tensor);
  std::sort(order.begin(), order.end(), [](const TensorRecord* a, const TensorRecord* b) {
    if (a->dtype != b->dtype) return a->dtype > b->dtype;
    return a->name < b->name;
  });

  check_writable_names(model.tensors);

  std::string header = "{";
  if (!model.metadata.empty()) {
    header += "\"__metadata__\":{";
    for (const auto& [key, value] : model.metadata) {
      if (header.back() != '{') header += ',';
      header += json_string(key, "metadata key") + ":" + json_string(value, "metadata value");
    }
    header += '}';
  }
  uint64_t offset = 0;
  for (const TensorRecord* record : order) {
    const TensorRecord& tensor = *record;
    const std::optional<uint64_t> bytes = checked_byte_size(tensor.shape, tensor.dtype);
    COSAE_CHECK(bytes && *bytes == tensor.data.size(), usage, "cannot write a safetensors file: tensor ",
                quoted_name(tensor.name), " of shape ", shape_text(tensor.shape), " and dtype ", dtype_name(tensor.dtype),
                " holds ", tensor.data.size(), " bytes of data, not ", bytes ? std::to_string(*bytes) : "a valid size");
    if (header.size() > 1) header += ',';
    header += json_string(tensor.name, "tensor name") + ":{\"dtype\":\"" + dtype_name(tensor.dtype) + "\",\"shape\":[";
    for (std::size_t d = 0; d < tensor.shape.size(); ++d) header += (d ? "," : "") + std::to_string(tensor.shape[d]);
    header += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + *bytes) + "]}";
    offset += *bytes;
  }
  header += '}';
  header.append((8 - header.size() % 8) % 8, ' ');
  COSAE_CHECK(header.size() <= kMaxSafetensorsHeaderBytes, usage, "cannot write a safetensors file: its header would be ",
              header.size(), " bytes; the format allows ", kMaxSafetensorsHeaderBytes);

  std::vector<uint8_t> out;
  out.reserve(kLengthPrefixBytes + header.size() + offset);
  append_u64_le(out, header.size());
  out.insert(out.end(), header.begin(), header.end());
  for (const TensorRecord* tensor : order) out.insert(out.end(), tensor->data.begin(), tensor->data.end());
  return out;
}

void write_safetensors(const std::string& path, const ModelFile& model) {
  const std::string name = io_detail::display_name(path, true);
  const std::vector<uint8_t> bytes =
      io_detail::with_source_name(name, [&] { return serialize_safetensors(model); });
  write_file_atomic(path, bytes.data(), bytes.size());
}

}  // namespace cosae
