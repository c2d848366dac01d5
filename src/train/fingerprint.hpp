// A picture's fingerprint, to find the same picture again at another size or after lossy
// re-encoding: the training corpus takes each picture once, and nothing near an evaluation
// image.
//
// The image is averaged over exact areas into a 32x32 thumbnail (the whole image,
// whatever its aspect), its 8x8 lowest 2-D DCT-II coefficients are taken, the DC term left out,
// and each of the other 63 becomes one bit: above their median or not (a perceptual hash,
// "pHash"). The aspect ratio is kept beside it.
//
// Measured with a prototype of this hash on the corpus' photo sources (endless-sky's photos at
// 2x and 1x, each Enlightenment wallpaper at its 13-16 stored sizes): copies of one picture
// differed in at most 4 bits, distinct pictures in 16 or more, but for a few variants of one
// design (recoloured wallpapers, one castle photographed twice: 10-14 bits). Hence the
// threshold of 10.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cosae/image.hpp"

namespace cosae::train {

struct Fingerprint {
  uint64_t bits = 0;    // bit i: DCT coefficient i + 1 (row-major over the 8x8 block) above the median
  double aspect = 1.0;  // width / height
  bool flat = false;    // no contrast to speak of (thumbnail standard deviation under one level),
                        // or smaller than 32x32: its bits mean nothing, so it resembles nothing
};

constexpr int kNearBits = 10;

Fingerprint fingerprint(const Image& image);

// Bits that differ.
int fingerprint_distance(const Fingerprint& a, const Fingerprint& b);

// The same picture: within kNearBits and with aspect ratios within 5% of each other (a copy
// at another size). Neither may be flat.
bool same_picture(const Fingerprint& a, const Fingerprint& b);

// Resembles a reference picture: within kNearBits, whatever the aspect (a crop or a padded
// copy of it counts too). Neither may be flat.
bool resembles(const Fingerprint& candidate, const Fingerprint& reference);

// Standard test images, by content: the fingerprints of the Kodak set, the USC-SIPI
// "misc" and "aerials" volumes, the Waterloo colour and greyscale sets and the
// imagecompression.info 8-bit colour set (reference_fingerprints.cpp says how they were made).
struct ReferencePicture {
  const char* name;  // "kodak/kodim05"
  Fingerprint fingerprint;
};
const std::vector<ReferencePicture>& standard_test_pictures();

// Why `path` names a standard test image ("kodim" in it, say), or "" when its name is clean.
// Matched case-insensitively on the whole path, container entry names included.
std::string standard_test_image_name(const std::string& path);

}  // namespace cosae::train
