// Whole-file reads and atomic writes (POSIX). Torch-free.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "cosae/error.hpp"
#include "cosae/image.hpp"
#include "io/io_detail.hpp"

namespace cosae {
namespace {

std::string errno_text(int error_number) { return std::strerror(error_number); }

// Reads `fd` to its end into `bytes`, filling the capacity reserved beforehand first.
// Returns 0 on success, else the errno of the failed read.
int read_all(int fd, std::vector<uint8_t>& bytes) {
  constexpr std::size_t kChunk = 1 << 16;
  for (;;) {
    const std::size_t old_size = bytes.size();
    const std::size_t chunk = bytes.capacity() > old_size ? bytes.capacity() - old_size : kChunk;
    bytes.resize(old_size + chunk);
    const ssize_t got = ::read(fd, bytes.data() + old_size, chunk);
    if (got < 0) {
      bytes.resize(old_size);
      if (errno == EINTR) continue;
      return errno;
    }
    bytes.resize(old_size + static_cast<std::size_t>(got));
    if (got == 0) return 0;
  }
}

// Writes all of `data` to `fd`. Returns 0 on success, else errno.
int write_all(int fd, const uint8_t* data, std::size_t size) {
  while (size > 0) {
    const ssize_t written = ::write(fd, data, size);
    if (written < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    data += written;
    size -= static_cast<std::size_t>(written);
  }
  return 0;
}

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() { close(); }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }
  // Returns 0, or the errno of a failed close (which can report a deferred write error).
  int close() {
    if (fd_ < 0) return 0;
    const int result = ::close(fd_);
    fd_ = -1;
    return result == 0 ? 0 : errno;
  }

