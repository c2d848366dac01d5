// The safetensors JSON header, read as a stream of SAX events (nlohmann::json::sax_parse)
// rather than into a DOM: every key is checked for duplicates as it arrives, nesting the format
// does not have is refused at once, and nothing larger than the values themselves is built.
// Private to src/model/safetensors.cpp.
#pragma once

#include <cstdint>
#include <cstdio>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "cosae/error.hpp"
#include "cosae/model_file.hpp"

namespace cosae::safetensors_detail {

// Text taken from a file, made safe for a one-line message: control characters (C0, DEL and
// the UTF-8 encoded C1 range) are escaped, and long text is cut.
inline std::string printable(std::string_view text, std::size_t max_bytes = 80) {
  std::string out;
  for (std::size_t i = 0; i < text.size() && i < max_bytes; ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    const bool c1_control = byte == 0xc2 && i + 1 < text.size() &&
                            static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
                            static_cast<unsigned char>(text[i + 1]) <= 0x9f;
    char escaped[8];
    if (byte < 0x20 || byte == 0x7f) {
      std::snprintf(escaped, sizeof(escaped), "\\x%02x", byte);
      out += escaped;
    } else if (c1_control) {
      std::snprintf(escaped, sizeof(escaped), "\\u%04x", static_cast<unsigned char>(text[++i]));
      out += escaped;
    } else {
      out += static_cast<char>(byte);
    }
  }
  if (text.size() > max_bytes) out += "...";
  return out;
}

inline std::string quoted_name(std::string_view name) { return "'" + printable(name) + "'"; }

inline std::string shape_text(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

// Elements of `shape` times the element size, multiplied in order like the reference
// implementation so that both accept the same files. nullopt for a negative dimension or when
// a product overflows 64 bits.
inline std::optional<uint64_t> checked_byte_size(const std::vector<int64_t>& shape, DType dtype) {
  uint64_t count = 1;
  for (const int64_t dimension : shape) {
    if (dimension < 0) return std::nullopt;
    const auto extent = static_cast<uint64_t>(dimension);
    if (extent != 0 && count > std::numeric_limits<uint64_t>::max() / extent) return std::nullopt;
    count *= extent;
  }
  const uint64_t element_size = dtype_size(dtype);
  if (count > std::numeric_limits<uint64_t>::max() / element_size) return std::nullopt;
  return count * element_size;
}

// One tensor of the header, before its data is read.
struct TensorEntry {
  std::string name;
  DType dtype = DType::f32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;
  uint64_t end = 0;
};

// nlohmann's SAX interface. Throws cosae::Error (ErrorKind::model) at the first event that does
// not fit the format, so the parse stops there.
class HeaderReader {
 public:
  using json = nlohmann::json;
  using number_integer_t = json::number_integer_t;
  using number_unsigned_t = json::number_unsigned_t;
  using number_float_t = json::number_float_t;
  using string_t = json::string_t;
  using binary_t = json::binary_t;

  std::map<std::string, std::string> metadata;
  std::vector<TensorEntry> tensors;

  bool complete() const { return expect_ == Expect::nothing; }

  bool start_object(std::size_t) {
    switch (expect_) {
      case Expect::header: expect_ = Expect::top_key; break;
      case Expect::metadata_object: expect_ = Expect::metadata_key; break;
      case Expect::tensor_object:
        expect_ = Expect::tensor_field;
        has_dtype_ = has_shape_ = has_offsets_ = false;
        break;
      default: unexpected("an object");
    }
    return true;
  }

  bool end_object() {
    if (expect_ == Expect::top_key) {
      expect_ = Expect::nothing;
    } else if (expect_ == Expect::metadata_key) {
      expect_ = Expect::top_key;
    } else if (expect_ == Expect::tensor_field) {
      if (!has_dtype_ || !has_shape_ || !has_offsets_) {
        fail("tensor ", quoted_name(tensors.back().name), " lacks ",
             !has_dtype_ ? "\"dtype\"" : !has_shape_ ? "\"shape\"" : "\"data_offsets\"");
      }
      expect_ = Expect::top_key;
    } else {
      unexpected("the end of an object");
    }
    return true;
  }

  bool key(string_t& name) {
    if (expect_ == Expect::top_key) {
      if (name == "__metadata__") {
        if (has_metadata_) fail("\"__metadata__\" appears twice");
        has_metadata_ = true;
        expect_ = Expect::metadata_object;
      } else {
        tensors.emplace_back();
        tensors.back().name = std::move(name);  // duplicates are found once all names are in
        expect_ = Expect::tensor_object;
      }
    } else if (expect_ == Expect::metadata_key) {
      if (metadata.count(name)) fail("metadata key ", quoted_name(name), " appears twice");
      metadata_key_ = std::move(name);
      expect_ = Expect::metadata_value;
    } else if (expect_ == Expect::tensor_field) {
      bool* seen = name == "dtype" ? &has_dtype_ : name == "shape" ? &has_shape_ : name == "data_offsets" ? &has_offsets_ : nullptr;
      if (!seen) fail("tensor ", quoted_name(tensors.back().name), " has an unknown field ", quoted_name(name));
      if (*seen) fail("tensor ", quoted_name(tensors.back().name), " has \"", name, "\" twice");
      *seen = true;
      expect_ = name == "dtype" ? Expect::dtype : name == "shape" ? Expect::shape : Expect::offsets;
    } else {
      unexpected("a key");
    }
    return true;
  }

  bool string(string_t& value) {
    if (expect_ == Expect::metadata_value) {
      metadata.emplace(std::move(metadata_key_), std::move(value));
      expect_ = Expect::metadata_key;
    } else if (expect_ == Expect::dtype) {
      const std::optional<DType> dtype = dtype_from_name(value);
      if (!dtype) fail("tensor ", quoted_name(tensors.back().name), " has an unsupported dtype ", quoted_name(value));
      tensors.back().dtype = *dtype;
      expect_ = Expect::tensor_field;
    } else {
      unexpected("a string");
    }
    return true;
  }

  bool start_array(std::size_t) {
    if (expect_ == Expect::shape) {
      expect_ = Expect::shape_item;
    } else if (expect_ == Expect::offsets) {
      expect_ = Expect::offset_item;
      offsets_read_ = 0;
    } else {
      unexpected("an array");
    }
    return true;
  }

  bool end_array() {
    if (expect_ == Expect::offset_item && offsets_read_ != 2) {
      fail("tensor ", quoted_name(tensors.back().name), ": data_offsets must hold 2 numbers, not ", offsets_read_);
    }
    if (expect_ != Expect::shape_item && expect_ != Expect::offset_item) unexpected("the end of an array");
    expect_ = Expect::tensor_field;
    return true;
  }

  bool number_unsigned(number_unsigned_t value) {
    if (expect_ != Expect::shape_item && expect_ != Expect::offset_item) unexpected("a number");
    TensorEntry& tensor = tensors.back();
    if (expect_ == Expect::shape_item) {
      if (value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        fail("tensor ", quoted_name(tensor.name), " has a dimension too large: ", value);
      }
      tensor.shape.push_back(static_cast<int64_t>(value));
    } else if (expect_ == Expect::offset_item) {
      if (offsets_read_ == 2) fail("tensor ", quoted_name(tensor.name), ": data_offsets must hold 2 numbers, not more");
      (offsets_read_++ == 0 ? tensor.begin : tensor.end) = value;
    }
    return true;
  }

  bool number_integer(number_integer_t value) {
    if (value >= 0) return number_unsigned(static_cast<number_unsigned_t>(value));
    not_a_count("a negative number");
  }
  bool number_float(number_float_t, const string_t&) { not_a_count("a non-integer number"); }
  bool null() { unexpected("null"); }
  bool boolean(bool) { unexpected("a boolean"); }
  bool binary(binary_t&) { unexpected("binary data"); }

  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& error) {
    fail("not valid JSON at byte ", position, ": ", json_error_text(error.what()));
  }

 private:
  enum class Expect {
    header, top_key, metadata_object, metadata_key, metadata_value, tensor_object, tensor_field,
    dtype, shape, shape_item, offsets, offset_item, nothing,
  };

  template <typename... Parts>
  [[noreturn]] static void fail(Parts&&... parts) {
    COSAE_FAIL(model, "invalid safetensors header: ", std::forward<Parts>(parts)...);
  }

  // A number where none may stand, or one that cannot be a size or offset.
  [[noreturn]] void not_a_count(const char* what) {
    if (expect_ == Expect::shape_item || expect_ == Expect::offset_item) {
      fail("tensor ", quoted_name(tensors.back().name), ": ", expect_ == Expect::shape_item ? "shape" : "data_offsets",
           " holds ", what, "; only non-negative integers are allowed");
    }
    unexpected(what);
  }

  // Names what was wanted where `found` came.
  [[noreturn]] void unexpected(const char* found) {
    const std::string tensor = tensors.empty() ? std::string() : "tensor " + quoted_name(tensors.back().name);
    switch (expect_) {
      case Expect::header: fail("the header is ", found, ", not a JSON object");
      case Expect::metadata_object: fail("\"__metadata__\" is ", found, ", not an object");
      case Expect::metadata_value:
        fail("metadata value of ", quoted_name(metadata_key_), " is ", found, ", not a string");
      case Expect::tensor_object: fail(tensor, " is described by ", found, ", not an object");
      case Expect::dtype: fail(tensor, ": dtype is ", found, ", not a string");
      case Expect::shape: fail(tensor, ": shape is ", found, ", not an array");
      case Expect::shape_item: fail(tensor, ": shape holds ", found, ", not a dimension");
      case Expect::offsets: fail(tensor, ": data_offsets is ", found, ", not an array");
      case Expect::offset_item: fail(tensor, ": data_offsets holds ", found, ", not an offset");
      default: fail("unexpected ", found);
    }
  }

  // nlohmann's message without its prefix and without the input it echoes (which may hold
  // anything): "syntax error while parsing value - invalid literal; expected end of input".
  static std::string json_error_text(const std::string& what) {
    std::string text = what;
    const std::size_t column = text.find("column ");
    const std::size_t colon = column == std::string::npos ? std::string::npos : text.find(": ", column);
    if (colon != std::string::npos) text.erase(0, colon + 2);
    const std::size_t echo = text.find("; last read: ");
    if (echo != std::string::npos) {
      const std::size_t expected = text.rfind("; expected ");
      text = text.substr(0, echo) + (expected != std::string::npos && expected > echo ? text.substr(expected) : "");
    }
    return printable(text, 160);
  }

  Expect expect_ = Expect::header;
  bool has_metadata_ = false;
  bool has_dtype_ = false, has_shape_ = false, has_offsets_ = false;
  int offsets_read_ = 0;
  std::string metadata_key_;
};

}  // namespace cosae::safetensors_detail
