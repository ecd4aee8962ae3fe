"""Offline data sources of the sensorium experiments (no downloads, ever).

Each loader either returns data or raises:
- `DataError` for a file the user named that is missing or malformed (the CLI turns it into a
  one-line error),
- `MissingSource` for an optional source that is not installed here (statsmodels, espeak-ng);
  experiments record it under "skipped_sources" in metrics.json and carry on.
Randomness (noise, random frequencies) comes from the caller's `torch.Generator`.
"""

from __future__ import annotations

import gzip
import math
import shutil
import struct
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch


class DataError(ValueError):
    """A data file that is missing or malformed."""


class MissingSource(RuntimeError):
    """An optional data source that is not available on this machine."""


# ====================================================================== text


def default_text() -> bytes:
    """English prose that ships with Python: the pydoc topic help texts, in key order."""
    try:
        from pydoc_data.topics import topics
    except ImportError as error:  # some distributions strip pydoc_data
        raise MissingSource("pydoc_data is not part of this Python; pass --text FILE") from error
    return "\n".join(topics[key] for key in sorted(topics)).encode("utf-8")


def load_text(path: str | Path | None = None, min_bytes: int = 64) -> tuple[str, bytes]:
    """(name, bytes) of `path`, or of the pydoc topics when `path` is None."""
    if path is None:
        return "pydoc_data.topics", default_text()
    p = Path(path)
    if not p.is_file():
        raise DataError(f"--text {p}: no such file")
    data = p.read_bytes()
    if len(data) < min_bytes:
        raise DataError(f"--text {p}: {len(data)} bytes; need at least {min_bytes}")
    return p.name, data


# ====================================================================== series


def synthetic_series(n: int, generator: torch.Generator) -> np.ndarray:
    """The seed's series: 0.001 t + 0.5 sin(2 pi t/24) + 0.3 sin(2 pi t/168) + N(0, 0.05^2)."""
    t = torch.arange(n, dtype=torch.float64)
    y = 0.001 * t + 0.5 * torch.sin(2 * math.pi * t / 24.0) + 0.3 * torch.sin(
        2 * math.pi * t / 168.0)
    y = y + 0.05 * torch.randn(n, generator=generator, dtype=torch.float64)
    return y.numpy()


# name -> (loader attribute, column, season length of the data's sampling)
STATSMODELS_SERIES = {"sunspots": ("sunspots", "SUNACTIVITY", 11), "co2": ("co2", "co2", 52)}


def statsmodels_series(name: str) -> tuple[np.ndarray, int]:
    """(values, season) of a series that statsmodels ships; NaNs linearly interpolated."""
    if name not in STATSMODELS_SERIES:
        raise ValueError(f"series must be one of {sorted(STATSMODELS_SERIES)}; got {name!r}")
    try:
        from statsmodels import datasets
    except ImportError as error:
        raise MissingSource(
            f"series {name!r} needs statsmodels (pip install statsmodels)") from error
    module, column, season = STATSMODELS_SERIES[name]
    values = getattr(datasets, module).load_pandas().data[column].to_numpy(dtype=np.float64,
                                                                      copy=True)
    bad = ~np.isfinite(values)
    if bad.any():
        idx = np.arange(values.size)
        values[bad] = np.interp(idx[bad], idx[~bad], values[~bad])
    return values, season


def scale_to_bytes(values: np.ndarray, lo: float | None = None, hi: float | None = None
                   ) -> np.ndarray:
    """Map [lo, hi] (default: the data's range, as the seed does) onto 0..255 (uint8)."""
    v = np.asarray(values, dtype=np.float64)
    lo = float(v.min()) if lo is None else lo
    hi = float(v.max()) if hi is None else hi
    z = (v - lo) / max(1e-12, hi - lo)
    levels = np.round(255.0 * z)
    return levels.clip(0, 255).astype(np.uint8)


# ====================================================================== images


@dataclass
class ImageSet:
    name: str
    images: np.ndarray  # (N, H, W) uint8
    labels: np.ndarray  # (N,) int64; -1 when unlabelled


