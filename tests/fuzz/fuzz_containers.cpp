// libFuzzer target for the readers of the containers `cosae prepare` takes images out of
// (Eet files, Qt resource bundles: train/containers.hpp): arbitrary bytes, with the magic of
// either format put in front half of the time so that inputs reach past it. Every input must
// list its entries, each of which reads back in full, or throw cosae::Error (bad_input); never
// crash, hang, allocate without bound or trip a sanitizer.
//   clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Iinclude -Isrc tests/fuzz/fuzz_containers.cpp src/train/containers.cpp src/common/error.cpp -lz -o /tmp/fuzz_containers && /tmp/fuzz_containers -runs=1000000 -rss_limit_mb=2048 /tmp/containers_corpus
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "cosae/error.hpp"
#include "train/containers.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<uint8_t> bytes(data, data + size);
  if (size > 0 && data[0] % 4 == 1) {
    static const uint8_t eet[4] = {0x1e, 0xe7, 0x0f, 0x42};
    bytes.insert(bytes.begin(), eet, eet + 4);
  } else if (size > 0 && data[0] % 4 == 2) {
    static const uint8_t qres[4] = {'q', 'r', 'e', 's'};
    bytes.insert(bytes.begin(), qres, qres + 4);
  }
  try {
    for (const auto& image : cosae::train::list_embedded_images(bytes)) {
      const std::vector<uint8_t> file = cosae::train::embedded_image_bytes(bytes, image);
      if (!image.zlib && file.size() != image.length) std::abort();
      if (!cosae::train::is_image_file(file.data(), file.size())) std::abort();
    }
  } catch (const cosae::Error& error) {
    if (error.kind() != cosae::ErrorKind::bad_input) std::abort();
  }
  return 0;
}
