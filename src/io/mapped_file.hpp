// A whole file's bytes for reading, mapped into memory rather than copied where the file
// allows it: a model file of tens of MB is then read only where it is used, from the page
// cache, and costs no private memory. (A file cut short by another process while mapped would
// fault on access: cosae writes its files to a temporary name and renames them.) Torch-free.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace cosae {

class MappedFile {
 public:
  // Maps a regular file read-only; reads standard input ("-"), pipes and other files that
  // cannot be mapped into memory instead. Errors as read_file's (ErrorKind::io, naming the path).
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  const uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
  void* map_ = nullptr;        // the mapping, when there is one
  std::vector<uint8_t> copy_;  // the bytes, when there is none
};

}  // namespace cosae
