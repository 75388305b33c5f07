"""Memory of loading ``samples`` images from a large image folder: it follows samples, not size.

    python benchmarks/bench_dataset_memory.py [--images 50000] [--size 256] [--samples 100,1000]
                                              [--folder DIR]

Writes ``--images`` synthetic JPEGs of ``--size`` x ``--size`` into ``--folder`` (a temporary one
by default; files already there are reused) as 100 class folders, about a minute for 50,000 on
two cores. Then, for each ``--samples`` count, a fresh process loads that many images drawn with
seed 0, with ImageNet preprocessing (resize 256, centre crop 224, mean/std), and reports its peak
resident memory (``ru_maxrss``) beside the float32 result itself, the peak of a process that only
imports the loader, and what converting the whole folder to float32 would take.
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
CROP = 224
LOAD = """
import json, resource, sys, time
from bfpdse.data import load_dataset
import PIL.Image
t0 = time.perf_counter()
n = int(sys.argv[2])
if n:
    spec = {"format": "imagefolder", "path": sys.argv[1], "resize": 256, "crop": 224,
            "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
    d = load_dataset(spec, samples=n, seed=0)
    shape, nbytes = list(d.x.shape), d.x.nbytes
else:
    shape, nbytes = [], 0
print(json.dumps({"shape": shape, "nbytes": nbytes, "seconds": time.perf_counter() - t0,
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


def load(folder: Path, samples: int) -> dict:
    """Load ``samples`` images (0: import only) in a fresh process; its figures."""
    out = subprocess.run([sys.executable, "-c", LOAD, str(folder), str(samples)],
                         capture_output=True, text=True, check=True)  # fmt: skip
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=50_000, help="JPEGs in the folder")
    parser.add_argument("--size", type=int, default=256, help="their width and height [px]")
    parser.add_argument("--samples", default="100,1000", help="comma-separated counts to load")
    parser.add_argument("--folder", type=Path, default=None, help="write (or reuse) it here")
    args = parser.parse_args()
    counts = [int(s) for s in args.samples.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.folder or Path(tmp) / "images"
        t0 = time.perf_counter()
        make_folder(folder, args.images, args.size)
        made = time.perf_counter() - t0
        base = load(folder, 0)
        rows = [(n, load(folder, n)) for n in counts]
    full_gib = args.images * 3 * CROP * CROP * 4 / 2**30
    print(f"folder: {args.images:,} JPEGs of {args.size}x{args.size} in {CLASSES} classes "
          f"({made:.0f} s to write or list); resize 256, crop {CROP}, mean/std")  # fmt: skip
    print(f"{'samples':>8} {'load [s]':>9} {'peak RSS [MiB]':>15} {'result [MiB]':>13}")
    print(f"{'(import)':>8} {base['seconds']:>9.1f} {base['peak_mib']:>15.0f} {0:>13.0f}")
    for n, rec in rows:
        result = rec["nbytes"] / 2**20
        print(f"{n:>8,} {rec['seconds']:>9.1f} {rec['peak_mib']:>15.0f} {result:>13.0f}")
    print(f"the whole folder as float32 at {CROP}x{CROP}: {full_gib:.1f} GiB")


if __name__ == "__main__":
    main()
