#include "cosae/error.hpp"

namespace cosae {

const char* to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::internal: return "internal error";
    case ErrorKind::usage: return "usage error";
    case ErrorKind::bad_input: return "bad input";
    case ErrorKind::io: return "I/O error";
    case ErrorKind::model: return "model error";
    case ErrorKind::unavailable: return "not available";
    case ErrorKind::device: return "device error";
  }
  return "error";
}

std::string Error::where() const {
  return detail::concat(what(), " (", file_, ":", line_, ")");
}

}  // namespace cosae
