"""Folders of class folders of real PNG/JPEG files, lazy sampling, preprocessing, safe pickles."""

from __future__ import annotations

import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
from image_folders import conv_model, fashion, make_folder
from PIL import Image

from bfpdse.data import datasets as ds
from bfpdse.data import imagefolder as imf
from bfpdse.data import load_dataset
from bfpdse.errors import DataError
from bfpdse.nn import load_model

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


@pytest.fixture
def folder(tmp_path):
    return make_folder(tmp_path / "pics")


def _chw(img: Image.Image) -> np.ndarray:
    """Model inputs of one image without a model: pixels / 255 (as ``normalize`` computes it)."""
    a = np.asarray(img, dtype=np.float32) * np.float32(1 / 255)
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)


def test_labels_follow_sorted_class_names(folder):
    d = load_dataset(str(folder))
    assert d.x.shape == (12, 3, 32, 32) and d.x.dtype == np.float32
    assert d.y.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert d.name == "pics"
    assert np.array_equal(d.x[0], _chw(Image.open(folder / "boot" / "img00.png")))
    assert np.array_equal(d.x[5], _chw(Image.open(folder / "coat" / "img01.JPG").convert("RGB")))


def test_class_index_file_orders_labels(folder, tmp_path):
    order = tmp_path / "classes.txt"
    order.write_text("shirt\n\nboot\ncoat\n")
    d = load_dataset({"format": "imagefolder", "path": str(folder), "classes": str(order)})
    assert d.y.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert np.array_equal(d.x[0], load_dataset(str(folder)).x[8])  # shirt's first image
    order.write_text("coat\nboot\n")  # a subset: shirt is left out
    sub = load_dataset({"path": str(folder), "classes": str(order)})
    assert len(sub) == 8 and np.array_equal(sub.x[0], load_dataset(str(folder)).x[4])
    order.write_text("shirt\nsocks\n")
    with pytest.raises(DataError, match=r"classes.txt: classes \['socks'\] have no folder"):
        load_dataset({"path": str(folder), "classes": str(order)})
    order.write_text("shirt\nboot\nshirt\n")
    with pytest.raises(DataError, match=r"classes \['shirt'\] are listed more than once"):
        load_dataset({"path": str(folder), "classes": str(order)})
    with pytest.raises(DataError, match="missing.txt: cannot read the class-index file"):
        load_dataset({"path": str(folder), "classes": str(tmp_path / "missing.txt")})


def test_resize_and_crop_match_pillow(folder):
    spec = {"path": str(folder), "resize": 20, "crop": [16, 12]}
    d = load_dataset(spec, samples=3, seed=None)
    img = Image.open(folder / "boot" / "img01.JPG").convert("RGB").resize((20, 20), Image.BILINEAR)
    top, left = 2, 4  # (20 - 16) / 2, (20 - 12) / 2
    assert d.x.shape == (3, 3, 16, 12)
    assert np.array_equal(d.x[1], _chw(img.crop((left, top, left + 12, top + 16))))


def test_resize_takes_the_shorter_side_as_torchvision(tmp_path):
    root = tmp_path / "wide"
    (root / "a").mkdir(parents=True)
    pic = np.random.default_rng(0).integers(0, 256, (30, 45, 3), dtype=np.uint8)  # H 30, W 45
    Image.fromarray(pic).save(root / "a" / "x.png")
    d = load_dataset({"path": str(root), "resize": 20, "crop": 17})
    # torchvision Resize(20): short side 30 -> 20, long side int(20 * 45 / 30) = 30; then a
    # centre crop of 17 x 17 at top round((20 - 17) / 2) = 2, left round((30 - 17) / 2) = 6
    want = Image.fromarray(pic).resize((30, 20), Image.BILINEAR).crop((6, 2, 23, 19))
    assert d.x.shape == (1, 3, 17, 17) and np.array_equal(d.x[0], _chw(want))
    assert load_dataset({"path": str(root), "resize": 20}).x.shape == (1, 3, 20, 30)


def test_grey_images_for_a_one_channel_model(folder, tmp_path):
    model = load_model(conv_model(tmp_path / "grey.onnx", (1, 28, 28)))
    d = load_dataset({"path": str(folder), "resize": 28}, model=model)
    assert d.x.shape == (12, 1, 28, 28)
    want = Image.open(folder / "boot" / "img00.png").convert("L").resize((28, 28), Image.BILINEAR)
    assert np.array_equal(d.x[0], _chw(want))


