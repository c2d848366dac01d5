#include "io/mapped_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cosae/image.hpp"  // read_file

namespace cosae {

MappedFile::MappedFile(const std::string& path) {
  if (path != "-" && !path.empty()) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat info {};
    if (fd >= 0 && ::fstat(fd, &info) == 0 && S_ISREG(info.st_mode) && info.st_size > 0) {
      const auto size = static_cast<std::size_t>(info.st_size);
      void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
      if (map != MAP_FAILED) {
        map_ = map;
        data_ = static_cast<const uint8_t*>(map);
        size_ = size;
      }
    }
    if (fd >= 0) ::close(fd);
    if (map_) return;
  }
  // Whatever could not be mapped is read, with read_file's checks and messages.
  copy_ = read_file(path);
  data_ = copy_.data();
  size_ = copy_.size();
}

MappedFile::~MappedFile() {
  if (map_) ::munmap(map_, size_);
}

}  // namespace cosae