def sklearn_digits() -> ImageSet:
    """scikit-learn's bundled 8x8 digits (1797 images), grey levels 0..16 scaled to 0..255."""
    from sklearn.datasets import load_digits

    d = load_digits()
    images = np.clip(np.round(d.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)
    return ImageSet("sklearn digits 8x8", images, d.target.astype(np.int64))


def sample_image_patches(size: int = 16, per_image: int = 40, seed: int = 0) -> ImageSet:
    """Grey patches from scikit-learn's two bundled photographs (china.jpg, flower.jpg),
    downsampled 4x so a patch holds a recognisable structure."""
    from sklearn.datasets import load_sample_images

    rng = np.random.default_rng(seed)
    patches = []
    for photo in load_sample_images().images:
        grey = photo.astype(np.float64).mean(axis=2)
        h, w = (grey.shape[0] // 4) * 4, (grey.shape[1] // 4) * 4
        small = grey[:h, :w].reshape(h // 4, 4, w // 4, 4).mean(axis=(1, 3))
        for _ in range(per_image):
            y = int(rng.integers(0, small.shape[0] - size))
            x = int(rng.integers(0, small.shape[1] - size))
            patches.append(small[y:y + size, x:x + size])
    images = np.clip(np.round(np.stack(patches)), 0, 255).astype(np.uint8)
    return ImageSet(f"sklearn sample images, {size}x{size} patches", images,
                    np.full(len(images), -1, dtype=np.int64))


MNIST_FILES = {
    "train_images": ("train-images-idx3-ubyte", 2051),
    "train_labels": ("train-labels-idx1-ubyte", 2049),
    "test_images": ("t10k-images-idx3-ubyte", 2051),
    "test_labels": ("t10k-labels-idx1-ubyte", 2049),
}


def read_idx(path: str | Path, expected_magic: int) -> np.ndarray:
    """Read one IDX file (optionally .gz) of unsigned bytes; checks magic and size."""
    p = Path(path)
    opener = gzip.open if p.suffix == ".gz" else open
    try:
        with opener(p, "rb") as handle:
            raw = handle.read()
    except OSError as error:
        raise DataError(f"{p}: cannot read ({error})") from None
    if len(raw) < 8:
        raise DataError(f"{p}: too short for an IDX header ({len(raw)} bytes)")
    magic = struct.unpack(">I", raw[:4])[0]
    if magic != expected_magic:
        raise DataError(f"{p}: IDX magic {magic}, expected {expected_magic}")
    ndim = magic & 0xFF
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    body = raw[4 + 4 * ndim:]
    if len(body) != int(np.prod(dims)):
        raise DataError(f"{p}: header says {dims} = {int(np.prod(dims))} bytes, "
                        f"file holds {len(body)}")
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)


def _find(directory: Path, stem: str) -> Path:
    for candidate in (directory / stem, directory / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise DataError(f"--mnist-dir {directory}: missing {stem} (or {stem}.gz)")


def load_mnist_idx(directory: str | Path) -> tuple[ImageSet, ImageSet]:
    """(train, test) MNIST from the four IDX files in a user-given directory."""
    d = Path(directory)
    if not d.is_dir():
        raise DataError(f"--mnist-dir {d}: no such directory")
    arrays = {key: read_idx(_find(d, stem), magic) for key, (stem, magic) in MNIST_FILES.items()}
    for part in ("train", "test"):
        if len(arrays[f"{part}_images"]) != len(arrays[f"{part}_labels"]):
            raise DataError(f"--mnist-dir {d}: {part} images and labels differ in count")
    return (ImageSet("MNIST train", arrays["train_images"],
                     arrays["train_labels"].astype(np.int64)),
            ImageSet("MNIST test", arrays["test_images"], arrays["test_labels"].astype(np.int64)))


# ====================================================================== audio


def synthetic_tone(n: int, generator: torch.Generator) -> np.ndarray:
    """The seed's tone: f1 = 220 + randint(0, 440), partials f1, 2 f1, 1.5 f1 with amplitudes
    0.5 / 0.3 / 0.2, envelope exp(-3 t) over t in [0, 1], peak-normalised."""
    t = torch.linspace(0.0, 1.0, n, dtype=torch.float64)
    f1 = 220.0 + float(torch.randint(0, 440, (1,), generator=generator))
    y = (0.5 * torch.sin(2 * math.pi * f1 * t) + 0.3 * torch.sin(2 * math.pi * 2 * f1 * t)
         + 0.2 * torch.sin(2 * math.pi * 1.5 * f1 * t)) * torch.exp(-3.0 * t)
    return (y / (y.abs().max() + 1e-8)).numpy()


def float_to_bytes(x: np.ndarray) -> np.ndarray:
    """[-1, 1] -> 0..255 (the seed's audio quantisation)."""
    return np.clip(np.round((np.clip(x, -1, 1) + 1.0) * 0.5 * 255.0), 0, 255).astype(np.uint8)


def bytes_to_float(b: np.ndarray) -> np.ndarray:
    return np.asarray(b, dtype=np.float64) / 255.0 * 2.0 - 1.0


@dataclass
class Voices:
    origin: str  # "espeak-ng" or "synthetic"
    sample_rate: int
    stems: list[np.ndarray]  # two float signals in [-1, 1], equal length
    names: list[str]


ESPEAK_VOICES = (("en-us", "The quick brown fox jumps over the lazy dog near the river bank."),
                 ("en+f3", "She sells sea shells by the sea shore on a bright summer morning."))


def _resample(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    if rate_in == rate_out:
        return x
    from scipy.signal import resample_poly

    g = math.gcd(rate_in, rate_out)
    return resample_poly(x, rate_out // g, rate_in // g)


def _read_wav(path: Path) -> tuple[int, np.ndarray]:
    with wave.open(str(path), "rb") as wf:
        rate, channels, width = wf.getframerate(), wf.getnchannels(), wf.getsampwidth()
        raw = wf.readframes(wf.getnframes())
    if width != 2:
        raise DataError(f"{path}: only 16-bit PCM WAV is supported; got {8 * width}-bit")
    x = np.frombuffer(raw, dtype="<i2").astype(np.float64) / 32768.0
    return rate, x.reshape(-1, channels).mean(axis=1)


def espeak_voices(sample_rate: int, seconds: float) -> Voices:
    """Two different espeak-ng voices reading different sentences (needs `espeak-ng`)."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise MissingSource("espeak-ng is not on PATH (apt-get install espeak-ng)")
    stems = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (voice, sentence) in enumerate(ESPEAK_VOICES):
            out = Path(tmp) / f"voice{i}.wav"
            done = subprocess.run([exe, "-v", voice, "-s", "150", "-w", str(out), sentence],
                                  capture_output=True, text=True, timeout=60)
            if done.returncode != 0 or not out.is_file():
                raise MissingSource(f"espeak-ng voice {voice!r} failed: {done.stderr.strip()}")
            rate, x = _read_wav(out)
            stems.append(_resample(x, rate, sample_rate))
    return Voices("espeak-ng", sample_rate, _equalise(stems, int(seconds * sample_rate)),
                  [v for v, _ in ESPEAK_VOICES])


def _equalise(stems: list[np.ndarray], n: int, trim: bool = True) -> list[np.ndarray]:
    """Trim leading silence (speech), cut or zero-pad to n samples, scale each to peak 0.45
    so the sum of the two stays inside [-1, 1]."""
    out = []
    for x in stems:
        loud = np.flatnonzero(np.abs(x) > 0.02 * (np.abs(x).max() + 1e-12))
        x = x[loud[0]:] if (trim and loud.size) else x
        x = np.pad(x[:n], (0, max(0, n - len(x))))
        out.append(0.45 * x / (np.abs(x).max() + 1e-12))
    return out


def synthetic_voices(sample_rate: int, seconds: float, generator: torch.Generator) -> Voices:
    """Two voice-like sources: a harmonic buzz (f0 110 Hz vs 210 Hz, 5 Hz vibrato, 1/k
    partials) under a syllable envelope at a different rate that never falls below 0.2, so
    the two always overlap in time and differ in pitch."""
    n = int(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    stems = []
    for f0, syllable_rate in ((110.0, 3.1), (210.0, 4.3)):
        phase0 = float(torch.rand(1, generator=generator, dtype=torch.float64)) * 2 * math.pi
        f = f0 * (1 + 0.03 * np.sin(2 * math.pi * 5.0 * t + phase0))
        phase = 2 * math.pi * np.cumsum(f) / sample_rate
        buzz = sum(np.sin(k * phase) / k for k in range(1, 9))
        env = 0.2 + 0.8 * np.clip(np.sin(math.pi * syllable_rate * t + phase0), 0, None) ** 2
        stems.append(buzz * env)
    return Voices("synthetic", sample_rate, _equalise(stems, n, trim=False),
                  ["buzz 110 Hz", "buzz 210 Hz"])


def load_voices(sample_rate: int, seconds: float, generator: torch.Generator
                ) -> tuple[Voices, str | None]:
    """espeak-ng voices when available, else synthetic ones; second item says why not."""
    try:
        return espeak_voices(sample_rate, seconds), None
    except MissingSource as why:
        return synthetic_voices(sample_rate, seconds, generator), str(why)


__all__ = [
    "DataError",
    "ImageSet",
    "MissingSource",
    "Voices",
    "bytes_to_float",
    "default_text",
    "espeak_voices",
    "float_to_bytes",
    "load_mnist_idx",
    "load_text",
    "load_voices",
    "read_idx",
    "sample_image_patches",
    "scale_to_bytes",
    "sklearn_digits",
    "statsmodels_series",
    "synthetic_series",
    "synthetic_tone",
    "synthetic_voices",
]
