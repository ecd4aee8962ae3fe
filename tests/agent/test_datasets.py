from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from thermo_manifold.agent.datasets import (DatasetError, atlas2d_samples, load_dataset,
                                            load_mnist_idx, read_idx, write_idx)
from thermo_manifold.device import make_generator


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int32, np.float32, np.float64])
def test_idx_round_trip(tmp_path, suffix, dtype):
    rng = np.random.default_rng(0)
    array = (rng.normal(size=(5, 3, 4)) * 50).astype(dtype)
    path = write_idx(tmp_path / f"a{suffix}", array)
    back = read_idx(path)
    assert back.shape == (5, 3, 4) and back.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back, array)


def test_idx_header_is_big_endian_lecun_format(tmp_path):
    path = write_idx(tmp_path / "labels", np.array([7, 1, 255], dtype=np.uint8))
    assert path.read_bytes() == bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 1, 255])


def test_malformed_idx_is_a_clear_error(tmp_path):
    (tmp_path / "junk").write_bytes(b"\x01\x02\x03")
    with pytest.raises(DatasetError, match="not an IDX file"):
        read_idx(tmp_path / "junk")
    (tmp_path / "short").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 9, 1, 2]))
    with pytest.raises(DatasetError, match="header says shape"):
        read_idx(tmp_path / "short")
    (tmp_path / "type").write_bytes(bytes([0, 0, 0x42, 1, 0, 0, 0, 1, 0]))
    with pytest.raises(DatasetError, match="type code"):
        read_idx(tmp_path / "type")


def _write_mnist(directory, n, prefix="train", gz=False, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 6, 5), dtype=np.uint8)
    labels = rng.integers(0, 4, size=n, dtype=np.uint8)
    ext = ".gz" if gz else ""
    write_idx(directory / f"{prefix}-images-idx3-ubyte{ext}", images)
    write_idx(directory / f"{prefix}-labels-idx1-ubyte{ext}", labels)
    return images, labels


def test_mnist_idx_loader_splits_and_scales(tmp_path):
    images, labels = _write_mnist(tmp_path, 40, gz=True)
    data = load_mnist_idx(tmp_path, make_generator(0))
    assert data.x_train.shape == (32, 30) and data.x_test.shape == (8, 30)
    assert data.image_shape == (6, 5) and data.num_classes == int(labels.max()) + 1
    assert 0 <= float(data.x_train.min()) and float(data.x_train.max()) <= 1
    # images stay paired with their labels through the shuffle
    flat = images.reshape(40, -1) / 255.0
    for x, y in zip(data.x_test, data.y_test):
        row = int(np.argmin(np.abs(flat - x.numpy()).sum(1)))
        assert labels[row] == int(y)


def test_mnist_idx_uses_t10k_as_test_split(tmp_path):
    _write_mnist(tmp_path, 30)
    test_images, test_labels = _write_mnist(tmp_path, 12, prefix="t10k", seed=1)
    data = load_mnist_idx(tmp_path, make_generator(0))
    assert data.x_train.shape[0] == 30 and data.x_test.shape[0] == 12
    flat = test_images.reshape(12, -1) / 255.0
    for x, y in zip(data.x_test, data.y_test):
        row = int(np.argmin(np.abs(flat - x.numpy()).sum(1)))
        assert test_labels[row] == int(y)


def test_mnist_idx_missing_files(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_mnist_idx(tmp_path / "nope", make_generator(0))
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte"):
        load_mnist_idx(tmp_path, make_generator(0))


def test_digits_split_is_disjoint_and_seeded():
    a = load_dataset("digits", make_generator(0))
    b = load_dataset("digits", make_generator(0))
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert a.x_train.shape == (1438, 64) and a.x_test.shape == (359, 64)
    train_rows = {tuple(r.tolist()) for r in a.x_train}
    overlap = sum(tuple(r.tolist()) in train_rows for r in a.x_test)
    assert overlap < 10  # a few digits images are exact duplicates in the bundled set
    assert float(a.x_train.max()) <= 1.0


def test_atlas2d_transitions_follow_their_actions(generator):
    x, label, x_next, action = atlas2d_samples(500, generator, sectors=6, noise=0.0)
    radius = x.norm(dim=1)
    assert ((radius >= 0.5 - 1e-5) & (radius <= 1 + 1e-5)).all()
    theta = torch.atan2(x[:, 1], x[:, 0]) % (2 * math.pi)
    assert torch.equal(label, torch.floor(theta / (2 * math.pi) * 6).long().clamp(max=5))
    theta_next = torch.atan2(x_next[:, 1], x_next[:, 0])
    d_theta = torch.remainder(theta_next - torch.atan2(x[:, 1], x[:, 0]) + math.pi, 2 * math.pi) - math.pi
    assert torch.allclose(d_theta, action[:, 0], atol=1e-4)
    assert torch.allclose(x_next.norm(dim=1) - radius, action[:, 1], atol=1e-5)


def test_unknown_dataset_name():
    with pytest.raises(DatasetError, match="digits, mnist-idx, atlas2d"):
        load_dataset("cifar", make_generator(0))


def test_mnist_idx_refuses_what_would_fail_later(tmp_path):
    # a file where the directory belongs
    images, _ = _write_mnist(tmp_path, 20)
    with pytest.raises(DatasetError, match="is a file"):
        load_mnist_idx(tmp_path / "train-images-idx3-ubyte", make_generator(0))
    # test images of another size than the training images
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((4, 4, 4), dtype=np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.arange(4, dtype=np.uint8))
    with pytest.raises(DatasetError, match="4x4 images but .* 6x5"):
        load_mnist_idx(tmp_path, make_generator(0))
    # labels that are not 0..K-1 would silently build one chart per missing value
    sparse = tmp_path / "sparse"
    sparse.mkdir()
    write_idx(sparse / "train-images-idx3-ubyte", images)
    write_idx(sparse / "train-labels-idx1-ubyte",
              np.where(np.arange(20) % 2 == 0, 0, 200).astype(np.uint8))
    with pytest.raises(DatasetError, match=r"0..K-1.*2 distinct values \[0, 200\]"):
        load_mnist_idx(sparse, make_generator(0))
