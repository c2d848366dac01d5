// Scratch directories and file checks for tests, in plain POSIX. No std::filesystem: the
// pip LibTorch wheels export their own statically linked copy of it, and a test binary that
// links LibTorch and calls it can crash (pytorch/pytorch#133437).
#pragma once

#include <dirent.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "catch_compat.hpp"

namespace cosae_test {

inline std::string join(const std::string& a, const std::string& b) { return a + "/" + b; }

inline bool exists(const std::string& path) {
  struct stat st{};
  return ::lstat(path.c_str(), &st) == 0;
}

inline bool is_symlink(const std::string& path) {
  struct stat st{};
  return ::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode);
}

inline void make_dirs(const std::string& path) {
  for (std::size_t pos = 1; pos != std::string::npos; ++pos) {
    pos = path.find('/', pos);
    ::mkdir(path.substr(0, pos).c_str(), 0755);
    if (pos == std::string::npos) break;
  }
}

// Names in a directory (without "." and "..").
inline std::vector<std::string> entries(const std::string& path) {
  std::vector<std::string> names;
  if (DIR* dir = ::opendir(path.c_str())) {
    while (const dirent* entry = ::readdir(dir)) {
      const std::string name = entry->d_name;
      if (name != "." && name != "..") names.push_back(name);
    }
    ::closedir(dir);
  }
  return names;
}

// A fresh directory under $TMPDIR (or /tmp), removed with its contents at scope exit.
struct TemporaryDirectory {
  std::string path;
  TemporaryDirectory() {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/cosae-test-XXXXXX";
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~TemporaryDirectory() {
    ::nftw(
        path.c_str(),
        [](const char* p, const struct stat*, int type, struct FTW*) {
          if (type == FTW_DP) ::chmod(p, 0700);
          return ::remove(p);
        },
        16, FTW_DEPTH | FTW_PHYS);
  }
  TemporaryDirectory(const TemporaryDirectory&) = delete;
  TemporaryDirectory& operator=(const TemporaryDirectory&) = delete;

  std::string operator/(const std::string& name) const { return join(path, name); }
  std::vector<std::string> entries() const { return cosae_test::entries(path); }
};

}  // namespace cosae_test
