"""Memory of loading ``samples`` images from a large image folder: it follows samples, not size.

    python benchmarks/bench_dataset_memory.py [--images 50000] [--size 256] [--samples 1000]
                                              [--folder DIR]

Writes ``--images`` synthetic JPEGs of ``--size`` x ``--size`` into ``--folder`` (a temporary one
by default; an existing folder of that layout is reused) as 100 class folders, then loads
``--samples`` of them with ImageNet preprocessing (resize 256, centre crop 224, mean/std) in a
fresh process and reports that process's peak resident memory next to what converting the whole
folder to float32 would take.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CLASSES = 100
LOAD = """
import json, resource, sys, time
from bfpdse.data import load_dataset
t0 = time.perf_counter()
spec = {"format": "imagefolder", "path": sys.argv[1], "resize": 256, "crop": 224,
        "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
d = load_dataset(spec, samples=int(sys.argv[2]), seed=0)
print(json.dumps({"shape": list(d.x.shape), "seconds": time.perf_counter() - t0,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def make_folder(folder: Path, images: int, size: int) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    for i in range(images):
        cls = folder / f"class{i % CLASSES:03d}"
        cls.mkdir(parents=True, exist_ok=True)
        path = cls / f"img{i:06d}.jpg"
        if not path.exists():
            Image.fromarray(np.roll(base, i, axis=1)).save(path, quality=85)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=50_000)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--folder", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.folder or Path(tmp) / "images"
        t0 = time.perf_counter()
        make_folder(folder, args.images, args.size)
        made = time.perf_counter() - t0
        out = subprocess.run([sys.executable, "-c", LOAD, str(folder), str(args.samples)],
                             capture_output=True, text=True, check=True)  # fmt: skip
        rec = json.loads(out.stdout)
    full_gib = args.images * 3 * 224 * 224 * 4 / 2**30
    print(f"folder: {args.images} JPEGs of {args.size}x{args.size} ({made:.0f} s to write)")
    print(f"loaded {rec['shape']} in {rec['seconds']:.1f} s; peak RSS {rec['peak_mib']:.0f} MiB")
    print(f"the whole folder as float32 at 224x224 would be {full_gib:.1f} GiB")


if __name__ == "__main__":
    main()