 private:
  int fd_;
};

// Removes the temporary file on every path except a successful rename.
class TemporaryFile {
 public:
  explicit TemporaryFile(std::string path) : path_(std::move(path)) {}
  ~TemporaryFile() {
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  TemporaryFile(const TemporaryFile&) = delete;
  TemporaryFile& operator=(const TemporaryFile&) = delete;
  const std::string& path() const { return path_; }
  void keep() { path_.clear(); }

 private:
  std::string path_;
};

// Splits "dir/name" into "dir/" and "name" ("" and "name" when there is no slash).
std::pair<std::string, std::string> split_directory(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  if (slash == std::string::npos) return {"", path};
  return {path.substr(0, slash + 1), path.substr(slash + 1)};
}

// Creates a new, empty temporary file beside `path` (same directory, so rename is atomic)
// with mode 0666 minus the umask, like the final file would get. Returns its descriptor.
int create_temporary_beside(const std::string& path, std::string& temporary_path) {
  const auto [directory, name] = split_directory(path);
  std::random_device entropy;
  std::mt19937_64 generator((uint64_t(entropy()) << 32) ^ entropy() ^ uint64_t(::getpid()));
  for (int attempt = 0; attempt < 100; ++attempt) {
    char suffix[24];
    std::snprintf(suffix, sizeof(suffix), ".tmp-%012llx",
                  static_cast<unsigned long long>(generator() & 0xffffffffffffULL));
    temporary_path = directory + "." + name + suffix;
    const int fd = ::open(temporary_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0 || errno != EEXIST) return fd;
  }
  errno = EEXIST;
  return -1;
}

// Devices and pipes (/dev/null, a FIFO, /dev/stdout) cannot be replaced by a rename, and must
// not be: they are written in place.
void write_in_place(const std::string& path, const std::string& name, const uint8_t* data, std::size_t size) {
  FileDescriptor file(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  const int open_error = errno;
  COSAE_CHECK(file.get() >= 0, io, name, ": cannot open for writing: ", errno_text(open_error));
  int error = write_all(file.get(), data, size);
  if (error == 0) error = file.close();
  COSAE_CHECK(error == 0, io, name, ": cannot write: ", errno_text(error));
}

}  // namespace

std::vector<uint8_t> read_file(const std::string& path) {
  const std::string name = io_detail::display_name(path, false);
  COSAE_CHECK(!path.empty(), io, "an empty path was given as input file");
  std::vector<uint8_t> bytes;
  if (path == "-") {
    const int error = read_all(STDIN_FILENO, bytes);
    COSAE_CHECK(error == 0, io, name, ": cannot read: ", errno_text(error));
    return bytes;
  }

  FileDescriptor file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  const int open_error = errno;
  COSAE_CHECK(file.get() >= 0, io, name, ": cannot open: ", errno_text(open_error));
  struct stat info {};
  const bool stat_ok = ::fstat(file.get(), &info) == 0;
  const int stat_error = errno;
  COSAE_CHECK(stat_ok, io, name, ": cannot stat: ", errno_text(stat_error));
  COSAE_CHECK(!S_ISDIR(info.st_mode), io, name, ": is a directory, not a file");
  if (S_ISREG(info.st_mode)) bytes.reserve(static_cast<std::size_t>(info.st_size) + 1);
  const int error = read_all(file.get(), bytes);
  COSAE_CHECK(error == 0, io, name, ": cannot read: ", errno_text(error));
  return bytes;
}

void write_file_atomic(const std::string& path, const uint8_t* data, std::size_t size) {
  const std::string name = io_detail::display_name(path, true);
  COSAE_CHECK(!path.empty(), io, "an empty path was given as output file");
  if (path == "-") {
    const int error = write_all(STDOUT_FILENO, data, size);
    COSAE_CHECK(error == 0, io, name, ": cannot write: ", errno_text(error));
    return;
  }
  COSAE_CHECK(path.back() != '/', io, name, ": is a directory, not a file name");

  std::string final_path = path;
  struct stat existing {};
  const bool replacing = ::stat(path.c_str(), &existing) == 0;
  if (replacing) {
    COSAE_CHECK(!S_ISDIR(existing.st_mode), io, name, ": is a directory, not a file");
    if (!S_ISREG(existing.st_mode)) return write_in_place(path, name, data, size);
    // Replace the file a symbolic link points to, not the link.
    struct stat link {};
    if (::lstat(path.c_str(), &link) == 0 && S_ISLNK(link.st_mode)) {
      char* resolved = ::realpath(path.c_str(), nullptr);
      if (resolved) final_path = resolved;
      std::free(resolved);
    }
  }

  std::string temporary_path;
  FileDescriptor file(create_temporary_beside(final_path, temporary_path));
  const int create_error = errno;
  COSAE_CHECK(file.get() >= 0, io, name, ": cannot create a file in its directory: ", errno_text(create_error));
  TemporaryFile temporary(temporary_path);
  if (replacing) ::fchmod(file.get(), existing.st_mode & 07777);  // keep the old file's permissions

  int error = write_all(file.get(), data, size);
  if (error == 0) error = file.close();
  COSAE_CHECK(error == 0, io, name, ": cannot write: ", errno_text(error));
  const bool renamed = ::rename(temporary_path.c_str(), final_path.c_str()) == 0;
  const int rename_error = errno;
  COSAE_CHECK(renamed, io, name, ": cannot replace with the new file: ", errno_text(rename_error));
  temporary.keep();
}

void write_file_atomic(const std::string& path, const std::string& text) {
  write_file_atomic(path, reinterpret_cast<const uint8_t*>(text.data()), text.size());
}

void make_directories(const std::string& path) {
  for (std::size_t end = path.find('/', 1);; end = path.find('/', end + 1)) {
    const std::string prefix = path.substr(0, end);
    if (!prefix.empty() && ::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST)
      COSAE_FAIL(io, prefix, ": cannot create the folder: ", std::strerror(errno));
    if (end == std::string::npos) break;
  }
  struct stat st {};
  COSAE_CHECK(::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode), io, path, ": not a folder");
}

}  // namespace cosae
