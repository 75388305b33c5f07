"""Folders of class folders (the ImageNet / torchvision ImageFolder layout), decoded with Pillow.

``DIR/<class>/<image>.{png,jpg,jpeg}`` (any case): classes sorted by name give labels 0, 1, ...;
a class-index file (``classes: FILE``: one class folder name per line, blank lines ignored) fixes
another order, label i being the folder on line i; folders it does not name are left out. Splits:
when ``DIR/train`` and ``DIR/val`` (or ``DIR/test``) are themselves class-folder trees, they are
the train and test splits (``calib`` is drawn from train); otherwise ``DIR`` is the test split.
Files are listed when the folder opens (cheap); an image is decoded only when drawn, so memory
follows the number of images used, not the folder's size.

Preprocessing, per image and in this order, as torchvision's standard evaluation transform:
convert to RGB (or to grey for a 1-channel model), ``resize`` the shorter side to N pixels
(bilinear), centre ``crop`` to N x N (or [H, W]); the result is uint8 pixels, normalised later
like every other source (``datasets.normalize``: pixels / 255, then mean and std).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bfpdse.errors import DataError

if TYPE_CHECKING:
    from PIL import Image

EXTENSIONS = (".png", ".jpg", ".jpeg")
#: a centre crop, (height, width) in pixels
Crop = tuple[int, int]


def is_imagefolder(path: Path) -> bool:
    """True if ``path`` holds class folders with images (or train/val trees of them)."""
    if not path.is_dir():
        return False
    for sub in (path, path / "val", path / "test", path / "train"):
        if sub.is_dir() and any(_images(c) for c in sorted(sub.iterdir()) if c.is_dir()):
            return True
    return False


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in EXTENSIONS and p.is_file())


def _is_tree(path: Path) -> bool:
    """True if ``path`` is a folder of class folders (not itself a class folder of images)."""
    return path.is_dir() and any(c.is_dir() for c in path.iterdir())


def _split_root(root: Path, split: str) -> Path:
    """The class-folder tree of a split: DIR/val (or DIR/test) or DIR itself for test."""
    if split == "test":
        for name in ("val", "test"):
            if _is_tree(root / name):
                return root / name
        if _is_tree(root / "train"):
            raise DataError(
                f"{root}: has train/ but no val/ or test/ for the test split; add "
                f"{root}/val/<class>/<image>, or give {root / 'train'} itself as the dataset path"
            )
        return root
    if _is_tree(root / "train"):
        return root / "train"
    raise DataError(
        f"{root}: an image folder without a train/ subfolder has only the test split; split "
        f"{split!r} (calibration images come from train) needs DIR/train/<class>/<image> beside "
        "DIR/val/<class>/<image>"
    )


class ImageFolder:
    """The files and labels of one split; :meth:`images` decodes the drawn ones."""

    def __init__(self, root: Path, split: str, classes_file: str | None = None) -> None:
        root = Path(root)
        if not root.is_dir():
            raise DataError(f"{root}: no such image folder")
        folder = _split_root(root, split)
        if classes_file is not None:
            try:
                lines = Path(classes_file).read_text().splitlines()
            except OSError as exc:
                raise DataError(
                    f"{classes_file}: cannot read the class-index file ({exc})"
                ) from None
            classes = [line.strip() for line in lines if line.strip()]
            twice = sorted({c for c in classes if classes.count(c) > 1})
            if twice:
                raise DataError(f"{classes_file}: classes {twice[:3]} are listed more than once")
            if not classes:
                raise DataError(f"{classes_file}: the class-index file lists no class folders")
            missing = [c for c in classes if not (folder / c).is_dir()]
            if missing:
                raise DataError(f"{classes_file}: classes {missing[:3]} have no folder in {folder}")
        else:
            classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
        self.classes = classes
        self.files: list[Path] = []
        labels: list[int] = []
        for label, name in enumerate(classes):
            found = _images(folder / name)
            self.files += found
            labels += [label] * len(found)
        if not self.files:
            raise DataError(
                f"{folder}: no images; expected {folder}/<class>/<image> with extensions "
                f"{', '.join(EXTENSIONS)}"
            )
        self.labels = np.asarray(labels, dtype=np.int64)
        self._first: tuple[Path, tuple[int, ...]] | None = None  # the first decoded image

    def __len__(self) -> int:
        return len(self.files)

    def images(
        self, idx: np.ndarray, channels: int, resize: int | None, crop: Crop | None
    ) -> np.ndarray:
        """uint8 (len(idx), C, H, W) pixels of the drawn files, preprocessed.

        Every image decoded by this folder, over all calls, must come out the same size.
        """
        arrays = []
        for i in idx:
            a = decode(self.files[i], channels, resize, crop)
            if self._first is None:
                self._first = (self.files[i], a.shape)
            if a.shape != self._first[1]:
                raise DataError(
                    f"{self.files[i]}: image of {_hw(a.shape)} but {self._first[0]} is "
                    f"{_hw(self._first[1])}; give resize and crop in the dataset spec (e.g. "
                    "{format: imagefolder, path: DIR, resize: 256, crop: 224})"
                )
            arrays.append(a)
        if not arrays:
            return np.zeros((0, channels, 1, 1), np.uint8)
        return np.stack(arrays)


def _hw(shape: tuple[int, ...]) -> str:
    return f"{shape[1]}x{shape[2]}"


def decode(path: Path, channels: int, resize: int | None, crop: Crop | None) -> np.ndarray:
    """One image file as uint8 (C, H, W) after conversion, resize and centre crop."""
    from PIL import Image

    # UnidentifiedImageError and truncated files are OSErrors; a decompression bomb is not
    unreadable = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)
    try:
        with Image.open(path) as img:
            img = img.convert("L" if channels == 1 else "RGB")
            img = transform(img, resize, crop)
            arr = np.asarray(img, dtype=np.uint8)
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from None
    except unreadable as exc:
        raise DataError(f"{path}: cannot decode as an image ({exc})") from None
    return arr[None] if arr.ndim == 2 else np.ascontiguousarray(arr.transpose(2, 0, 1))


def transform(img: Image.Image, resize: int | None, crop: Crop | None) -> Image.Image:
    """Resize the shorter side to ``resize`` (bilinear), then centre-crop to ``crop``."""
    from PIL import Image

    if resize is not None:
        w, h = img.size
        if w <= h:
            size = (int(resize), max(1, int(resize * h / w)))
        else:
            size = (max(1, int(resize * w / h)), int(resize))
        img = img.resize(size, Image.BILINEAR)
    if crop is not None:
        ch, cw = crop
        w, h = img.size
        if ch > h or cw > w:
            raise DataError(
                f"crop=[{ch}, {cw}] is larger than the image, {h}x{w}"
                + (f" after resize={resize}" if resize is not None else "")
                + "; give a smaller crop or a larger resize"
            )
        top = int(round((h - ch) / 2.0))
        left = int(round((w - cw) / 2.0))
        img = img.crop((left, top, left + cw, top + ch))
    return img


def preprocess_array(pixels: np.ndarray, resize: int | None, crop: Crop | None) -> np.ndarray:
    """The same resize and crop on uint8 (n, C, H, W) arrays of the other formats."""
    from PIL import Image

    if resize is None and crop is None:
        return pixels
    if pixels.dtype != np.uint8:
        raise DataError("resize and crop need uint8 pixels (this dataset holds floats)")
    out = []
    for img in pixels:
        pil = Image.fromarray(img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0))
        arr = np.asarray(transform(pil, resize, crop), dtype=np.uint8)
        out.append(arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1))
    return np.stack(out)
