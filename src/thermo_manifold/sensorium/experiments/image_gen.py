"""image_gen: inpaint 20% masked pixels (seed: kernel_image_gen.py).

Data: scikit-learn digits (or MNIST from --mnist-dir) and grey 16x16 patches of scikit-learn's
two sample photographs. Baselines on the same masks: zero fill, the observed mean, and a
neighbour (harmonic) interpolation. MSE is in [0, 1] pixel units.

`--readout seed`: the seed's byte completion. Training streams whole images (a step every
`ingest_step_every` bytes); evaluation clears the particles, streams the observed pixels, then
fills the masked ones in a random order: predict, inject, step.

`--readout reservoir` (the default): every image of a data set (at most `max_images`) is split
into training and test images (seeded, `test_fraction` for test). Each training image gets
`train_masks` fresh random masks, each test image one; every (image, mask) pair lands in the
reservoirs with its masked pixels absent (`ManifoldReservoir.image`, `physics_steps` steps; the
ESN and the decaying bag read the masked image as a raster stream), so nothing downstream can
see a hidden pixel. One multi-output ridge readout per row maps [features, observed pixels,
mask] to every pixel value, fitted on the training pairs (alpha, and the bag's decay, chosen on
the training tail); a masked pixel of a test image takes the readout's value. The seed's
procedure stays as the row `manifold, seed readout`, trained on the first `train_images`
training images and scored on the first `eval_images` test images with the same masks (the
`test images` column says which rows saw what).
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from thermo_manifold.device import make_generator
from thermo_manifold.sensorium.baselines import constant_fill, mean_fill, neighbour_fill
from thermo_manifold.sensorium.datasets import load_mnist_idx, sample_image_patches, sklearn_digits
from thermo_manifold.sensorium.engine import (
    EngineConfig,
    TokenEngine,
    observe_all_but_a_fraction,
)
from thermo_manifold.sensorium.reservoir import ReservoirConfig, reservoir_physics
from thermo_manifold.sensorium.reservoir_rows import (
    FeatureSets,
    RowsConfig,
    fit_regressors,
    image_features,
)
from thermo_manifold.sensorium.threads import one_thread

READOUTS = ("reservoir", "seed")
DATASETS = ("digits", "photo patches")
SEED_ROW = "manifold, seed readout"
SHOWN = ("manifold reservoir", SEED_ROW, "no memory", "mean fill", "neighbour interpolation")


def image_reservoir(pixels: int = 64) -> ReservoirConfig:
    """The reservoir for images: as in mnist_bytes, 16 grey-level bands as tokens (the
    excitation histograms count the observed pixels of each level), fields pooled over 2^3
    blocks (8 x 8 blocks across the picture, so the pooled mass field keeps the picture) and
    one particle per pixel; but on a 16 x 16 x 4 slab rather than a 16^3 cube. An image lands
    flat in the mid plane, so the cube's outer z-layers hold no mass and only repeat the smooth
    potential: measured on both data sets, the slab gives the same MSE (within 1%) with 512
    features instead of 1664, which makes the ESN beside it and every ridge fit cheaper."""
    return ReservoirConfig(vocab=16, pool=2, particles_per_token=1, max_particles=pixels,
                           physics_config=reservoir_physics((16, 16, 4)))


def _check_int(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}; got {value!r}")


def _check_fraction(name: str, value: Any) -> None:
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or not 0.0 < value < 1.0):
        raise ValueError(f"{name} must be a number in (0, 1); got {value!r}")


@dataclass(frozen=True)
class Config:
    train_images: int = 60  # seed (the seed readout's training images)
    eval_images: int = 12  # seed (the seed readout's test images)
    mask_fraction: float = 0.20  # seed
    ingest_step_every: int = 64  # seed
    datasets: tuple[str, ...] = DATASETS
    engine: EngineConfig = EngineConfig()
    # The reservoir readout.
    test_fraction: float = 0.25
    train_masks: int = 3  # random masks per training image (more pairs to learn from)
    physics_steps: int = 8  # steps after a masked image lands, before it is read
    max_images: int = 2000  # per data set (all 1797 digits; MNIST's first ones)
    patches_per_photo: int = 300  # photo patches per photograph (the seed path keeps 40)
    rows: RowsConfig = field(default_factory=lambda: RowsConfig(reservoir=image_reservoir()))

    def __post_init__(self) -> None:
        for name, low in (("train_images", 1), ("eval_images", 1), ("ingest_step_every", 1),
                          ("train_masks", 1), ("physics_steps", 0), ("max_images", 8),
                          ("patches_per_photo", 1)):
            _check_int(name, getattr(self, name), low)
        _check_fraction("mask_fraction", self.mask_fraction)
        _check_fraction("test_fraction", self.test_fraction)
        if not self.datasets or any(d not in DATASETS for d in self.datasets):
            raise ValueError(f"datasets must be a non-empty subset of {DATASETS}; got "
                             f"{self.datasets!r}")
        if not isinstance(self.engine, EngineConfig):
            raise ValueError(f"engine must be an EngineConfig; got {self.engine!r}")
        if not isinstance(self.rows, RowsConfig):
            raise ValueError(f"rows must be a RowsConfig; got {self.rows!r}")

    @classmethod
    def quick(cls) -> "Config":
        return cls(train_images=6, eval_images=3, ingest_step_every=32, datasets=("digits",),
                   train_masks=1, physics_steps=2, max_images=200)


def images(name: str, ctx, seed: int, per_photo: int = 40) -> tuple[str, np.ndarray]:
    if name == "digits":
        if ctx.mnist_dir is not None:
            train, _ = load_mnist_idx(ctx.mnist_dir)
            return "MNIST (IDX files)", train.images
        digits = sklearn_digits()
        return digits.name, digits.images
    patches = sample_image_patches(per_image=per_photo, seed=seed)
    return patches.name, patches.images


# ---------------------------------------------------------------------- the seed's readout
def seed_engine(cfg: Config, ctx, train: np.ndarray) -> TokenEngine:
    """The seed's training: stream each whole image from an empty box (carriers stay)."""
    engine = TokenEngine(cfg.engine, seed=ctx.seed, device=ctx.device)
    for image in ctx.bar(train, len(train), "image_gen seed train"):
        engine.reset()
        engine.observe(image.reshape(-1).tolist(), 0, step_every=cfg.ingest_step_every)
    return engine


