"""Datasets of the TopoEncoder benchmark, all local: no downloads.

- `digits`: scikit-learn's bundled 8x8 digits (1797 images, 10 classes), scaled to [0, 1].
- `mnist-idx DIR`: MNIST-format IDX files in a user directory (read by `read_idx`; gzip ok).
  The t10k files, when present, are the test split; otherwise a held-out split is drawn.
- `atlas2d`: a synthetic 2-D atlas generated in process: points of an annulus, labelled by angular
  sector, produced as random-walk transitions (x_t, a_t, x_{t+1}) so that the sequence
  objectives (slowness, causal enclosure) have something to act on.
"""

from __future__ import annotations

import gzip
import math
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

DATASETS = ("digits", "mnist-idx", "atlas2d")

# IDX type codes (LeCun's format): code -> (numpy big-endian dtype).
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class DatasetError(ValueError):
    """A dataset that cannot be loaded as asked (unknown name, missing or malformed files)."""


@dataclass
class Dataset:
    """A train/test split. x_* [N, D_in] float32, y_* [N] int64; for sequence data
    next_* [N, D_in] (the observation one step later) and action_* [N, A]."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    next_train: torch.Tensor | None = None
    action_train: torch.Tensor | None = None
    next_test: torch.Tensor | None = None
    action_test: torch.Tensor | None = None
    image_shape: tuple[int, int] | None = None

    @property
    def input_dim(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def action_dim(self) -> int:
        return 0 if self.action_train is None else int(self.action_train.shape[1])


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (optionally gzip-compressed) into a NumPy array of its shape."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        data = handle.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DatasetError(f"{path}: not an IDX file (the magic number must start with two zero bytes)")
    code, ndim = data[2], data[3]
    if code not in _IDX_TYPES:
        raise DatasetError(f"{path}: unknown IDX type code 0x{code:02x}; "
                         f"known: {', '.join(f'0x{c:02x}' for c in _IDX_TYPES)}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetError(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_IDX_TYPES[code])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise DatasetError(f"{path}: IDX header says shape {list(shape)} ({expected} bytes) but the "
                         f"file holds {len(data) - header} bytes of data")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray) -> Path:
    """Write `array` as an IDX file (gzip when the name ends in .gz); the inverse of `read_idx`."""
    path = Path(path)
    codes = {np.dtype(v).newbyteorder("="): k for k, v in _IDX_TYPES.items()}
    dtype = np.dtype(array.dtype).newbyteorder("=")
    if dtype not in codes:
        raise ValueError(f"IDX cannot store dtype {array.dtype}")
    code = codes[dtype]
    payload = (bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
               + np.ascontiguousarray(array, dtype=_IDX_TYPES[code]).tobytes())
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as handle:
        handle.write(payload)
    return path


def _find(directory: Path, stem: str) -> Path | None:
    for candidate in (directory / stem, directory / f"{stem}.gz",
                      directory / stem.replace("-idx", "."), directory / f"{stem.replace('-idx', '.')}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _split(x: torch.Tensor, y: torch.Tensor, test_fraction: float, generator: torch.Generator):
    """A seeded random split: (x_train, y_train, x_test, y_test, train_index, test_index)."""
    order = torch.randperm(x.shape[0], generator=generator)
    n_test = max(1, int(round(test_fraction * x.shape[0])))
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test], train, test


def load_digits_dataset(generator: torch.Generator, test_fraction: float = 0.2) -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.tensor(bunch.data / 16.0, dtype=torch.float32)
    y = torch.tensor(bunch.target, dtype=torch.int64)
    x_train, y_train, x_test, y_test, _, _ = _split(x, y, test_fraction, generator)
    return Dataset("digits", x_train, y_train, x_test, y_test, 10, image_shape=(8, 8))


def load_mnist_idx(directory: str | Path, generator: torch.Generator, test_fraction: float = 0.2,
                   limit: int | None = None) -> Dataset:
    """MNIST-style IDX files in `directory`: train-images-idx3-ubyte and train-labels-idx1-ubyte
    (optionally .gz, or with '.' instead of '-idx'); t10k-* files, when present, are the test split.
    `limit` keeps `limit` training and limit // 4 test samples (after a seeded shuffle)."""
    directory = Path(directory)
    if directory.is_file():
        raise DatasetError(f"mnist-idx needs the directory that holds the IDX files; "
                           f"{str(directory)!r} is a file")
    if not directory.is_dir():
        raise DatasetError(f"mnist-idx directory {str(directory)!r} does not exist")
    train_images = _find(directory, "train-images-idx3-ubyte")
    train_labels = _find(directory, "train-labels-idx1-ubyte")
    if train_images is None or train_labels is None:
        raise DatasetError(f"{directory} must hold train-images-idx3-ubyte and "
                                f"train-labels-idx1-ubyte (optionally .gz)")

    def load(images: Path, labels: Path) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int]]:
        pixels, targets = read_idx(images), read_idx(labels)
        if pixels.ndim != 3 or targets.ndim != 1 or pixels.shape[0] != targets.shape[0]:
            raise DatasetError(f"{images.name} / {labels.name}: expected images [N, rows, cols] and "
                             f"labels [N]; got {list(pixels.shape)} and {list(targets.shape)}")
        x = torch.tensor(pixels.reshape(pixels.shape[0], -1), dtype=torch.float32) / 255.0
        return x, torch.tensor(targets.astype(np.int64)), (int(pixels.shape[1]), int(pixels.shape[2]))

    x, y, image_shape = load(train_images, train_labels)
    test_images, test_labels = _find(directory, "t10k-images-idx3-ubyte"), _find(directory, "t10k-labels-idx1-ubyte")
    if test_images is not None and test_labels is not None:
        x_test, y_test, test_shape = load(test_images, test_labels)
        if test_shape != image_shape:
            raise DatasetError(f"{test_images.name} holds {test_shape[0]}x{test_shape[1]} images "
                               f"but {train_images.name} {image_shape[0]}x{image_shape[1]}; "
                               "the test images must have the training images' size")
        order, order_test = (torch.randperm(x.shape[0], generator=generator),
                             torch.randperm(x_test.shape[0], generator=generator))
        x_train, y_train = x[order], y[order]
        x_test, y_test = x_test[order_test], y_test[order_test]
    else:
        x_train, y_train, x_test, y_test, _, _ = _split(x, y, test_fraction, generator)
    present = sorted(set(y_train.tolist()) | set(y_test.tolist()))
    if present != list(range(len(present))):
        shown = present if len(present) <= 12 else [*present[:6], "...", *present[-3:]]
        raise DatasetError(f"labels must be the integers 0..K-1, each present (one chart per "
                           f"class); got {len(present)} distinct values {shown}")
    num_classes = len(present)
    data = Dataset("mnist-idx", x_train, y_train, x_test, y_test, num_classes,
                   image_shape=image_shape)
    return data if limit is None else _limit(data, limit)


