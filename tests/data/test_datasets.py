"""Dataset loaders: bundled Fashion-MNIST, IDX, CIFAR-10 batches, npz, and their DataErrors."""

from __future__ import annotations

import pickle
from types import SimpleNamespace

import numpy as np
import pytest

from bfpdse.data import (
    CALIB_SEED,
    CALIB_SIZE,
    load_dataset,
    normalize,
    read_idx,
    write_idx,
)
from bfpdse.errors import DataError


def _pixels(n, shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, *shape), dtype=np.uint8)


@pytest.fixture
def idx_dir(tmp_path):
    d = tmp_path / "idx"
    d.mkdir()
    write_idx(d / "train-images-idx3-ubyte.gz", _pixels(30, (5, 6), 1))
    write_idx(d / "train-labels-idx1-ubyte.gz", np.arange(30) % 10)
    write_idx(d / "t10k-images-idx3-ubyte", _pixels(8, (5, 6), 2))  # not compressed
    write_idx(d / "t10k-labels-idx1-ubyte", np.arange(8) % 3)
    return d


def test_idx_round_trip(tmp_path):
    a = _pixels(3, (4, 5))
    assert np.array_equal(read_idx(write_idx(tmp_path / "a.gz", a)), a)
    # reproducible bytes (gzip without a timestamp)
    first = (tmp_path / "a.gz").read_bytes()
    write_idx(tmp_path / "a.gz", a)
    assert (tmp_path / "a.gz").read_bytes() == first


def test_idx_folder_splits(idx_dir):
    test = load_dataset({"format": "idx", "path": str(idx_dir)})
    assert test.x.shape == (8, 1, 5, 6) and test.x.dtype == np.float32
    assert test.y.dtype == np.int64 and test.y.tolist() == (np.arange(8) % 3).tolist()
    raw = read_idx(idx_dir / "t10k-images-idx3-ubyte")
    assert np.array_equal(test.x[:, 0], raw.astype(np.float32) * np.float32(1 / 255))
    train = load_dataset(str(idx_dir), "train")
    assert len(train) == 30 and train.name == "idx"
    calib = load_dataset(idx_dir, "calib")
    idx = np.sort(
        np.random.default_rng(CALIB_SEED).choice(30, size=min(CALIB_SIZE, 30), replace=False)
    )
    assert np.array_equal(calib.x, train.x[idx]) and np.array_equal(calib.y, train.y[idx])


def test_idx_pair_spec(idx_dir):
    spec = {
        "format": "idx",
        "path": {
            "images": str(idx_dir / "train-images-idx3-ubyte.gz"),
            "labels": str(idx_dir / "train-labels-idx1-ubyte.gz"),
        },
        "name": "mine",
    }
    ds = load_dataset(spec)
    assert (len(ds), ds.name, ds.split) == (30, "mine", "test")
    with pytest.raises(DataError, match="split 'train' needs a folder"):
        load_dataset(spec, "train")


def test_bundled_fashion_mnist():
    test = load_dataset("fashion-mnist")
    assert test.x.shape == (10000, 1, 28, 28)
    assert np.bincount(test.y).tolist() == [1000] * 10
    assert 0.0 == test.x.min() and test.x.max() == 1.0
    calib = load_dataset("fashion-mnist", "calib")
    assert calib.x.shape == (CALIB_SIZE, 1, 28, 28)
    # the calibration images come from the train split: none of them is a test image
    test_rows = {row.tobytes() for row in test.x.reshape(len(test), -1)}
    assert not any(row.tobytes() in test_rows for row in calib.x.reshape(len(calib), -1))
    with pytest.raises(DataError, match="only the splits test and calib"):
        load_dataset("fashion-mnist", "train")


def test_cifar10_folder(tmp_path):
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    rng = np.random.default_rng(0)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (4, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, 4).tolist()
        batches[name] = (data, labels)
        with (d / name).open("wb") as f:
            pickle.dump({b"data": data, b"labels": labels}, f)
    test = load_dataset({"format": "cifar10", "path": str(d)})
    assert test.x.shape == (4, 3, 32, 32)
    data, labels = batches["test_batch"]
    assert np.array_equal(test.x, data.reshape(4, 3, 32, 32) * np.float32(1 / 255))
    assert test.y.tolist() == labels
    train = load_dataset(str(d), "train")  # detected as CIFAR from the folder's files
    assert len(train) == 20
    assert len(load_dataset(d, "calib")) == 20
    (d / "data_batch_3").unlink()
    with pytest.raises(DataError, match="data_batch_3: missing CIFAR-10 batch file"):
        load_dataset(str(d), "train")
    (d / "test_batch").write_bytes(pickle.dumps({b"data": np.zeros((2, 10), np.uint8)}))
    with pytest.raises(DataError, match="test_batch: a CIFAR-10 batch must hold"):
        load_dataset({"format": "cifar10", "path": str(d)})


