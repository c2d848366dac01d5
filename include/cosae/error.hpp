// cosae's one error type. The library throws cosae::Error; only cli/main.cpp catches it and
// maps its kind to an exit code (documented in the README).
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace cosae {

enum class ErrorKind {
  internal = 1,     // a bug: an invariant of cosae itself does not hold
  usage = 2,        // bad command-line arguments or option values
  bad_input = 3,    // an input file is corrupt, truncated, unsupported or empty
  io = 4,           // a file cannot be read or written
  model = 5,        // no model, or a model file that cannot be used
  unavailable = 6,  // the feature is not built into this binary or not implemented yet
  device = 7,       // CUDA asked for but absent, or a CUDA runtime failure
};

// Exit code of the command-line tool for an error of this kind.
constexpr int exit_code(ErrorKind kind) { return static_cast<int>(kind); }
const char* to_string(ErrorKind kind);

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, std::string message, const char* file, int line)
      : std::runtime_error(std::move(message)), kind_(kind), file_(file), line_(line) {}
  ErrorKind kind() const noexcept { return kind_; }
  const char* file() const noexcept { return file_; }
  int line() const noexcept { return line_; }
  // "message (file:line)"
  std::string where() const;

 private:
  ErrorKind kind_;
  const char* file_;
  int line_;
};

namespace detail {
template <typename... Parts>
std::string concat(Parts&&... parts) {
  std::ostringstream out;
  (out << ... << std::forward<Parts>(parts));
  return out.str();
}
}  // namespace detail

}  // namespace cosae

// COSAE_FAIL(kind, parts...): throw cosae::Error with the parts streamed into its message.
#define COSAE_FAIL(kind, ...) \
  throw ::cosae::Error(::cosae::ErrorKind::kind, ::cosae::detail::concat(__VA_ARGS__), __FILE__, __LINE__)

// COSAE_CHECK(cond, kind, parts...): COSAE_FAIL unless cond holds.
#define COSAE_CHECK(cond, kind, ...) \
  do {                               \
    if (!(cond)) COSAE_FAIL(kind, __VA_ARGS__); \
  } while (0)