def atlas2d_samples(n: int, generator: torch.Generator, sectors: int = 6, step: float = 0.25,
                    noise: float = 0.02):
    """n random-walk transitions on the annulus 0.5 <= r <= 1.

    Returns x [n, 2], label [n] (angular sector of x), x_next [n, 2], action [n, 2] where the
    action is (d_theta, d_r) of the step: x_next = polar(theta + d_theta, r + d_r) + noise.
    """
    u = torch.rand((n, 4), generator=generator, dtype=torch.float64)
    theta = 2 * math.pi * u[:, 0]
    radius = torch.sqrt(0.25 + 0.75 * u[:, 1])  # uniform in area on the annulus
    d_theta = step * (2 * u[:, 2] - 1)
    d_r = 0.1 * (2 * u[:, 3] - 1)
    radius_next = torch.clamp(radius + d_r, 0.5, 1.0)
    eps = noise * torch.randn((n, 4), generator=generator, dtype=torch.float64)

    def polar(t: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        return torch.stack([r * torch.cos(t), r * torch.sin(t)], dim=1)

    x = polar(theta, radius) + eps[:, :2]
    x_next = polar(theta + d_theta, radius_next) + eps[:, 2:]
    label = torch.floor(theta / (2 * math.pi) * sectors).long().clamp(max=sectors - 1)
    action = torch.stack([d_theta, radius_next - radius], dim=1)
    return x.float(), label, x_next.float(), action.float()


def make_atlas2d(generator: torch.Generator, n_train: int = 3000, n_test: int = 1000,
                 sectors: int = 6) -> Dataset:
    x, y, x_next, action = atlas2d_samples(n_train, generator, sectors)
    xt, yt, xt_next, action_t = atlas2d_samples(n_test, generator, sectors)
    return Dataset("atlas2d", x, y, xt, yt, sectors, next_train=x_next, action_train=action,
                   next_test=xt_next, action_test=action_t)


def load_dataset(name: str, generator: torch.Generator, path: str | Path | None = None,
                 limit: int | None = None) -> Dataset:
    """Load `name` (one of DATASETS); `path` is the directory for mnist-idx."""
    if name not in DATASETS:
        raise DatasetError(f"dataset must be one of {', '.join(DATASETS)}; got {name!r}")
    if name == "digits":
        data = load_digits_dataset(generator)
    elif name == "mnist-idx":
        if path is None:
            raise DatasetError("dataset mnist-idx needs a directory of IDX files")
        return load_mnist_idx(path, generator, limit=limit)
    else:
        data = make_atlas2d(generator)
    if limit is not None:
        data = _limit(data, limit)
    return data


def _limit(data: Dataset, limit: int) -> Dataset:
    n_test = max(1, limit // 4)
    cut = lambda t, k: None if t is None else t[:k]  # noqa: E731
    return Dataset(data.name, data.x_train[:limit], data.y_train[:limit], data.x_test[:n_test],
                   data.y_test[:n_test], data.num_classes, cut(data.next_train, limit),
                   cut(data.action_train, limit), cut(data.next_test, n_test),
                   cut(data.action_test, n_test), data.image_shape)


__all__ = ["DATASETS", "Dataset", "DatasetError", "atlas2d_samples", "load_dataset", "load_digits_dataset",
           "load_mnist_idx", "make_atlas2d", "read_idx", "write_idx"]