def seed_fill(engine: TokenEngine, flat: np.ndarray, observed: np.ndarray,
              order: np.ndarray) -> np.ndarray:
    """The seed's completion of the observed bytes already streamed: each hidden position in
    `order`: predict, inject the prediction, step. Returns the bytes, hidden ones filled."""
    recon = np.where(observed, flat, 0)
    for pos in order.tolist():
        recon[pos] = engine.predict_byte(pos)[0]
        engine.inject_ids(engine.tokenizer.hash_ids([int(recon[pos])], [pos]))
        engine.step()
    return recon


def seed_inpaint(engine: TokenEngine, image: np.ndarray, hidden: np.ndarray, cfg: Config,
                 order_seed: int) -> np.ndarray:
    """The seed's procedure on a given mask: clear the particles, stream the observed bytes at
    their positions, fill the hidden ones in a random order. Returns the image in [0, 1]."""
    flat = np.round(image * 255).astype(np.int64)
    seen = np.flatnonzero(~hidden)
    engine.reset()
    engine.observe(flat[seen].tolist(), positions=seen.tolist(),
                   step_every=cfg.ingest_step_every)
    order = np.random.default_rng(order_seed).permutation(np.flatnonzero(hidden))
    return seed_fill(engine, flat, ~hidden, order) / 255.0


def baseline_fills(truth: np.ndarray, observed: np.ndarray, shape: tuple[int, int]
                   ) -> dict[str, np.ndarray]:
    """Zero, observed-mean and neighbour fills of one flat image in [0, 1]."""
    return {"zero fill": constant_fill(truth, observed, 0.0),
            "mean fill": mean_fill(truth, observed),
            "neighbour interpolation": neighbour_fill(truth.reshape(shape),
                                                      observed.reshape(shape)).reshape(-1)}


def seed_table(cfg: Config, ctx, dataset: str) -> tuple[list[dict], tuple]:
    """The seed's table for one data set: the seed's split, masks and scoring."""
    name, pool = images(dataset, ctx, ctx.seed)
    g = make_generator(ctx.seed)
    order = torch.randperm(len(pool), generator=g).numpy()
    train = pool[order[: cfg.train_images]]
    test = pool[order[cfg.train_images: cfg.train_images + cfg.eval_images]]
    engine = seed_engine(cfg, ctx, train)
    errors: dict[str, list[tuple[float, float]]] = {}
    example = None
    for k, image in enumerate(ctx.bar(test, len(test), f"image_gen eval {dataset}")):
        flat = image.reshape(-1).astype(np.int64)
        hidden, observed = observe_all_but_a_fraction(engine, flat, cfg.mask_fraction, g,
                                                      cfg.ingest_step_every)
        truth = flat / 255.0
        fills = {"manifold": seed_fill(engine, flat, observed, hidden) / 255.0,
                 **baseline_fills(truth, observed, image.shape)}
        for m, f in fills.items():
            err = (f - truth) ** 2
            errors.setdefault(m, []).append((float(err[~observed].mean()), float(err.mean())))
        if k == 0:
            example = (image / 255.0, observed.reshape(image.shape), fills)
    rows = [{"data": name, "method": m, "mse_masked": float(np.mean([e[0] for e in v])),
             "mse_all": float(np.mean([e[1] for e in v]))} for m, v in errors.items()]
    return rows, example