def test_npz(tmp_path):
    x = _pixels(6, (7, 7, 3))  # NHWC uint8
    path = tmp_path / "set.npz"
    np.savez(path, x=x, y=np.arange(6), x_train=np.random.rand(9, 3, 7, 7).astype(np.float32),
             y_train=np.arange(9))  # fmt: skip
    test = load_dataset(str(path))
    assert test.x.shape == (6, 3, 7, 7)
    assert np.array_equal(test.x, x.transpose(0, 3, 1, 2) * np.float32(1 / 255))
    train = load_dataset({"format": "npz", "path": path}, "train")
    assert train.x.shape == (9, 3, 7, 7) and train.x.dtype == np.float32
    np.savez(tmp_path / "only.npz", x=x, y=np.arange(6))
    with pytest.raises(DataError, match="needs arrays 'x_train' and 'y_train'"):
        load_dataset(tmp_path / "only.npz", "train")


def test_normalize_follows_the_model():
    model = SimpleNamespace(
        input_scale=1 / 255, mean=[0.5, 0.25], std=[0.5, 2.0], input_shape=(2, 2, 2)
    )
    pixels = np.full((1, 2, 2, 2), 255, np.uint8)
    out = normalize(pixels, model)
    assert out.dtype == np.float32
    assert out[0, 0].ravel().tolist() == [1.0] * 4  # (1 - 0.5) / 0.5
    assert out[0, 1].ravel().tolist() == [0.375] * 4  # (1 - 0.25) / 2
    # float images are pixels / 255 already
    assert np.allclose(normalize(pixels / np.float32(255), model), out)
    assert normalize(pixels).max() == 1.0


@pytest.mark.parametrize(
    "make, fragment",
    [
        (lambda d: {"format": "idx", "path": d / "missing"}, "missing: no such folder of IDX"),
        (lambda d: d / "missing", "neither a bundled dataset"),
        (lambda d: {"format": "idx", "path": str(d)}, "found one file of split 'test'"),
        (lambda d: {"format": "tfrecord", "path": str(d)}, "format 'tfrecord' is unknown"),
        (lambda d: {"path": str(d)}, "found one file of split 'test'"),  # format from the path
        (lambda d: {"format": "idx"}, "expected the key 'path'"),
        (lambda d: {"path": str(d), "resize": 0}, "resize=0 must be an integer >= 1"),
        (lambda d: {"path": str(d), "crop": [2]}, r"crop=\[2\] must be an integer N or \[H, W\]"),
        (lambda d: {"path": str(d), "std": [0.2, 0]}, "std=.* must be > 0"),
        (lambda d: {"path": str(d), "classes": "c.txt"}, "only to format imagefolder"),
        (lambda d: "no-such-set", "neither a bundled dataset"),
    ],
)
def test_bad_sources(idx_dir, make, fragment):
    (idx_dir / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match=fragment):
        load_dataset(make(idx_dir))


def test_bad_files(idx_dir):
    write_idx(idx_dir / "t10k-labels-idx1-ubyte", np.arange(5))
    with pytest.raises(DataError, match="8 images but 5 labels"):
        load_dataset(idx_dir)
    write_idx(idx_dir / "t10k-images-idx3-ubyte", np.zeros((8, 30), np.uint8))
    with pytest.raises(
        DataError, match=r"t10k-images-idx3-ubyte: expected IDX images of shape \(n, H, W\)"
    ):
        load_dataset(idx_dir)
    (idx_dir / "t10k-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03" + b"\x00" * 5)
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte: IDX header"):
        load_dataset(idx_dir)
    with pytest.raises(DataError, match="split 'valid' is unknown"):
        load_dataset(idx_dir, "valid")
    with pytest.raises(DataError, match="no such npz file"):
        load_dataset(idx_dir / "none.npz")


def test_image_size_must_fit_the_model(idx_dir):
    model = SimpleNamespace(
        input_scale=1 / 255, mean=[0.0], std=[1.0], input_shape=(1, 28, 28), name="m"
    )
    with pytest.raises(DataError, match="images of 1x5x6 .* model 'm' expects 1x28x28"):
        load_dataset(idx_dir, model=model)


def test_take():
    ds = load_dataset("fashion-mnist", "calib")
    assert np.array_equal(ds.take(5).y, ds.y[:5])
    sub = ds.take(10, seed=1)
    assert len(sub) == 10 and np.array_equal(sub.y, ds.take(10, seed=1).y)
    assert ds.take(None) is ds and ds.take(10**6) is ds


@pytest.mark.parametrize(
    "x, fragment",
    [
        (np.full((4, 1, 3, 3), np.nan, np.float32), "36 pixel value\\(s\\) are NaN or infinite"),
        (np.full((4, 1, 3, 3), 200.0, np.float32), "found 200 … 200; they look like 0 … 255"),
        (np.full((4, 1, 3, 3), -0.5, np.float32), "must lie in \\[0, 1\\]"),
    ],
)
def test_bad_float_pixels_are_refused(tmp_path, x, fragment):
    np.savez(tmp_path / "bad.npz", x=x, y=np.zeros(4, np.int64))
    with pytest.raises(DataError, match=fragment):
        load_dataset(str(tmp_path / "bad.npz"))


def test_samples_beyond_the_dataset_say_its_size(tmp_path):
    np.savez(tmp_path / "s.npz", x=_pixels(5, (3, 3)), y=np.zeros(5, np.int64))
    with pytest.raises(DataError, match="samples=6, but it holds 5 images"):
        load_dataset(str(tmp_path / "s.npz"), samples=6)
    assert len(load_dataset(str(tmp_path / "s.npz"), samples=5)) == 5
