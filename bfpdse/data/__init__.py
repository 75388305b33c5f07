"""Dataset loaders: bundled Fashion-MNIST, MNIST-style IDX pairs, CIFAR-10 batches, npz."""

from bfpdse.data.datasets import (
    BUNDLED,
    CALIB_SEED,
    CALIB_SIZE,
    FORMATS,
    SPLITS,
    Dataset,
    load_dataset,
    load_images,
    normalize,
    write_idx,
)
from bfpdse.data.idx import read_idx

__all__ = [
    "BUNDLED",
    "CALIB_SEED",
    "CALIB_SIZE",
    "FORMATS",
    "SPLITS",
    "Dataset",
    "load_dataset",
    "load_images",
    "normalize",
    "read_idx",
    "write_idx",
]
