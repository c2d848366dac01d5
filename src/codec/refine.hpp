// Encoder-side refinement of the latent: more encoding effort for a better rate-distortion
// trade-off, with the same decoder. The encoder network maps an image to its latent in one
// pass; on images unlike its training set that latent is not the best the decoder could use
// (the "amortisation gap"). refine_latent takes gradient steps on the latent itself to lower
// the cost the model was trained for,
//   λ_q · 255² · MSE(image, decoder(round(latent))) + bits(round(latent)) / pixels,
// with the coder's rounding (straight through: the forward pass sees exactly the symbols
// that will be coded) and the prior's bits of the rounded symbols. Adam, with a step that
// decays by cosine from 0.02 of a quantisation bin of the lowest level to 0; at higher levels
// the step is the same in the network's own units (more bins, as their gains say). The latent
// with the lowest cost seen is returned, so the cost never rises above the encoder's own.
// A refined latent is coded like any other: streams stay valid for every decoder.
#pragma once

#include <torch/torch.h>

#include "model/cosae_model.hpp"

namespace cosae::codec {

struct RefineResult {
  torch::Tensor latent;     // the scaled latent [1, 2K, h, w] with the lowest cost seen
  double initial_cost = 0;  // the encoder's latent: λ·255²·MSE + estimated bpp
  double cost = 0;          // the returned latent's
  int best_step = 0;        // the step that reached it (0 = the encoder's own latent)
};

// image: [1, 3, H, W] in [0, 1] (unpadded); latent: the encoder's scaled latent for it,
// covering whole cells (h = ceil(H / D), w = ceil(W / D)); level: 0-based quality. Runs the
// untiled decoder with gradients, under float16 autocast when half_precision (as the codec
// does on a GPU). steps = 0 returns the latent unchanged.
RefineResult refine_latent(model::CosAEImpl& net, const torch::Tensor& image, const torch::Tensor& latent,
                           int64_t level, int steps, bool half_precision);

}  // namespace cosae::codec
