#!/usr/bin/env python3
"""Unpack shards of a corpus prepared with `cosae prepare --format webp` into PNG files, on a
machine whose cosae reads only PNG (a CUDA build without OpenCV), and check every image's
pixels against the manifest's SHA-256 digests: the PNGs hold exactly the prepared pixels.

    models/stage_corpus.py MANIFEST DEST SHARD_DIR...

Each SHARD_DIR (e.g. data/corpus-v2/train/shard-0003, or data/corpus-v2/heldout) keeps its
path below the corpus folder: DEST/train/shard-0003/x.png. Lossless WebP is about a quarter
smaller than PNG, so more of the corpus travels with each command; decoding it here costs
seconds. Needs Python with OpenCV (cv2) and numpy; runs on every core.
"""
import hashlib
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import cv2
import numpy as np


def convert(job):
    source, target, digest = job
    image = cv2.imread(source, cv2.IMREAD_COLOR)  # grey comes back replicated, as the loader sees it
    if image is None:
        return f"{source}: cannot be decoded"
    rgb = np.ascontiguousarray(image[:, :, ::-1])
    if digest and hashlib.sha256(rgb.tobytes()).hexdigest() != digest:
        return f"{source}: pixels differ from the manifest"
    os.makedirs(os.path.dirname(target), exist_ok=True)
    temporary = target + ".tmp.png"
    if not cv2.imwrite(temporary, image, [cv2.IMWRITE_PNG_COMPRESSION, 1]):
        return f"{target}: cannot be written"
    os.replace(temporary, target)
    return None


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    manifest_path, dest, shard_dirs = sys.argv[1], sys.argv[2], sys.argv[3:]
    with open(manifest_path) as f:
        manifest = json.load(f)
    digests = {entry["file"]: entry.get("pixels_sha256") for entry in manifest["images"]}
    root = os.path.dirname(os.path.abspath(manifest_path))
    jobs = []
    for shard in shard_dirs:
        shard = os.path.abspath(shard)
        # The shard's path below the corpus folder: where the manifest was written, or (when the
        # shard travelled elsewhere) its last two parts (train/shard-NNNN) or one (heldout).
        if shard.startswith(root + os.sep):
            relative = os.path.relpath(shard, root)
        else:
            parts = shard.split(os.sep)
            relative = os.path.join(*parts[-2:]) if parts[-2] == "train" else parts[-1]
        for name in sorted(os.listdir(shard)):
            file = os.path.join(relative, name)
            if file not in digests:
                sys.exit(f"{os.path.join(shard, name)}: not in {manifest_path}")
            jobs.append((os.path.join(shard, name), os.path.join(dest, os.path.splitext(file)[0] + ".png"),
                         digests[file]))
    start = time.time()
    with ProcessPoolExecutor(os.cpu_count()) as pool:
        failures = [message for message in pool.map(convert, jobs, chunksize=4) if message]
    for message in failures:
        print(message, file=sys.stderr)
    print(f"staged {len(jobs) - len(failures)} of {len(jobs)} images in {time.time() - start:.1f} s")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
