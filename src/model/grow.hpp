// Function-preserving growth of a trained CosAE into a larger architecture, so that a longer
// training run can start from a shipped model instead of from scratch (Net2Net's idea):
// - more frequencies K' >= K: the old (a_k, b_k) keep their channels; the new latent channels
//   start at exactly 0 (zero rows of the encoder's last convolution), so their harmonics add
//   nothing until training moves them; the decoder's projection gets fresh columns for them;
// - wider encoder stages: the new channels of a stage start with fresh weights, and every
//   weight from a new channel into an old one is 0, so the old channels compute what they did;
// - more quality levels: the lambdas must hold the old ones, and new ones may go before,
//   between or after them (a level below q1 renumbers the old levels); a new level's gains
//   start from the nearest old level's, spread by sqrt(lambda) as a fresh model's are;
// - more decoder blocks, appended after the old ones, each residual branch's last layer at
//   0 so that the new blocks start as the identity.
// Everything else (D, U, the decoder's width, attention, prior filters) must match. The
// decoder cannot widen this way: its layer norms would see the new channels. The grown model
// reconstructs every image at each old level (at its new number) exactly as before; only the
// rate of the new latent channels (all zero, under an untrained prior) differs.
#pragma once

#include "model/cosae_model.hpp"

namespace cosae::model {

// Throws cosae::Error (usage) naming the first difference growth cannot bridge.
void check_growable(const ModelConfig& from, const ModelConfig& to);

// Copies `from`'s parameters into `to` (freshly constructed with the larger config) as above.
void grow_into(CosAEImpl& from, CosAEImpl& to);

}  // namespace cosae::model