def test_mean_std_normalise_and_reach_the_model(folder, tmp_path):
    model = load_model(conv_model(tmp_path / "m.onnx"))
    spec = {"path": str(folder), "mean": MEAN, "std": STD}
    d = load_dataset(spec, model=model)
    plain = load_dataset(str(folder), model=model)
    m = np.array(MEAN, np.float32)[None, :, None, None]
    s = np.array(STD, np.float32)[None, :, None, None]
    assert np.array_equal(d.x, (plain.x - m) / s)
    assert np.array_equal(load_dataset(spec).x, d.x)  # the same without a model
    normed = ds.with_dataset_normalization(model, spec)
    lo, hi = normed.input_range()
    assert np.allclose(lo, -np.array(MEAN) / np.array(STD))
    assert np.allclose(hi, (1 - np.array(MEAN)) / np.array(STD))
    assert next(iter(normed.quantize(8, 8).layers.values())).in_signed  # signed first layer
    assert not next(iter(model.quantize(8, 8).layers.values())).in_signed
    one = load_dataset({"path": str(folder), "mean": 0.5, "std": 0.25})
    assert np.array_equal(one.x, (load_dataset(str(folder)).x - np.float32(0.5)) / np.float32(0.25))


def test_mean_std_are_in_pixels_over_255_whatever_the_model_scale(folder, tmp_path):
    # a model that takes raw pixels 0..255 (bfpdse.input_scale = 1) and its own mean
    meta = {"bfpdse.input_scale": "1.0", "bfpdse.mean": "100", "bfpdse.std": "50"}
    model = load_model(conv_model(tmp_path / "raw.onnx", meta=meta))
    assert load_dataset(str(folder), model=model).x.max() > 2  # (pixels - 100) / 50
    d = load_dataset({"path": str(folder), "mean": MEAN, "std": STD}, model=model)
    want = load_dataset({"path": str(folder), "mean": MEAN, "std": STD}).x
    assert np.allclose(d.x, want, atol=1e-5)
    normed = ds.with_dataset_normalization(model, {"path": "x", "mean": MEAN, "std": STD})
    lo, _ = normed.input_range()
    assert np.allclose(lo, -np.array(MEAN) / np.array(STD))


def test_mean_std_must_fit_the_channels(folder, tmp_path):
    model = load_model(conv_model(tmp_path / "m.onnx"))
    with pytest.raises(DataError, match=r"mean=\[0.5, 0.5\] has 2 values for 3-channel images"):
        load_dataset({"path": str(folder), "mean": [0.5, 0.5]}, model=model)
    with pytest.raises(DataError, match=r"std=\[1.0, 2.0\] has 2 values for 3-channel"):
        load_dataset({"path": str(folder), "std": [1, 2]})