# ---------------------------------------------------------------------- the reservoir readout
def random_masks(count: int, pixels: int, hidden: int, rng: np.random.Generator
                 ) -> np.ndarray:
    """(count, pixels) bool, True where hidden: `hidden` random pixels of each row."""
    out = np.zeros((count, pixels), dtype=bool)
    for row in out:
        row[rng.permutation(pixels)[:hidden]] = True
    return out


def masked_sets(images: np.ndarray, hidden: np.ndarray, rows: RowsConfig, seed: int,
                steps: int, bar=lambda it, total, desc: it) -> FeatureSets:
    """Every row's features of the images with their hidden pixels removed, and the current
    input [observed pixels, mask].

    Hidden pixels are set to 0 before any reservoir sees the image: a dark pixel is not
    injected, so they are absent from the manifold (and 0 in the ESN's and bag's raster
    streams). The mask channel lets the readout tell a hidden pixel from a dark one."""
    flat = images.reshape(len(images), -1)
    observed = np.where(hidden, 0.0, flat)
    sets = image_features(observed.reshape(images.shape), rows, seed, steps, bar=bar)
    return FeatureSets(inputs=np.hstack([observed, hidden.astype(np.float64)]),
                       features=sets.features, bag=sets.bag)


def reservoir_inpaint(images: np.ndarray, hidden: np.ndarray, n_train: int, rows: RowsConfig,
                      seed: int, steps: int, bar=lambda it, total, desc: it
                      ) -> tuple[list[dict], dict[str, np.ndarray]]:
    """Fit each row's ridge readout (all pixel values from [features, observed pixels, mask])
    on the first `n_train` (image, mask) pairs; return the fitted rows and each row's
    inpainted test images (flat; observed pixels kept, hidden ones the readout's values).
    `images` (N, H, W) in [0, 1], `hidden` (N, H * W) bool."""
    pixels = hidden.shape[1]
    if pixels > rows.reservoir.max_particles:  # room for one particle per pixel
        rows = dataclasses.replace(rows, reservoir=rows.reservoir.replace(max_particles=pixels))
    sets = masked_sets(images, hidden, rows, seed, steps, bar)
    flat = images.reshape(len(images), -1)
    train, test = np.arange(n_train), np.arange(n_train, len(images))
    fitted, predicted = fit_regressors(sets, flat, train, test, rows)
    return fitted, {r: np.where(hidden[test], p, flat[test]) for r, p in predicted.items()}


def masked_mse(fill: np.ndarray, truth: np.ndarray, hidden: np.ndarray) -> dict[str, float]:
    """MSE on the hidden pixels and on all pixels of the first len(fill) images. Every image
    hides as many pixels, so the pooled means equal the mean of the per-image errors that the
    seed's table reports."""
    err = (fill - truth[: len(fill)]) ** 2
    return {"mse_masked": float(err[hidden[: len(fill)]].mean()), "mse_all": float(err.mean())}


def hidden_count(cfg: Config, pixels: int) -> int:
    count = int(cfg.mask_fraction * pixels)
    if count < 1:
        raise ValueError(f"mask_fraction {cfg.mask_fraction} hides no pixel of a "
                         f"{pixels}-pixel image")
    return count


def baseline_fills_of(truth: np.ndarray, hidden: np.ndarray, shape: tuple[int, int]
                      ) -> dict[str, np.ndarray]:
    """Each baseline's fills of the flat images `truth` under their masks `hidden`."""
    each = [baseline_fills(t, ~h, shape) for t, h in zip(truth, hidden)]
    return {m: np.stack([fills[m] for fills in each]) for m in each[0]}


def seed_fills_of(cfg: Config, ctx, train: np.ndarray, truth: np.ndarray, hidden: np.ndarray
                  ) -> np.ndarray:
    """The seed readout, trained on the first `train_images` training images, fills the first
    `eval_images` test images (its per-pixel predict-inject-step is slow)."""
    engine = seed_engine(cfg, ctx, np.round(train[: cfg.train_images] * 255).astype(np.int64))
    count = min(cfg.eval_images, len(truth))
    return np.stack([seed_inpaint(engine, truth[k], hidden[k], cfg, ctx.seed + k)
                     for k in range(count)])



