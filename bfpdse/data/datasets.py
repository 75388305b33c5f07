"""Dataset loaders: the bundled Fashion-MNIST, MNIST-style IDX pairs, CIFAR-10 batches, npz.

``load_dataset(name_or_spec, split)`` returns a :class:`Dataset` of float32 NCHW images and int64
labels. A source is given as

- ``"fashion-mnist"``: the copy bundled in this package (splits ``test`` and ``calib``);
- a path string: a folder of IDX files, a folder of CIFAR-10 python batches, or an ``.npz`` file;
- a dict ``{"format": "idx" | "cifar10" | "npz" | "imagefolder", "path": ..., "name": optional}``
  (``format`` may be left out where the path tells it). For ``idx``,
  ``path`` is a folder (``train-images-idx3-ubyte[.gz]``, ``t10k-...`` or ``test-...``, and so on)
  or ``{"images": FILE, "labels": FILE}`` (one pair: the ``test`` split). For ``cifar10`` it is
  the folder as distributed (``data_batch_1`` … ``data_batch_5``, ``test_batch``; pickles, read
  by an unpickler that admits only dicts, lists, strings, bytes, numbers and numpy arrays). For
  ``npz`` it is a file holding ``x`` and ``y`` (the ``test`` split; ``x_train`` and ``y_train``
  give a ``train`` split). For ``imagefolder`` it is a folder of class folders of PNG/JPEG files
  (``imagefolder.py``), with an optional ``classes`` file.

Preprocessing keys, for every format: ``resize`` (shorter side, pixels), ``crop`` (centre crop:
N or [H, W]), ``mean`` and ``std`` (one value or one per channel, on pixels / 255 as torchvision's:
the input is ``(pixels / 255 - mean) / std``; they replace the model's ``bfpdse.mean`` /
``bfpdse.std`` metadata, for the images and for the model's input range, see
:func:`with_dataset_normalization`). :func:`check_spec` checks a spec without reading files.

Only the drawn images are decoded and converted (``load_dataset(..., samples=, seed=)``,
``DECODE_BATCH`` at a time): memory follows ``samples``, not the size of the split. The raw
uint8 arrays of idx, cifar10 and npz stay in memory; only the drawn images become float32.

Splits: ``test``, ``train`` and ``calib``. ``calib`` holds ``CALIB_SIZE`` images of the train
split drawn without replacement with ``np.random.default_rng(CALIB_SEED)`` (in file order); it is
what calibration uses, never the test split. The bundled copy stores that subset of the official
train split as ``calib-*-ubyte.gz``, so it equals ``calib`` of the full dataset folder.

Pixels become model inputs in one place, :func:`normalize`.
"""

from __future__ import annotations

import gzip
import pickle
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bfpdse.data.idx import read_idx
from bfpdse.data.imagefolder import ImageFolder, is_imagefolder, preprocess_array
from bfpdse.errors import DataError

SPLITS = ("test", "train", "calib")
FORMATS = ("idx", "cifar10", "npz", "imagefolder")
#: keys of a dataset spec mapping
SPEC_KEYS = ("format", "path", "name", "classes", "resize", "crop", "mean", "std")
#: images decoded and normalised at a time (the float32 temporaries of one batch stay small)
DECODE_BATCH = 64
BUNDLED = {"fashion-mnist": Path(__file__).resolve().parent / "fashion_mnist"}
CALIB_SIZE = 1024
CALIB_SEED = 0
DEFAULT_INPUT_SCALE = 1.0 / 255.0

