from __future__ import annotations

import gzip
import shutil
import struct

import numpy as np
import pytest

from thermo_manifold.device import make_generator
from thermo_manifold.sensorium import datasets as d


def test_default_text_is_english_prose():
    name, text = d.load_text()
    assert name == "pydoc_data.topics"
    assert len(text) > 100_000 and b" the " in text


def test_text_file_errors(tmp_path):
    with pytest.raises(d.DataError, match="no such file"):
        d.load_text(tmp_path / "missing.txt")
    short = tmp_path / "short.txt"
    short.write_bytes(b"hi")
    with pytest.raises(d.DataError, match="need at least"):
        d.load_text(short)


def _write_idx(path, array, magic):
    header = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_mnist_idx_round_trip_and_malformed_files(tmp_path):
    imgs = np.arange(3 * 28 * 28).reshape(3, 28, 28) % 256
    labels = np.array([1, 2, 3])
    _write_idx(tmp_path / "train-images-idx3-ubyte", imgs, 2051)
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels, 2049)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte", imgs[:2], 2051)
    with pytest.raises(d.DataError, match="missing t10k-labels"):
        d.load_mnist_idx(tmp_path)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels[:2], 2049)
    train, test = d.load_mnist_idx(tmp_path)
    assert np.array_equal(train.images, imgs) and train.labels.tolist() == [1, 2, 3]
    assert test.images.shape == (2, 28, 28)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(struct.pack(">I", 1234) + b"\0" * 8)
    with pytest.raises(d.DataError, match="magic"):
        d.load_mnist_idx(tmp_path)
    with pytest.raises(d.DataError, match="no such directory"):
        d.load_mnist_idx(tmp_path / "nope")


def test_series_and_scaling():
    y = d.synthetic_series(500, make_generator(0))
    assert np.array_equal(y, d.synthetic_series(500, make_generator(0)))
    b = d.scale_to_bytes(y)
    assert b.dtype == np.uint8 and b.min() == 0 and b.max() == 255


def test_statsmodels_series_or_a_clear_missing_source():
    try:
        values, season = d.statsmodels_series("sunspots")
    except d.MissingSource as why:
        assert "statsmodels" in str(why)
    else:
        assert len(values) == 309 and season == 11 and np.isfinite(values).all()
        co2, _ = d.statsmodels_series("co2")  # has NaNs, filled by interpolation
        assert len(co2) == 2284 and np.isfinite(co2).all()
    with pytest.raises(ValueError):
        d.statsmodels_series("nope")


def test_images_tones_and_voices():
    digits = d.sklearn_digits()
    assert digits.images.shape == (1797, 8, 8) and digits.images.max() == 255
    patches = d.sample_image_patches(size=16, per_image=3)
    assert patches.images.shape == (6, 16, 16)
    tone = d.synthetic_tone(1000, make_generator(1))
    assert abs(np.abs(tone).max() - 1.0) < 1e-6
    assert np.array_equal(d.bytes_to_float(d.float_to_bytes(np.array([-1.0, 1.0]))), [-1, 1])
    voices, why = d.load_voices(4000, 0.5, make_generator(0))
    assert len(voices.stems) == 2 and all(len(s) == 2000 for s in voices.stems)
    assert max(np.abs(voices.stems[0] + voices.stems[1])) <= 1.0
    if why is not None:
        assert voices.origin == "synthetic" and "espeak-ng" in why


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_espeak_voices_are_two_different_real_speakers():
    """Where espeak-ng exists (CI installs it), the cocktail party gets real speech."""
    voices, why = d.load_voices(8000, 1.0, make_generator(0))
    assert why is None and voices.origin == "espeak-ng"
    first, second = (np.asarray(stem, dtype=np.float64) for stem in voices.stems)
    assert first.std() > 0.01 and second.std() > 0.01
    assert abs(np.corrcoef(first, second)[0, 1]) < 0.5