@one_thread()
def reservoir_table(cfg: Config, ctx, dataset: str) -> tuple[list[dict], tuple]:
    """The reservoir table for one data set: every reservoir row, the seed row and the
    baselines, on the same test images and masks."""
    name, pool = images(dataset, ctx, ctx.seed, cfg.patches_per_photo)
    rng = np.random.default_rng(ctx.seed)
    pool = pool[rng.permutation(len(pool))[: cfg.max_images]] / 255.0
    n_test = max(1, int(round(cfg.test_fraction * len(pool))))
    train, test = pool[n_test:], pool[:n_test]
    shape, pixels = test.shape[1:], test[0].size
    paired = np.concatenate([np.repeat(train, cfg.train_masks, axis=0), test])
    hidden = random_masks(len(paired), pixels, hidden_count(cfg, pixels), rng)
    bar = lambda it, total, desc: ctx.bar(it, total, f"image_gen {dataset} {desc}")  # noqa: E731
    _, fills = reservoir_inpaint(paired, hidden, len(paired) - n_test, cfg.rows, ctx.seed,
                                 cfg.physics_steps, bar)
    truth, hidden = test.reshape(n_test, pixels), hidden[-n_test:]
    fills[SEED_ROW] = seed_fills_of(cfg, ctx, train, truth, hidden)
    fills.update(baseline_fills_of(truth, hidden, shape))
    rows = [{"data": name, "method": m, **masked_mse(f, truth, hidden), "test images": len(f)}
            for m, f in fills.items()]
    shown = {m: fills[m][0].reshape(shape) for m in SHOWN}
    return rows, (test[0], ~hidden[0].reshape(shape), shown)


# ---------------------------------------------------------------------- run
def run(cfg: Config, ctx, report) -> dict:
    readout = ctx.readout_for(sys.modules[__name__])
    make = seed_table if readout == "seed" else reservoir_table
    rows, examples = [], {}
    for dataset in cfg.datasets:
        ds_rows, examples[dataset] = make(cfg, ctx, dataset)
        report.compare(f"image_gen/{dataset}", ds_rows, "mse_masked", higher_is_better=False)
        rows += ds_rows
    if readout == "seed":
        caption = (f"Inpainting {cfg.mask_fraction:.0%} masked pixels: mean squared error on "
                   "the masked pixels and on all pixels (pixel values in [0, 1]).")
        columns = ["data", "method", "mse_masked", "mse_all"]
    else:
        caption = (f"Inpainting {cfg.mask_fraction:.0%} masked pixels of held-out images "
                   f"({cfg.test_fraction:.0%} of each data set, seeded): mean squared error on "
                   "the masked pixels and on all pixels (pixel values in [0, 1]), every method "
                   "on the same masks. Reservoir rows: the masked image lands with its hidden "
                   "pixels absent; a ridge readout of [features, observed pixels, mask] gives "
                   f"every pixel, fitted on {cfg.train_masks} random masks per training image, "
                   "alpha (and the bag's decay) chosen on the training tail. The seed readout "
                   "is scored on the first `test images` test images.")
        columns = ["data", "method", "mse_masked", "mse_all", "test images"]
    report.table("image_gen", rows, columns, caption)
    plot_examples(report, examples)
    return {"datasets": list(examples)}


def plot_examples(report, examples: dict[str, tuple]) -> None:
    """One row per data set: the original, the observed pixels, then each method's fill."""
    from thermo_manifold.sensorium.report import pyplot

    plt = pyplot()
    width = 2 + max(len(fills) for _, _, fills in examples.values())
    fig, axes = plt.subplots(len(examples), width, figsize=(1.85 * width, 2.2 * len(examples)),
                             squeeze=False)
    for row, (image, observed, fills) in zip(axes, examples.values()):
        panels = [("original", image), ("masked", np.where(observed, image, 0.0)),
                  *((m, f.reshape(image.shape)) for m, f in fills.items())]
        for ax in row:
            ax.set_axis_off()
        for ax, (title, im) in zip(row, panels):
            ax.imshow(im, cmap="gray", vmin=0, vmax=1)
            ax.set_title(title, fontsize=7)
    report.figure(fig, "image_gen")


__all__ = ["Config", "READOUTS", "image_reservoir", "masked_sets", "reservoir_inpaint", "run"]
