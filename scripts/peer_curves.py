#!/usr/bin/env python3
"""Rate-distortion curves of the classic codecs users would pick instead of cosae, through
their own command-line tools, as `cosae eval --anchors FILE` reads them.

    scripts/peer_curves.py --data DIR --out peers.json [--codecs jpeg,webp,avif,jxl]

For every image under DIR (PNG) and every setting: encode, decode, measure bits per pixel and
PSNR over all samples (8-bit peak; greyscale images in one channel, as cosae measures them).
Each curve point is the mean bpp and mean PSNR over the images at one setting, as in
`cosae eval`. Settings (the tools Debian 12 ships):
  jpeg  cjpeg -optimize -sample 2x2 -quality Q           (libjpeg-turbo, 4:2:0, optimised Huffman)
  webp  cwebp -m 6 -q Q                                  (libwebp, slowest and best method)
  avif  avifenc -s 6 -y 420 --min Q --max Q              (libavif with libaom, speed 6)
  jxl   cjxl -e 7 -d D                                   (libjxl, default effort)
Needs Python 3 with numpy and Pillow.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image

SETTINGS = {
    "jpeg": [5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95],
    "webp": [1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95],
    "avif": [60, 55, 50, 45, 40, 35, 30, 25, 20, 15, 10, 5],
    "jxl": [12.0, 8.0, 6.0, 4.0, 3.0, 2.0, 1.5, 1.0, 0.7, 0.5, 0.3],
}
NAMES = {
    "jpeg": "JPEG (cjpeg -optimize -sample 2x2)",
    "webp": "WebP (cwebp -m 6)",
    "avif": "AVIF (avifenc -s 6 -y 420)",
    "jxl": "JPEG XL (cjxl -e 7)",
}


def load(path):
    image = Image.open(path)
    if image.mode in ("L", "I;16", "I"):
        return np.asarray(image.convert("L"))
    return np.asarray(image.convert("RGB"))


def run(args):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def code(codec, setting, source, pixels, work):
    """Returns (bytes, decoded array) of `pixels` (the image as cosae reads it)."""
    grey = pixels.ndim == 2
    png = os.path.join(work, "in.png")
    Image.fromarray(pixels).save(png)
    out = os.path.join(work, "out.png")
    if codec == "jpeg":
        pnm = os.path.join(work, "in.pgm" if grey else "in.ppm")
        Image.fromarray(pixels).save(pnm)
        coded = os.path.join(work, "c.jpg")
        run(["cjpeg", "-optimize", "-sample", "2x2", "-quality", str(setting), "-outfile", coded, pnm])
        run(["djpeg", "-outfile", os.path.join(work, "out.pnm"), coded])
        out = os.path.join(work, "out.pnm")
    elif codec == "webp":
        coded = os.path.join(work, "c.webp")
        run(["cwebp", "-quiet", "-m", "6", "-q", str(setting), png, "-o", coded])
        run(["dwebp", "-quiet", coded, "-o", out])
    elif codec == "avif":
        coded = os.path.join(work, "c.avif")
        run(["avifenc", "-j", "1", "-s", "6", "-y", "420", "--min", str(setting), "--max", str(setting), png, coded])
        run(["avifdec", "-j", "1", coded, out])
    elif codec == "jxl":
        coded = os.path.join(work, "c.jxl")
        run(["cjxl", "-e", "7", "-d", str(setting), png, coded])
        run(["djxl", coded, out])
    decoded = Image.open(out)
    decoded = np.asarray(decoded.convert("L" if grey else "RGB"))
    return os.path.getsize(coded), decoded


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 99.0 if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def measure(job):
    codec, setting, path = job
    pixels = load(path)
    with tempfile.TemporaryDirectory() as work:
        size, decoded = code(codec, setting, path, pixels, work)
    h, w = pixels.shape[:2]
    return codec, setting, path, 8.0 * size / (w * h), psnr(pixels, decoded)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--codecs", default="jpeg,webp,avif,jxl")
    parser.add_argument("--jobs", type=int, default=os.cpu_count())
    args = parser.parse_args()
    images = sorted(os.path.join(d, f) for d, _, fs in os.walk(args.data) for f in fs if f.lower().endswith(".png"))
    if not images:
        sys.exit(f"{args.data}: no PNG images")
    codecs = args.codecs.split(",")
    jobs = [(c, s, p) for c in codecs for s in SETTINGS[c] for p in images]
    results = {}
    with ThreadPoolExecutor(args.jobs) as pool:
        for codec, setting, path, bpp, db in pool.map(measure, jobs):
            results.setdefault((codec, setting), []).append((bpp, db))
    curves = {}
    for codec in codecs:
        points = []
        for s in SETTINGS[codec]:
            values = np.array(results[(codec, s)])
            points.append({"setting": s, "bpp": float(values[:, 0].mean()), "psnr": float(values[:, 1].mean())})
        curves[NAMES[codec]] = sorted(points, key=lambda p: p["bpp"])
    with open(args.out, "w") as f:
        json.dump(curves, f, indent=1)
    for name, points in curves.items():
        print(name, " ".join(f"{p['bpp']:.3f}/{p['psnr']:.2f}" for p in points))


if __name__ == "__main__":
    main()
