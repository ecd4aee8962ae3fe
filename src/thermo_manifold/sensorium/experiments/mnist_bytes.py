"""mnist_bytes: classify images streamed as bytes, label last (seed: kernel_mnist_bytes.py).

Training streams each image's pixel bytes (position-hashed), then its label id with twice the
particles and 1.5x the energy; the particles are cleared between images, the carriers stay.
Evaluation streams an image and takes the argmax of the label-id scores. Data: scikit-learn's
8x8 digits (a seeded split), or MNIST from --mnist-dir. The seed steps every 64 bytes of a
784-byte MNIST image (12 steps per image); `steps_per_image` keeps that count for any size.
Baselines on the same split and pixels: majority class, nearest centroid, logistic regression.

`--readout reservoir` (the default) uses every digit, split 75/25 stratified by label (seeded),
and adds the reservoir rows (`reservoir_rows.py`): each image lands whole in the manifold
(`ManifoldReservoir.image`: pixels at their image coordinates, intensity as energy), the physics
runs `physics_steps` steps, and a softmax readout of [features, pixels] classifies; the ESN and
the decaying bag read the image as a raster stream. The seed's readout stays as the row
`manifold, seed readout`, trained on the first `train_samples` training images and scored on
the first `eval_samples` test images of the same split (the `test images` column says so): the
seed's per-image streaming is too slow for the whole split.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass, field

import numpy as np
import torch

from thermo_manifold.device import make_generator
from thermo_manifold.sensorium.baselines import classification_baselines
from thermo_manifold.sensorium.datasets import ImageSet, load_mnist_idx, sklearn_digits
from thermo_manifold.sensorium.engine import EngineConfig, TokenEngine
from thermo_manifold.sensorium.reservoir import ReservoirConfig
from thermo_manifold.sensorium.reservoir_rows import (RowsConfig, fit_classifiers,
                                                      image_features)

READOUTS = ("reservoir", "seed")


def image_reservoir(pixels: int = 64) -> ReservoirConfig:
    """The reservoir for digits: 16 grey-level bands as tokens (excitation histograms count the
    pixels of each level), fields pooled over 2^3 blocks (8^3 blocks of the 16^3 grid, so the
    pooled mass field keeps the 8 x 8 picture) and room for one particle per pixel."""
    return ReservoirConfig(vocab=16, pool=2, particles_per_token=1, max_particles=pixels)


@dataclass(frozen=True)
class Config:
    train_samples: int = 300  # seed
    eval_samples: int = 100  # seed
    steps_per_image: int = 12  # seed: 784 bytes, a step every 64
    label_particle_factor: int = 2  # seed
    label_energy_factor: float = 1.5  # seed
    engine: EngineConfig = EngineConfig()
    # The reservoir readout: every digit (None), or the first `subset` of a stratified shuffle.
    subset: int | None = None
    test_fraction: float = 0.25
    physics_steps: int = 8  # steps after an image lands, before it is read
    mnist_train: int = 2000  # images per split when MNIST IDX files are given
    mnist_test: int = 500
    rows: RowsConfig = field(default_factory=lambda: RowsConfig(reservoir=image_reservoir()))

    @classmethod
    def quick(cls) -> "Config":
        return cls(train_samples=30, eval_samples=20, steps_per_image=2, subset=320,
                   physics_steps=2)


def split(ctx, cfg: Config) -> tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    if ctx.mnist_dir is not None:
        train, test = load_mnist_idx(ctx.mnist_dir)
        return ("MNIST (IDX files)", train.images[: cfg.train_samples],
                train.labels[: cfg.train_samples], test.images[: cfg.eval_samples],
                test.labels[: cfg.eval_samples])
    digits: ImageSet = sklearn_digits()
    order = torch.randperm(len(digits.labels), generator=make_generator(ctx.seed)).numpy()
    tr, te = order[: cfg.train_samples], order[cfg.train_samples: cfg.train_samples
                                                 + cfg.eval_samples]
    return (digits.name, digits.images[tr], digits.labels[tr], digits.images[te],
            digits.labels[te])


def stratified_split(ctx, cfg: Config) -> tuple[str, np.ndarray, np.ndarray, np.ndarray,
                                                 np.ndarray]:
    """The reservoir readout's split: every digit (or a stratified `subset`), 75/25 stratified
    by label, seeded; with MNIST files their own split, the first mnist_train / mnist_test."""
    if ctx.mnist_dir is not None:
        train, test = load_mnist_idx(ctx.mnist_dir)
        return ("MNIST (IDX files)", train.images[: cfg.mnist_train],
                train.labels[: cfg.mnist_train], test.images[: cfg.mnist_test],
                test.labels[: cfg.mnist_test])
    from sklearn.model_selection import train_test_split

    digits: ImageSet = sklearn_digits()
    index = np.arange(len(digits.labels))
    if cfg.subset is not None:
        index, _ = train_test_split(index, train_size=cfg.subset, stratify=digits.labels,
                                    random_state=ctx.seed)
    tr, te = train_test_split(index, test_size=cfg.test_fraction,
                              stratify=digits.labels[index], random_state=ctx.seed)
    return (digits.name, digits.images[tr], digits.labels[tr], digits.images[te],
            digits.labels[te])


def seed_readout(cfg: Config, ctx, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                 y_test: np.ndarray) -> tuple[np.ndarray, int]:
    """The seed's readout: stream each training image then its label; predict a test image by
    the argmax of the label scores. Returns the predictions and the number of labels."""
    pixels = int(np.prod(x_train.shape[1:]))
    step_every = max(1, math.ceil(pixels / cfg.steps_per_image))
    engine = TokenEngine(cfg.engine, seed=ctx.seed, device=ctx.device)
    label_ids = engine.tokenizer.label_ids()

    # ---------------------------------------------------------------- manifold: train
    for image, label in ctx.bar(zip(x_train, y_train), len(y_train), "mnist_bytes train"):
        engine.reset()
        engine.observe(image.reshape(-1).tolist(), 0, step_every=step_every)
        engine.inject_ids(label_ids[int(label): int(label) + 1],
                          particles=cfg.engine.particles_per_token * cfg.label_particle_factor,
                          energy_scale=cfg.engine.energy_scale * cfg.label_energy_factor)
        engine.step()

    # ---------------------------------------------------------------- manifold: evaluate
    predictions = np.zeros(len(y_test), dtype=np.int64)
    for i, image in enumerate(ctx.bar(x_test, len(y_test), "mnist_bytes eval")):
        engine.reset()
        engine.observe(image.reshape(-1).tolist(), 0, step_every=step_every)
        predictions[i] = int(torch.argmax(engine.score_ids(label_ids)))
    return predictions, len(label_ids)


def run(cfg: Config, ctx, report) -> dict:
    readout = ctx.readout_for(sys.modules[__name__])
    if readout == "seed":
        name, x_train, y_train, x_test, y_test = split(ctx, cfg)
        predictions, num_labels = seed_readout(cfg, ctx, x_train, y_train, x_test, y_test)
        rows = [{"method": "manifold", "accuracy": float(np.mean(predictions == y_test))}]
        columns = ["method", "accuracy"]
        shown, truth, shown_name = predictions, y_test, "manifold"
        caption = (f"Classification from raw bytes on {name}: {len(y_train)} training and "
                   f"{len(y_test)} test images, same split for every method.")
        extra = {}
    else:
        name, x_train, y_train, x_test, y_test = stratified_split(ctx, cfg)
        n_seed_train = min(cfg.train_samples, len(y_train))
        n_seed_test = min(cfg.eval_samples, len(y_test))
        seed_predictions, num_labels = seed_readout(cfg, ctx, x_train[:n_seed_train],
                                                    y_train[:n_seed_train],
                                                    x_test[:n_seed_test], y_test[:n_seed_test])
        images = np.concatenate([x_train, x_test]).astype(np.float64) / 255.0
        labels = np.concatenate([y_train, y_test])
        train = np.arange(len(y_train))
        test = np.arange(len(y_train), len(labels))
        bar = lambda it, total, desc: ctx.bar(it, total, f"mnist_bytes {desc}")  # noqa: E731
        pixels = int(np.prod(images.shape[1:]))
        rows_cfg = cfg.rows  # room for one particle per pixel (784 for MNIST)
        if pixels > rows_cfg.reservoir.max_particles:
            rows_cfg = dataclasses.replace(
                rows_cfg, reservoir=rows_cfg.reservoir.replace(max_particles=pixels))
        sets = image_features(images, rows_cfg, ctx.seed, cfg.physics_steps, bar=bar)
        fitted, predicted = fit_classifiers(sets, labels, train, test, rows_cfg, num_labels)
        rows = [{**r, "test images": len(test)} for r in fitted]
        rows.append({"method": "manifold, seed readout", "test images": n_seed_test,
                     "accuracy": float(np.mean(seed_predictions == y_test[:n_seed_test]))})
        columns = ["method", "accuracy", "bits", "test images"]
        shown_name = fitted[0]["method"]
        shown, truth = predicted[shown_name], y_test
        caption = (f"Classification of {name}: {len(y_train)} training and {len(y_test)} test "
                   f"images (stratified {1 - cfg.test_fraction:.0%}/{cfg.test_fraction:.0%} "
                   "split, the same for every method); reservoir rows: a softmax readout of "
                   "[features, pixels], L2 chosen on the training tail; bits = test log-loss "
                   "per image. The seed readout is trained and scored on the first images of "
                   "the same split (the `test images` column).")
        extra = {"reservoir_features": rows_cfg.reservoir.n_features}
    rows += [{**r, **({"test images": len(y_test)} if readout == "reservoir" else {})}
             for r in classification_baselines(x_train.reshape(len(x_train), -1), y_train,
                                               x_test.reshape(len(x_test), -1), y_test,
                                               seed=ctx.seed)]
    report.table("mnist_bytes", rows, columns, caption)
    report.compare("mnist_bytes", rows, "accuracy", higher_is_better=True)

    confusion = np.zeros((num_labels, num_labels), dtype=np.int64)
    np.add.at(confusion, (truth, shown), 1)

    from thermo_manifold.sensorium.report import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.6, 4))
    im = ax.imshow(confusion, cmap="Blues")
    fig.colorbar(im, ax=ax)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    accuracy = float(np.mean(shown == truth))
    ax.set_title(f"{shown_name} confusion (accuracy {accuracy:.2f})", fontsize=9)
    report.figure(fig, "mnist_bytes_confusion")
    return {"source": name, "confusion": confusion,
            "predicted_label_counts": np.bincount(shown, minlength=num_labels), **extra}
