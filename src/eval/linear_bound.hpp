// The linear bound: the PSNR a fixed linear transform reaches when it keeps as many real
// numbers per block as a model's latent holds. Each image is cut into block x block squares
// (edges padded by replication), taken to an orthonormal colour basis and through an
// orthonormal 2-D DCT-II per square. One set of `count` coefficient positions, out of
// 3 x block x block, is kept in every square of every image: the positions of highest mean
// energy over the images added (each image weighs the same). The rest are zeroed and the
// squares transformed back. This is a linear encoder and decoder shared by all images, with no
// quantisation: if a trained model's unquantised reconstruction falls far below it on some
// images and not on others, the model has not learnt those images' kind (see `cosae eval
// --linear-bound` and the model card).
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "cosae/image.hpp"

namespace cosae::eval {

class LinearBound {
 public:
  // Throws cosae::Error (usage) unless 1 <= block <= 1024.
  explicit LinearBound(int block);

  int block() const { return block_; }
  int coefficients() const { return 3 * block_ * block_; }  // positions a square has
  int images() const { return images_; }

  // Adds an image's coefficient energy (8-bit RGB, as eval's metrics see it).
  void add(const Image& rgb8);

  // The image through the transform, keeping the `count` positions of highest mean energy
  // over the images added so far (ties: the lower position), rounded to 8-bit RGB. Throws
  // cosae::Error (usage) unless 1 <= count <= coefficients() and an image was added.
  Image reconstruct(const Image& rgb8, int count) const;

 private:
  torch::Tensor squares(const Image& rgb8) const;  // [rows, cols, 3, block, block] coefficients

  int block_;
  torch::Tensor dct_;     // [block, block] orthonormal DCT-II
  torch::Tensor colour_;  // [3, 3] orthonormal
  torch::Tensor energy_;  // [3, block, block] sum over images of each image's mean square
  int images_ = 0;
};

}  // namespace cosae::eval
