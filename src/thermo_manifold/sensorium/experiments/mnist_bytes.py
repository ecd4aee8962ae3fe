"""mnist_bytes: classify images streamed as bytes, label last (seed: kernel_mnist_bytes.py).

Training streams each image's pixel bytes (position-hashed), then its label id with twice the
particles and 1.5x the energy; the particles are cleared between images, the carriers stay.
Evaluation streams an image and takes the argmax of the label-id scores. Data: scikit-learn's
8x8 digits (a seeded split), or MNIST from --mnist-dir. The seed steps every 64 bytes of a
784-byte MNIST image (12 steps per image); `steps_per_image` keeps that count for any size.
Baselines on the same split and pixels: majority class, nearest centroid, logistic regression.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from thermo_manifold.device import make_generator
from thermo_manifold.sensorium.baselines import classification_baselines
from thermo_manifold.sensorium.datasets import ImageSet, load_mnist_idx, sklearn_digits
from thermo_manifold.sensorium.engine import EngineConfig, TokenEngine


@dataclass(frozen=True)
class Config:
    train_samples: int = 300  # seed
    eval_samples: int = 100  # seed
    steps_per_image: int = 12  # seed: 784 bytes, a step every 64
    label_particle_factor: int = 2  # seed
    label_energy_factor: float = 1.5  # seed
    engine: EngineConfig = EngineConfig()

    @classmethod
    def quick(cls) -> "Config":
        return cls(train_samples=30, eval_samples=20, steps_per_image=2)


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


def run(cfg: Config, ctx, report) -> dict:
    name, x_train, y_train, x_test, y_test = split(ctx, cfg)
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
    num_labels = len(label_ids)
    confusion = np.zeros((num_labels, num_labels), dtype=np.int64)
    np.add.at(confusion, (y_test, predictions), 1)

    # ---------------------------------------------------------------- baselines
    rows = [{"method": "manifold", "accuracy": float(np.mean(predictions == y_test))}]
    rows += classification_baselines(x_train.reshape(len(x_train), -1), y_train,
                                     x_test.reshape(len(x_test), -1), y_test, seed=ctx.seed)
    caption = (f"Classification from raw bytes on {name}: {len(y_train)} training and "
               f"{len(y_test)} test images, same split for every method.")
    report.table("mnist_bytes", rows, ["method", "accuracy"], caption)
    report.compare("mnist_bytes", rows, "accuracy", higher_is_better=True)

    from thermo_manifold.sensorium.report import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.6, 4))
    im = ax.imshow(confusion, cmap="Blues")
    fig.colorbar(im, ax=ax)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"manifold confusion (accuracy {rows[0]['accuracy']:.2f})", fontsize=9)
    report.figure(fig, "mnist_bytes_confusion")
    return {"source": name, "confusion": confusion,
            "predicted_label_counts": np.bincount(predictions, minlength=num_labels)}