#: file stems of IDX splits, first match wins (".gz" optional)
_IDX_FILES = {
    "test": (("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
             ("test-images-idx3-ubyte", "test-labels-idx1-ubyte")),
    "train": (("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),),
    "calib": (("calib-images-idx3-ubyte", "calib-labels-idx1-ubyte"),),
}  # fmt: skip


@dataclass
class Dataset:
    """Images ``x`` (float32, NCHW, model inputs) and labels ``y`` (int64) of one split."""

    x: np.ndarray
    y: np.ndarray
    name: str
    split: str

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def take(self, n: int | None, seed: int | None = None) -> Dataset:
        """The first ``n`` images, or ``n`` drawn at random with ``seed`` (in file order)."""
        if n is None or n >= len(self):
            return self
        idx = sample_indices(len(self), n, seed)
        return Dataset(self.x[idx], self.y[idx], self.name, self.split)


# ------------------------------------------------------------------------ normalisation


def normalize(images: np.ndarray, model: Any = None) -> np.ndarray:
    """Model inputs (float32 NCHW) from images: the one normalisation everybody uses.

    uint8 images are pixels 0 … 255; float images are pixels / 255 (in [0, 1]). The input is
    ``pixels * input_scale`` and then ``(x - mean) / std`` per channel, with ``input_scale``,
    ``mean`` and ``std`` from ``model`` (a bfpdse Model, or anything with those attributes);
    without a model, ``input_scale = 1/255``, ``mean = 0`` and ``std = 1`` (inputs in [0, 1]).
    """
    images = np.asarray(images)
    scale = float(getattr(model, "input_scale", DEFAULT_INPUT_SCALE))
    x = np.array(images, dtype=np.float32, order="C")  # a copy: the steps below work in place
    if images.dtype == np.uint8:
        x *= np.float32(scale)
    elif scale != DEFAULT_INPUT_SCALE:
        x *= np.float32(255.0 * scale)
    if model is not None:
        c = images.shape[1]
        mean = np.broadcast_to(np.asarray(model.mean, dtype=np.float32).reshape(-1), (c,))
        std = np.broadcast_to(np.asarray(model.std, dtype=np.float32).reshape(-1), (c,))
        if np.any(mean != 0) or np.any(std != 1):
            x -= mean[None, :, None, None]
            x /= std[None, :, None, None]
    return x


# ------------------------------------------------------------------------ sources


def _calib_indices(n_train: int) -> np.ndarray:
    size = min(CALIB_SIZE, n_train)
    return np.sort(np.random.default_rng(CALIB_SEED).choice(n_train, size=size, replace=False))


def _check_pair(images: np.ndarray, labels: np.ndarray, where: str) -> None:
    if labels.ndim != 1:
        raise DataError(f"{where}: labels must be 1-D, got shape {labels.shape}")
    if images.shape[0] != labels.shape[0]:
        raise DataError(
            f"{where}: {images.shape[0]} images but {labels.shape[0]} labels; the counts must match"
        )
    if labels.dtype.kind not in "iu":
        raise DataError(f"{where}: labels must be integers, got dtype {labels.dtype}")


def _find(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def _idx_pair(images: Path, labels: Path) -> tuple[np.ndarray, np.ndarray]:
    x = read_idx(images)
    y = read_idx(labels)
    if x.ndim != 3:
        raise DataError(f"{images}: expected IDX images of shape (n, H, W), got {x.shape}")
    _check_pair(x, y, f"{images} and {labels}")
    return x[:, None, :, :], y


def _load_idx(path: Any, split: str) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(path, dict):
        if set(path) != {"images", "labels"}:
            raise DataError(f"idx path {path!r}: expected keys 'images' and 'labels'")
        if split != "test":
            raise DataError(
                f"idx path {path!r} holds one pair of files, served as split 'test'; "
                f"split {split!r} needs a folder with train-*-ubyte files"
            )
        return _idx_pair(Path(path["images"]), Path(path["labels"]))
    folder = Path(path)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder of IDX files")
    for img_stem, lbl_stem in _IDX_FILES[split]:
        img, lbl = _find(folder, img_stem), _find(folder, lbl_stem)
        if img is not None and lbl is not None:
            return _idx_pair(img, lbl)
        if img is not None or lbl is not None:
            missing = lbl_stem if img is not None else img_stem
            raise DataError(f"{folder}: found one file of split {split!r} but not {missing}[.gz]")
    if split == "calib":
        x, y = _load_idx(folder, "train")
        idx = _calib_indices(len(y))
        return x[idx], y[idx]
    expected = " or ".join(f"{a}[.gz] + {b}[.gz]" for a, b in _IDX_FILES[split])
    raise DataError(f"{folder}: no {split} split; expected {expected}")


#: the globals a CIFAR-10 batch may name: numpy's array reconstruction and nothing else
_PICKLE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.numeric", "_frombuffer"),  # arrays in pickle protocol 5
    ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),  # how pickle protocols 0-2 of Python 3 store bytes
}


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles plain data only: a crafted file cannot name a callable such as os.system."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _PICKLE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused global {module}.{name}")


def _unpickle(path: Path) -> dict:
    if not path.is_file():
        raise DataError(f"{path}: missing CIFAR-10 batch file")
    try:
        with path.open("rb") as f:
            return _BatchUnpickler(f, encoding="bytes").load()
    except Exception as exc:
        raise DataError(f"{path}: cannot read as a CIFAR-10 python batch ({exc})") from None


def _cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    d = _unpickle(path)
    data = d.get(b"data", d.get("data")) if isinstance(d, dict) else None
    labels = d.get(b"labels", d.get("labels")) if isinstance(d, dict) else None
    if data is None or labels is None:
        raise DataError(f"{path}: a CIFAR-10 batch must hold 'data' and 'labels'")
    data = np.asarray(data)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or data.dtype != np.uint8:
        raise DataError(
            f"{path}: 'data' must be uint8 of shape (n, 3072), got {data.dtype} {data.shape}"
        )
    y = np.asarray(labels)
    _check_pair(data, y, str(path))
    return data.reshape(-1, 3, 32, 32), y


def _load_cifar(path: Any, split: str) -> tuple[np.ndarray, np.ndarray]:
    folder = Path(path)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder of CIFAR-10 batches")
    if split == "test":
        return _cifar_batch(folder / "test_batch")
    parts = [_cifar_batch(folder / f"data_batch_{i}") for i in range(1, 6)]
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    if split == "calib":
        idx = _calib_indices(len(y))
        return x[idx], y[idx]
    return x, y


def _load_npz(path: Any, split: str) -> tuple[np.ndarray, np.ndarray]:
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {key: f[key] for key in f.files}
    except FileNotFoundError:
        raise DataError(f"{path}: no such npz file") from None
    except Exception as exc:
        raise DataError(f"{path}: cannot read as npz ({exc})") from None
    keys = ("x", "y") if split == "test" else ("x_train", "y_train")
    if split == "test" and "x" not in arrays and "x_test" in arrays:
        keys = ("x_test", "y_test")
    if any(k not in arrays for k in keys):
        raise DataError(
            f"{path}: split {split!r} needs arrays {keys[0]!r} and {keys[1]!r}; "
            f"the file holds {sorted(arrays)}"
        )
    x, y = arrays[keys[0]], arrays[keys[1]]
    if x.dtype != np.uint8 and x.dtype.kind != "f":
        raise DataError(
            f"{path}: {keys[0]} must be uint8 pixels or floats in [0, 1], got {x.dtype}"
        )
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[-1] in (1, 3, 4) and x.shape[1] not in (1, 3, 4):
        x = x.transpose(0, 3, 1, 2)  # NHWC as numpy users often store it
    elif x.ndim != 4:
        raise DataError(f"{path}: {keys[0]} must be (n, H, W) or (n, C, H, W), got {x.shape}")
    _check_pair(x, y, f"{path} ({keys[0]}, {keys[1]})")
    if split == "calib":
        idx = _calib_indices(len(y))
        return x[idx], y[idx]
    return x, y


_LOADERS = {"idx": _load_idx, "cifar10": _load_cifar, "npz": _load_npz}


def _options(spec: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The validated preprocessing options and class file of a dataset spec mapping."""
    opts: dict[str, Any] = {}
    for key in ("resize",):
        if spec.get(key) is not None:
            v = spec[key]
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise DataError(f"{where}: {key}={v!r} must be an integer >= 1 (pixels)")
            opts[key] = int(v)
    if spec.get("crop") is not None:
        v = spec["crop"]
        pair = [v, v] if isinstance(v, int) and not isinstance(v, bool) else v
        if not (
            isinstance(pair, list | tuple)
            and len(pair) == 2
            and all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in pair)
        ):
            raise DataError(f"{where}: crop={v!r} must be an integer N or [H, W] (pixels, >= 1)")
        opts["crop"] = (int(pair[0]), int(pair[1]))
    for key in ("mean", "std"):
        if spec.get(key) is not None:
            v = spec[key]
            vals = v if isinstance(v, list | tuple) else [v]
            if not vals or not all(
                isinstance(x, int | float) and not isinstance(x, bool) for x in vals
            ):
                raise DataError(f"{where}: {key}={v!r} must be a number or a list of numbers")
            if key == "std" and any(x <= 0 for x in vals):
                raise DataError(f"{where}: std={v!r} must be > 0")
            opts[key] = tuple(float(x) for x in vals)
    if spec.get("classes") is not None:
        opts["classes"] = str(spec["classes"])
    return opts  # fmt: skip


def _guess_format(path: Path) -> str | None:
    if path.suffix == ".npz":
        return "npz"
    if path.is_dir():
        if (path / "test_batch").exists() or (path / "data_batch_1").exists():
            return "cifar10"
        if is_imagefolder(path):
            return "imagefolder"
        return "idx"
    return None


def check_spec(name_or_spec: Any) -> None:
    """Check a dataset name or spec mapping without reading a file: keys, format and values."""
    if not isinstance(name_or_spec, Mapping):
        return
    extra = set(name_or_spec) - set(SPEC_KEYS)
    if extra or "path" not in name_or_spec:
        raise DataError(
            f"dataset spec {dict(name_or_spec)!r}: expected the key 'path' and optionally "
            f"{', '.join(k for k in SPEC_KEYS if k != 'path')}"
            + (f"; unknown: {', '.join(sorted(map(str, extra)))}" if extra else "")
        )
    fmt = name_or_spec.get("format")
    if fmt is not None and fmt not in FORMATS:
        raise DataError(f"dataset format {fmt!r} is unknown: allowed {', '.join(FORMATS)}")
    opts = _options(name_or_spec, _where(name_or_spec["path"]))
    if "classes" in opts and fmt not in (None, "imagefolder"):
        raise DataError(
            f"{_where(name_or_spec['path'])}: classes applies only to format imagefolder"
        )


def _where(path: Any) -> str:
    return f"dataset {str(path)!r}"


def _parse_source(name_or_spec: Any) -> tuple[str, Any, str, dict[str, Any]]:
    """(format, path, display name, options) of a dataset name, path or spec dict."""
    if isinstance(name_or_spec, Mapping):
        check_spec(name_or_spec)
        path = name_or_spec["path"]
        fmt = name_or_spec.get("format")
        opts = _options(name_or_spec, _where(path))
        if isinstance(path, str) and path in BUNDLED and fmt in (None, "idx"):
            return "idx", BUNDLED[path], str(name_or_spec.get("name", path)), opts
        if fmt is None:
            fmt = _guess_format(Path(path)) if not isinstance(path, Mapping) else "idx"
            if fmt is None:
                raise DataError(
                    f"dataset path {str(path)!r} is neither a folder nor an .npz file; give "
                    f"format: {' | '.join(FORMATS)}"
                )
        default = Path(path).stem if not isinstance(path, Mapping) else Path(path["images"]).stem
        if "classes" in opts and fmt != "imagefolder":
            raise DataError(f"{_where(path)}: classes applies only to format imagefolder")
        return fmt, path, str(name_or_spec.get("name", default)), opts
    if isinstance(name_or_spec, str) and name_or_spec in BUNDLED:
        return "idx", BUNDLED[name_or_spec], name_or_spec, {}
    path = Path(name_or_spec)
    fmt = _guess_format(path)
    if fmt is not None:
        return fmt, path, path.stem if fmt == "npz" else path.name, {}
    raise DataError(
        f"dataset {str(name_or_spec)!r} is neither a bundled dataset ({', '.join(BUNDLED)}) nor "
        "an existing folder (IDX files, CIFAR-10 batches, or class folders of images) or .npz file"
    )


def load_images(name_or_spec: Any, split: str = "test") -> tuple[np.ndarray, np.ndarray, str]:
    """Raw images (uint8 or float NCHW), int64 labels and the display name of a whole split."""
    source = _open(name_or_spec, split)
    x = source.images(np.arange(len(source)))
    return x, source.labels, source.name


class _Source:
    """One split of a dataset: labels up front, images decoded on demand."""

    def __init__(
        self,
        name: str,
        labels: np.ndarray,
        images: Callable[[np.ndarray, int | None], np.ndarray],
        opts: dict[str, Any],
    ) -> None:
        self.name = name
        self.labels = labels.astype(np.int64)
        self._images = images
        self.opts = opts

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def images(self, idx: np.ndarray, channels: int | None = None) -> np.ndarray:
        return self._images(idx, channels)


def _open(name_or_spec: Any, split: str) -> _Source:
    if split not in SPLITS:
        raise DataError(f"split {split!r} is unknown: allowed {', '.join(SPLITS)}")
    fmt, path, name, opts = _parse_source(name_or_spec)
    if split == "train" and name in BUNDLED and path == BUNDLED[name]:
        raise DataError(
            f"the bundled {name} has only the splits test and calib; for train, give the full "
            "folder: {format: idx, path: DIR}"
        )
    resize, crop = opts.get("resize"), opts.get("crop")
    if fmt == "imagefolder":
        folder = ImageFolder(Path(path), "train" if split == "calib" else split,
                             opts.get("classes"))  # fmt: skip
        picks = _calib_indices(len(folder)) if split == "calib" else np.arange(len(folder))

        def decode(idx: np.ndarray, channels: int | None) -> np.ndarray:
            return folder.images(picks[idx], channels or 3, resize, crop)

        return _Source(name, folder.labels[picks], decode, opts)
    x, y = _LOADERS[fmt](path, split)
    if (resize is not None or crop is not None) and x.dtype != np.uint8:
        raise DataError(
            f"{_where(path)}: resize and crop need uint8 pixels, but this {fmt} data holds "
            f"{x.dtype}; store uint8 pixels or give images of the model's size"
        )

    def take(idx: np.ndarray, channels: int | None) -> np.ndarray:
        try:
            return preprocess_array(x[idx], resize, crop)
        except DataError as exc:
            raise DataError(f"{_where(path)}: {exc}") from None

    return _Source(name, y, take, opts)


def sample_indices(total: int, n: int | None, seed: int | None) -> np.ndarray:
    """Which images ``samples=n`` draws: all, the first n (seed None) or n at random, sorted."""
    if n is None or n >= total:
        return np.arange(total)
    if n < 1:
        raise DataError(f"samples={n} must be at least 1")
    if seed is None:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(total, size=n, replace=False))


def check_dataset(
    name_or_spec: Any, split: str = "test", *, model: Any = None, samples: int | None = None
) -> int:
    """Open a split without decoding images: it exists, holds ``samples`` images and labels
    the model's outputs. Returns its size; DataError otherwise."""
    return len(_checked_source(name_or_spec, split, model, samples))


def _checked_source(name_or_spec: Any, split: str, model: Any, samples: int | None) -> _Source:
    source = _open(name_or_spec, split)
    where = f"dataset {source.name!r} ({split})"
    if len(source) == 0:
        raise DataError(f"{where} holds no images")
    if samples is not None and samples > len(source):
        raise DataError(
            f"{where}: samples={samples}, but it holds {len(source)} images; give "
            f"--samples {len(source)} or fewer"
        )
    if model is not None:
        _check_labels(source, split, model)
    return source


def load_dataset(
    name_or_spec: Any,
    split: str = "test",
    *,
    model: Any = None,
    samples: int | None = None,
    seed: int | None = None,
) -> Dataset:
    """Load one split as model inputs (see the module docs for sources and splits).

    With ``model`` the images are normalised as it was trained (:func:`normalize`, with the
    spec's ``mean``/``std`` in place of the model's when given) and must have its input shape;
    without, they are pixels / 255 in [0, 1]. ``samples`` and ``seed`` draw images as
    :meth:`Dataset.take` does, and only those are decoded. Bad data raises DataError.
    """
    source = _checked_source(name_or_spec, split, model, samples)
    where = f"dataset {source.name!r} ({split})"
    idx = sample_indices(len(source), samples, seed)
    if model is not None:
        norm = with_dataset_normalization(model, name_or_spec)
        channels = int(model.input_shape[0])
    else:
        norm = _plain_normalization(source.opts)
        channels = None
    x = None  # filled batch by batch: the decoded pixels never exist all at once
    for b0 in range(0, len(idx), DECODE_BATCH):
        raw = source.images(idx[b0 : b0 + DECODE_BATCH], channels)
        if x is None:
            if model is not None and tuple(raw.shape[1:]) != tuple(model.input_shape):
                _shape_error(source.name, split, raw.shape[1:], model)
            _check_channels(source.opts, int(raw.shape[1]), f"dataset {source.name!r}")
            x = np.empty((len(idx), *raw.shape[1:]), dtype=np.float32)
        _check_pixels(raw, where)
        x[b0 : b0 + len(raw)] = normalize(raw, norm)
    return Dataset(x, source.labels[idx], source.name, split)


@dataclass(frozen=True)
class Normalization:
    """Model inputs without a model: ``pixels * input_scale``, then ``(x - mean) / std``."""

    input_scale: float = DEFAULT_INPUT_SCALE
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)


def _plain_normalization(opts: Mapping[str, Any]) -> Normalization | None:
    if "mean" not in opts and "std" not in opts:
        return None
    return Normalization(mean=opts.get("mean", (0.0,)), std=opts.get("std", (1.0,)))


def _check_pixels(raw: np.ndarray, where: str) -> None:
    """Float pixels are pixels / 255: finite and in [0, 1] (uint8 pixels cannot be wrong)."""
    if raw.dtype.kind != "f" or raw.size == 0:
        return
    finite = np.isfinite(raw)
    if not finite.all():
        raise DataError(f"{where}: {int((~finite).sum())} pixel value(s) are NaN or infinite")
    lo, hi = float(raw.min()), float(raw.max())
    if lo < 0 or hi > 1:
        hint = "; they look like 0 … 255: store uint8 pixels or divide by 255" if hi > 1 else ""
        raise DataError(
            f"{where}: float pixels must lie in [0, 1] (pixels / 255), found {lo:g} … {hi:g}{hint}"
        )


def _check_channels(opts: Mapping[str, Any], channels: int, where: str) -> None:
    for key in ("mean", "std"):
        if key in opts and len(opts[key]) not in (1, channels):
            raise DataError(
                f"{where}: {key}={list(opts[key])} has {len(opts[key])} values for {channels}-"
                f"channel images; give one value or {channels}"
            )


def with_dataset_normalization(model: Any, name_or_spec: Any) -> Any:
    """``model`` normalising inputs with a dataset spec's ``mean``/``std``, if it gives them.

    The spec's values are torchvision's: the input is ``(pixels / 255 - mean) / std``. Each
    given value replaces the model's ``bfpdse.mean`` / ``bfpdse.std``, converted to the model's
    units when its ``bfpdse.input_scale`` is not 1/255 (exactly equal when it is). The copy's
    :meth:`input_range`, hence its first layer's quantization, follows the new values.
    """
    if model is None or not isinstance(name_or_spec, Mapping):
        return model
    check_spec(name_or_spec)
    opts = _options(name_or_spec, _where(name_or_spec["path"]))
    if "mean" not in opts and "std" not in opts:
        return model
    _check_channels(
        opts, int(model.input_shape[0]),
        f"{_where(name_or_spec['path'])} for model {getattr(model, 'name', '?')!r}",
    )  # fmt: skip
    unit = 255.0 * float(model.input_scale)  # model inputs per unit of pixels / 255
    mean = tuple(v * unit for v in opts["mean"]) if "mean" in opts else None
    std = tuple(v * unit for v in opts["std"]) if "std" in opts else None
    return model.with_normalization(mean, std)


def _check_labels(source: _Source, split: str, model: Any) -> None:
    """Labels must index the model's outputs (``Model.classes``, where the model tells it)."""
    try:
        classes = getattr(model, "classes", None)
    except (KeyError, TypeError, ValueError):  # an output width the graph does not fix
        return
    top = int(source.labels.max())
    if classes is None or top < classes:
        return
    raise DataError(
        f"dataset {source.name!r} ({split}) has labels up to {top} but model "
        f"{getattr(model, 'name', '?')!r} has {classes} outputs; give the dataset the model was "
        f"trained on, or for an image folder a classes file naming {classes} class folders in "
        "the model's label order (dataset key classes)"
    )


def _shape_error(name: str, split: str, got: tuple[int, ...], model: Any) -> None:
    have = "x".join(map(str, got))
    want = "x".join(map(str, model.input_shape))
    c, h, w = (int(d) for d in model.input_shape)
    if int(got[0]) != c:
        fix = (
            f"convert it to {c} channels (image folders are converted to the model's channels; "
            "idx, cifar10 and npz are taken as stored)"
        )
    else:
        crop = h if h == w else [h, w]
        fix = (
            f"let bfpdse resize and crop it: {{path: DIR, resize: {min(h, w) * 8 // 7}, "
            f"crop: {crop}}} (on the command line --set dataset.resize=... --set dataset.crop=...)"
        )
    raise DataError(
        f"dataset {name!r} ({split}) has images of {have} (CxHxW) but model "
        f"{getattr(model, 'name', '?')!r} expects {want}; give a dataset of that size "
        f"(--dataset or a spec's dataset: key; formats {', '.join(FORMATS)}), or {fix}"
    )


# ------------------------------------------------------------------------ writing


def write_idx(path: str | Path, array: np.ndarray) -> Path:
    """Write a uint8 array as an IDX file (gzip-compressed, reproducibly, if ``.gz``)."""
    path = Path(path)
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    data = header + array.tobytes()
    if path.suffix == ".gz":
        with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
            f.write(data)
    else:
        path.write_bytes(data)
    return path
