#!/usr/bin/env python3
"""What a fixed linear transform keeps with the latent's size: the model card's linear ceiling.

Each image is cut into 64x64 blocks (the model's D = 64; edges padded by replication), taken
to an orthonormal colour basis and transformed by an orthonormal 2-D DCT per block. One set of
N coefficient positions (out of 3 x 64 x 64 = 12,288), the N of highest mean energy over all
the images given, is kept in every block; the rest are zeroed and the blocks transformed back.
That is a linear encoder and decoder with N real numbers per block, shared by all images.
Prints the PSNR (8-bit RGB, rounded) of each image and the mean, for N = 512 and N = 1024
(the shipped model has 2K = 1024 latent channels per block).

Needs numpy, scipy and Pillow (Debian: python3-numpy python3-scipy python3-pil).
Usage: models/linear_ceiling.py IMAGE...
"""
import sys

import numpy as np
from PIL import Image
from scipy.fft import dctn, idctn

BLOCK = 64
COLOUR = np.array([[1, 1, 1], [1, 0, -1], [1, -2, 1]], float)
COLOUR /= np.linalg.norm(COLOUR, axis=1, keepdims=True)  # orthonormal rows


def psnr(a, b):
    return 10 * np.log10(255**2 / np.mean((a - b) ** 2))


def blocks_of(path):
    """The image (H x W x 3, float) and its blocks' DCT coefficients (n x 64 x 64 x 3)."""
    x = np.asarray(Image.open(path).convert("RGB"), float)
    h, w, _ = x.shape
    hp, wp = -(-h // BLOCK) * BLOCK, -(-w // BLOCK) * BLOCK
    y = np.pad(x, ((0, hp - h), (0, wp - w), (0, 0)), mode="edge") @ COLOUR.T
    coefficients = np.stack([dctn(y[i:i + BLOCK, j:j + BLOCK], axes=(0, 1), norm="ortho")
                             for i in range(0, hp, BLOCK) for j in range(0, wp, BLOCK)])
    return x, coefficients, hp, wp


def reconstruct(coefficients, hp, wp):
    out = np.zeros((hp, wp, 3))
    k = 0
    for i in range(0, hp, BLOCK):
        for j in range(0, wp, BLOCK):
            out[i:i + BLOCK, j:j + BLOCK] = idctn(coefficients[k], axes=(0, 1), norm="ortho")
            k += 1
    return out @ COLOUR  # COLOUR is orthonormal: its transpose is its inverse


def main(paths):
    if not paths:
        sys.exit(__doc__)
    images = [blocks_of(p) for p in paths]
    energy = np.mean([(c**2).mean(0) for _, c, _, _ in images], axis=0).ravel()
    for keep in (512, 1024):
        mask = (energy >= np.partition(energy, -keep)[-keep]).reshape(BLOCK, BLOCK, 3)
        scores = []
        for x, c, hp, wp in images:
            h, w, _ = x.shape
            y = np.clip(np.round(reconstruct(c * mask, hp, wp)[:h, :w]), 0, 255)
            scores.append(psnr(y, x))
        print(f"N = {keep}:", " ".join(f"{s:.2f}" for s in scores), f"mean {np.mean(scores):.2f} dB", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