def test_only_drawn_images_are_decoded(folder, monkeypatch):
    drawn = np.sort(np.random.default_rng(0).choice(12, size=3, replace=False)).tolist()
    undrawn = next(i for i in range(12) if i not in drawn)
    files = sorted(folder.glob("*/*"))
    files[undrawn].write_bytes(b"not an image")  # never decoded below
    calls = []
    real = imf.decode
    monkeypatch.setattr(imf, "decode", lambda p, *a: calls.append(p) or real(p, *a))
    d = load_dataset(str(folder), samples=3, seed=0)
    assert calls == [files[i] for i in drawn] and d.y.tolist() == [i // 4 for i in drawn]
    with pytest.raises(DataError, match=f"{files[undrawn].name}: cannot decode as an image"):
        load_dataset(str(folder))


def test_drawn_images_equal_the_whole_split_drawn(folder, monkeypatch):
    monkeypatch.setattr(ds, "DECODE_BATCH", 2)  # several batches
    whole = load_dataset(str(folder))
    for seed in (None, 0, 3):
        sub = load_dataset(str(folder), samples=5, seed=seed)
        want = whole.take(5, seed=seed)
        assert np.array_equal(sub.x, want.x) and np.array_equal(sub.y, want.y)


def test_images_of_another_size_in_a_later_batch(folder, monkeypatch):
    monkeypatch.setattr(ds, "DECODE_BATCH", 2)
    Image.new("RGB", (40, 32)).save(folder / "shirt" / "img99.png")  # the last file
    with pytest.raises(DataError, match=r"img99.png: image of 32x40 but .*img00.png is 32x32"):
        load_dataset(str(folder))
    assert load_dataset({"path": str(folder), "resize": 32, "crop": 32}).x.shape[1:] == (3, 32, 32)


def test_splits_from_train_and_val(tmp_path):
    root = tmp_path / "imagenet"
    make_folder(root / "train", per_class=3)
    make_folder(root / "val", per_class=2, offset=9)
    test = load_dataset(str(root))
    assert len(test) == 6 and np.array_equal(test.x, load_dataset(str(root / "val")).x)
    assert len(load_dataset(str(root), "train")) == 9
    assert len(load_dataset(str(root), "calib")) == 9  # min(CALIB_SIZE, 9) train images
    with pytest.raises(DataError, match="without a train/ subfolder has only the test split"):
        load_dataset(str(make_folder(tmp_path / "flat")), "calib")
    (root / "val").rename(root / "held-out")
    with pytest.raises(DataError, match="has train/ but no val/ or test/"):
        load_dataset({"format": "imagefolder", "path": str(root)})


def test_calib_is_drawn_from_train_as_for_other_formats(tmp_path, monkeypatch):
    monkeypatch.setattr(ds, "CALIB_SIZE", 4)
    root = tmp_path / "set"
    make_folder(root / "train", per_class=3)
    make_folder(root / "test", per_class=1)
    train, calib = load_dataset(str(root), "train"), load_dataset(str(root), "calib")
    idx = np.sort(np.random.default_rng(ds.CALIB_SEED).choice(9, size=4, replace=False))
    assert np.array_equal(calib.x, train.x[idx]) and np.array_equal(calib.y, train.y[idx])


def test_a_class_named_test_is_a_class(tmp_path):
    root = tmp_path / "flat"
    for name in ("test", "train"):  # class folders of images, not split trees
        (root / name).mkdir(parents=True)
        Image.fromarray(fashion(1)[0]).save(root / name / "a.png")
    d = load_dataset(str(root))
    assert d.y.tolist() == [0, 1] and d.x.shape == (2, 3, 28, 28)


def test_bad_folders(tmp_path, folder):
    (tmp_path / "empty" / "cls").mkdir(parents=True)
    with pytest.raises(DataError, match=r"empty: no images; expected .*\.png, \.jpg, \.jpeg"):
        load_dataset({"format": "imagefolder", "path": str(tmp_path / "empty")})
    (tmp_path / "empty" / "cls" / "notes.txt").write_text("no pictures")
    with pytest.raises(DataError, match="no images"):
        load_dataset({"format": "imagefolder", "path": str(tmp_path / "empty")})
    with pytest.raises(DataError, match="nowhere: no such image folder"):
        load_dataset({"format": "imagefolder", "path": str(tmp_path / "nowhere")})
    Image.new("RGB", (40, 32)).save(folder / "boot" / "img99.png")
    with pytest.raises(DataError, match="img99.png: image of 32x40.*resize and crop"):
        load_dataset(str(folder))


def test_a_corrupt_drawn_image_names_the_file(folder):
    path = folder / "coat" / "img01.JPG"
    path.write_bytes(path.read_bytes()[:100])  # truncated JPEG
    with pytest.raises(DataError, match=r"coat/img01.JPG: cannot decode as an image"):
        load_dataset(str(folder))


def test_crop_larger_than_the_image(folder):
    with pytest.raises(DataError, match=r"img00.png: crop=\[40, 40\] is larger than the image, "
                       r"32x32; give a smaller crop or a larger resize"):  # fmt: skip
        load_dataset({"path": str(folder), "crop": 40})


def test_shape_mismatch_says_how_to_fix(folder, tmp_path):
    model = load_model(conv_model(tmp_path / "a.onnx", (3, 24, 24)))
    with pytest.raises(DataError) as err:
        load_dataset(str(folder), model=model)
    msg = str(err.value)
    for part in ("has images of 3x32x32", "expects 3x24x24", "--dataset", "imagefolder",
                 "resize: 27, crop: 24", "--set dataset.resize"):  # fmt: skip
        assert part in msg, msg
    assert load_dataset({"path": str(folder), "resize": 27, "crop": 24}, model=model).x.shape[
        1:
    ] == (3, 24, 24)
    wide = load_model(conv_model(tmp_path / "w.onnx", (3, 20, 30)))
    with pytest.raises(DataError, match=r"resize: 22, crop: \[20, 30\]"):
        load_dataset(str(folder), model=wide)


def test_labels_must_index_the_model_outputs(folder, tmp_path):
    model = load_model(conv_model(tmp_path / "two.onnx", outputs=2))
    with pytest.raises(DataError, match="labels up to 2 but model 'two' has 2 outputs.*classes"):
        load_dataset(str(folder), model=model, samples=2)
    order = tmp_path / "classes.txt"
    order.write_text("coat\nshirt\n")
    d = load_dataset({"path": str(folder), "classes": str(order)}, model=model)
    assert d.y.tolist() == [0] * 4 + [1] * 4


def test_channel_mismatch_says_so(tmp_path):
    model = load_model(conv_model(tmp_path / "a.onnx", (3, 28, 28), outputs=10))
    with pytest.raises(DataError, match="has images of 1x28x28.*convert it to 3 channels"):
        load_dataset("fashion-mnist", model=model)


def test_preprocessing_for_the_other_formats(tmp_path):
    pics = np.random.default_rng(1).integers(0, 256, (5, 3, 12, 10), dtype=np.uint8)
    np.savez(tmp_path / "p.npz", x=pics, y=np.arange(5))
    spec = {"path": str(tmp_path / "p.npz"), "resize": 8, "crop": 6, "mean": 0.5, "std": 0.5}
    d = load_dataset(spec, samples=2, seed=1)
    assert d.x.shape == (2, 3, 6, 6)
    i = int(np.sort(np.random.default_rng(1).choice(5, size=2, replace=False))[0])
    img = Image.fromarray(pics[i].transpose(1, 2, 0)).resize((8, 9), Image.BILINEAR)
    want = (_chw(img.crop((1, 2, 7, 8))) - np.float32(0.5)) / np.float32(0.5)  # top round(1.5)
    assert np.array_equal(d.x[0], want)
    grey = load_dataset({"path": "fashion-mnist", "resize": 32, "crop": 30}, samples=4, seed=0)
    assert grey.x.shape == (4, 1, 30, 30)
    np.savez(tmp_path / "f.npz", x=pics / 255.0, y=np.arange(5))
    with pytest.raises(DataError, match="f.npz'?: resize and crop need uint8 pixels.*float64"):
        load_dataset({"path": str(tmp_path / "f.npz"), "crop": 6})
    assert load_dataset({"path": str(tmp_path / "f.npz"), "mean": 0.5}).x.min() < 0


def test_format_is_guessed_from_the_folder(folder, tmp_path):
    assert ds._guess_format(folder) == "imagefolder"
    nested = tmp_path / "nested"
    make_folder(nested / "val")
    assert ds._guess_format(nested) == "imagefolder"
    (tmp_path / "idx").mkdir()
    assert ds._guess_format(tmp_path / "idx") == "idx"  # an IDX folder, as before


# ------------------------------------------------------------------------ safe pickles


def _batch(path: Path, obj, protocol: int = pickle.DEFAULT_PROTOCOL) -> None:
    with path.open("wb") as f:
        pickle.dump(obj, f, protocol=protocol)


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_cifar_pickles_cannot_run_code(tmp_path, protocol):
    folder = tmp_path / "cifar"
    folder.mkdir()
    marker = tmp_path / "MARKER"
    _batch(folder / "test_batch", {b"data": _Evil(marker), b"labels": [0]}, protocol)
    with pytest.raises(DataError, match=r"test_batch: .*refused global (posix|os)\.system"):
        load_dataset(str(folder))
    assert not marker.exists()
    _batch(folder / "test_batch", [eval], protocol)  # any other global too
    with pytest.raises(DataError, match=r"test_batch: .*refused global (__)?builtin(s|__)\.eval"):
        load_dataset(str(folder))


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_genuine_cifar_batches_still_load(tmp_path, protocol):
    folder = tmp_path / "cifar"
    folder.mkdir()
    data = np.random.default_rng(0).integers(0, 256, (5, 3072), dtype=np.uint8)
    batch = {b"batch_label": b"testing batch 1 of 1", b"labels": [1, 2, 3, 4, 5], b"data": data,
             b"filenames": [b"a.png"] * 5}  # fmt: skip
    _batch(folder / "test_batch", batch, protocol)
    d = load_dataset(str(folder))
    assert d.y.tolist() == [1, 2, 3, 4, 5]
    assert np.array_equal(d.x, data.reshape(5, 3, 32, 32) * np.float32(1 / 255))


class _Py2Pickler(pickle._Pickler):
    """Writes bytes as Python 2 str opcodes, as the distributed CIFAR-10 files (cPickle) hold."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str


def test_python2_cifar_batches_load(tmp_path):
    import io

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    data = np.random.default_rng(1).integers(0, 256, (4, 3072), dtype=np.uint8)
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump({b"labels": [9, 0, 3, 1], b"data": data})
    raw = buf.getvalue().replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert b"_codecs" not in raw and b"cnumpy.core.multiarray\n_reconstruct" in raw
    (folder / "test_batch").write_bytes(raw)
    d = load_dataset(str(folder))
    assert d.y.tolist() == [9, 0, 3, 1]
    assert np.array_equal(d.x, data.reshape(4, 3, 32, 32) * np.float32(1 / 255))
