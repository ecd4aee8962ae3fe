"""The reservoir rows of a sensorium table: one stream, every reservoir, the same readouts.

Each experiment that predicts from a reservoir shows these rows, on the same split:

manifold reservoir         the Thermo-Manifold driven by the stream (`ManifoldReservoir`)
reservoir, physics frozen  the same injections with no physics step or carrier tick (a second
                           drive): what placement and bookkeeping alone give
reservoir, no carriers     columns of the first run: every family but the carriers
reservoir, fields only     columns of the first run: the pooled grid fields
reservoir, carriers only   columns of the first run: the carrier features
echo state network         a NumPy ESN (`memory_features.EchoStateNetwork`) with as many units as
                           the manifold has features
decaying bag               exponential moving averages of the one-hot input (memory without
                           physics); its decay chosen on the training split's tail
no memory                  the current input alone

The three column-subset rows read one run, so the physics they see is identical and each row
measures what that feature family carries (switching a family off in the config would also be
the same physics: features are read, not fed back). Every row's readout sees [features, current
input], as is standard for echo state networks, so `no memory` is the floor each reservoir must
beat; the readouts are the linear ones of `readouts.py` (no hidden layers: any nonlinearity must
come from the reservoir). Columns constant on the fitting rows are dropped before a fit.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from thermo_manifold.sensorium.memory_features import DecayingBag, EchoStateNetwork
from thermo_manifold.sensorium.readouts import OnlineReadout, RidgeReadout, SoftmaxReadout
from thermo_manifold.sensorium.reservoir import ManifoldReservoir, ReservoirConfig

MANIFOLD = "manifold reservoir"
FROZEN = "reservoir, physics frozen"
ESN = "echo state network"
BAG = "decaying bag"
NO_MEMORY = "no memory"
# Column-subset rows: the feature families of the manifold run each one keeps.
SUBSETS = {"reservoir, no carriers": ("fields", "excitations", "taps"),
           "reservoir, fields only": ("fields",),
           "reservoir, carriers only": ("carriers",)}
ROWS = (MANIFOLD, FROZEN, *SUBSETS, ESN, BAG, NO_MEMORY)

Bar = Callable[[Iterable, int, str], Iterable]


def _no_bar(iterable: Iterable, total: int, desc: str) -> Iterable:
    return iterable


@dataclass(frozen=True)
class RowsConfig:
    """Which rows to build and how their baselines and readouts are set.

    esn_leak, esn_spectral_radius   the ESN's leak rate and spectral radius (Jaeger's usual
                                    0.5 and 0.9, the calibration of issue 14)
    bag_decays                      candidate decays of the decaying bag, chosen on the
                                    training tail (online rows use all of them at once)
    choose_bag_decay                False: the offline rows also use every decay at once
                                    (one fit instead of one per decay, for large data)
    softmax_l2s, softmax_max_iter   the softmax readout's L2 candidates and L-BFGS iterations
    ridge_alphas                    the ridge readout's penalty candidates
    forgetting                      the online (RLS) readout's forgetting factor
    """

    reservoir: ReservoirConfig = field(default_factory=ReservoirConfig)
    esn_leak: float = 0.5
    esn_spectral_radius: float = 0.9
    bag_decays: tuple[float, ...] = (0.5, 0.8, 0.9, 0.95)
    choose_bag_decay: bool = True
    softmax_l2s: tuple[float, ...] = (1e-3, 1e-2)
    softmax_max_iter: int = 100
    forgetting: float = 0.998
    ridge_alphas: tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)
    rows: tuple[str, ...] = ROWS

    def __post_init__(self) -> None:
        if not isinstance(self.reservoir, ReservoirConfig):
            raise ValueError(f"reservoir must be a ReservoirConfig; got "
                             f"{type(self.reservoir).__name__}")
        unknown = [r for r in self.rows if r not in ROWS]
        if not self.rows or unknown:
            raise ValueError(f"rows must be a non-empty subset of {ROWS}; got {self.rows!r}")
        if not 0.0 < self.esn_leak <= 1.0:
            raise ValueError(f"esn_leak must be in (0, 1]; got {self.esn_leak!r}")
        if not self.esn_spectral_radius > 0.0:
            raise ValueError(f"esn_spectral_radius must be > 0; got {self.esn_spectral_radius!r}")
        if not self.bag_decays or any(not 0.0 <= d < 1.0 for d in self.bag_decays):
            raise ValueError(f"bag_decays must be a non-empty sequence of numbers in [0, 1); "
                             f"got {self.bag_decays!r}")
        if not isinstance(self.choose_bag_decay, bool):
            raise ValueError(f"choose_bag_decay must be True or False; got "
                             f"{self.choose_bag_decay!r}")
        if not self.softmax_l2s or any(not l2 >= 0.0 for l2 in self.softmax_l2s):
            raise ValueError(f"softmax_l2s must be a non-empty sequence of numbers >= 0; got "
                             f"{self.softmax_l2s!r}")
        if isinstance(self.softmax_max_iter, bool) or not isinstance(self.softmax_max_iter, int) \
                or self.softmax_max_iter < 1:
            raise ValueError(f"softmax_max_iter must be an integer >= 1; got "
                             f"{self.softmax_max_iter!r}")
        if not self.ridge_alphas or any(not a > 0.0 for a in self.ridge_alphas):
            raise ValueError(f"ridge_alphas must be a non-empty sequence of numbers > 0; got "
                             f"{self.ridge_alphas!r}")
        if not 0.0 < self.forgetting <= 1.0:
            raise ValueError(f"forgetting must be in (0, 1]; got {self.forgetting!r}")


@dataclass
class FeatureSets:
    """Features of every row for the same T samples.

    inputs     (T, m) the current input (one-hot token or pixel values): every design ends
               with it, and it is the whole design of `no memory`
    features   row name -> (T, d) reservoir features (not for the bag or no memory)
    bag        decay -> (T, vocab) decaying-bag features
    """

    inputs: np.ndarray
    features: dict[str, np.ndarray]
    bag: dict[float, np.ndarray]

    def design(self, row: str, decay: float | None = None) -> np.ndarray:
        """[features, current input] of `row` (the bag at `decay`; all decays when None)."""
        if row == NO_MEMORY:
            return self.inputs
        if row == BAG:
            parts = [self.bag[decay]] if decay is not None else [self.bag[d] for d in self.bag]
            return np.hstack([*parts, self.inputs])
        return np.hstack([self.features[row], self.inputs])


def _subset_rows(features: np.ndarray, config: ReservoirConfig, rows: Sequence[str]
                 ) -> dict[str, np.ndarray]:
    """The column-subset ablation rows read off one manifold run."""
    slices = config.feature_slices()
    out = {}
    for row, families in SUBSETS.items():
        if row not in rows:
            continue
        kept = [slices[f] for f in families if f in slices]
        if not kept:
            raise ValueError(f"row {row!r} needs the families {families}, which the reservoir "
                             f"config switches off")
        out[row] = np.hstack([features[:, s] for s in kept])
    return out


def _one_hot(tokens: np.ndarray, vocab: int) -> np.ndarray:
    out = np.zeros((tokens.size, vocab))
    out[np.arange(tokens.size), tokens] = 1.0
    return out


@contextlib.contextmanager
def _single_threaded():
    """Run torch on one intra-op thread, then restore the setting. A reservoir step works on
    tensors of a few thousand elements: extra threads only add contention (measured on a
    loaded 2-core machine: 368 ms per token on two threads, 10 ms on one)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _check_tokens(tokens: Sequence[int] | np.ndarray, vocab: int) -> np.ndarray:
    arr = np.asarray(tokens)
    if arr.ndim != 1 or arr.size == 0 or arr.dtype.kind not in "iu":
        raise ValueError(f"tokens must be a non-empty 1-D integer sequence; got shape "
                         f"{arr.shape} dtype {arr.dtype}")
    if arr.min() < 0 or arr.max() >= vocab:
        raise ValueError(f"tokens must lie in [0, vocab={vocab}); got values in "
                         f"[{arr.min()}, {arr.max()}]")
    return arr.astype(np.int64)


@_single_threaded()
def stream_features(tokens: Sequence[int] | np.ndarray, config: RowsConfig, seed: int,
                    spectral_config=None, bar: Bar = _no_bar,
                    values: np.ndarray | None = None) -> FeatureSets:
    """Drive every row's reservoir with one token stream; row t holds the state after token t.
    The current input is the one-hot token, preceded by `values[t]` when given (a series'
    value, whose band is the token)."""
    vocab = config.reservoir.vocab
    tokens = _check_tokens(tokens, vocab)
    if values is not None:
        values = np.asarray(values, dtype=np.float64)
        if values.shape != tokens.shape or not np.all(np.isfinite(values)):
            raise ValueError(f"values must be finite, one per token ({tokens.shape}); got "
                             f"shape {values.shape}")
    rows = config.rows
    features: dict[str, np.ndarray] = {}
    manifold_rows = (MANIFOLD, *SUBSETS)
    if any(r in rows for r in manifold_rows):
        reservoir = ManifoldReservoir(config.reservoir, seed=seed, spectral_config=spectral_config)
        run = np.stack([reservoir.step(int(t)) for t in bar(tokens, tokens.size, "manifold")])
        if MANIFOLD in rows:
            features[MANIFOLD] = run
        features.update(_subset_rows(run, config.reservoir, rows))
    if FROZEN in rows:
        frozen = ManifoldReservoir(config.reservoir.replace(physics=False), seed=seed,
                                   spectral_config=spectral_config)
        features[FROZEN] = np.stack([frozen.step(int(t)) for t in
                                     bar(tokens, tokens.size, "physics frozen")])
    if ESN in rows:
        esn = EchoStateNetwork(config.reservoir.n_features, vocab=vocab, lr=config.esn_leak,
                               sr=config.esn_spectral_radius, seed=seed)
        features[ESN] = esn.transform(tokens)
    bag = ({d: DecayingBag(vocab=vocab, decays=(d,)).transform(tokens)
            for d in config.bag_decays} if BAG in rows else {})
    inputs = _one_hot(tokens, vocab)
    if values is not None:
        inputs = np.hstack([values[:, None], inputs])
    return FeatureSets(inputs=inputs, features=features, bag=bag)


@_single_threaded()
def image_features(images: np.ndarray, config: RowsConfig, seed: int, steps: int,
                   spectral_config=None, bar: Bar = _no_bar) -> FeatureSets:
    """Every row's features of each image (values in [0, 1], shape (N, H, W)).

    The manifold lands the whole image at once (`ManifoldReservoir.image`) and runs `steps`
    physics steps; the ESN and the decaying bag read the image as a raster stream of pixel
    values (the ESN) or intensity bands (the bag, vocab bands), and their state after the last
    pixel is the image's features; the current input is the pixels themselves."""
    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 3 or images.shape[0] == 0:
        raise ValueError(f"images must be a non-empty (N, H, W) array; got shape {images.shape}")
    rows, rcfg = config.rows, config.reservoir
    n = images.shape[0]
    flat = images.reshape(n, -1)
    features: dict[str, np.ndarray] = {}
    if any(r in rows for r in (MANIFOLD, *SUBSETS)):
        reservoir = ManifoldReservoir(rcfg, seed=seed, spectral_config=spectral_config)
        run = np.stack([reservoir.image(im, steps) for im in bar(images, n, "manifold")])
        if MANIFOLD in rows:
            features[MANIFOLD] = run
        features.update(_subset_rows(run, rcfg, rows))
    if FROZEN in rows:
        frozen = ManifoldReservoir(rcfg.replace(physics=False), seed=seed,
                                   spectral_config=spectral_config)
        features[FROZEN] = np.stack([frozen.image(im, steps) for im in
                                     bar(images, n, "physics frozen")])
    if ESN in rows:
        esn = EchoStateNetwork(rcfg.n_features, input_dim=1, lr=config.esn_leak,
                               sr=config.esn_spectral_radius, seed=seed)
        features[ESN] = np.stack([esn.transform(p[:, None])[-1] for p in bar(flat, n, "esn")])
    bag: dict[float, np.ndarray] = {}
    if BAG in rows:
        bands = np.round(flat * (rcfg.vocab - 1)).astype(np.int64)
        for d in config.bag_decays:
            model = DecayingBag(vocab=rcfg.vocab, decays=(d,))
            bag[d] = np.stack([model.transform(b)[-1] for b in bands])
    return FeatureSets(inputs=flat, features=features, bag=bag)


def _informative(X: np.ndarray) -> np.ndarray:
    """Columns that are not constant on the fitting rows (at least one column is kept)."""
    keep = X.std(axis=0) > 0.0
    if not keep.any():
        keep[0] = True
    return keep


def _fit_each_row(sets: FeatureSets, targets: np.ndarray, train: np.ndarray, test: np.ndarray,
                  config: RowsConfig, make: Callable[[], object],
                  tail_loss: Callable[[object, np.ndarray, np.ndarray], float]):
    """For each row: (row, chosen bag decay or None, kept columns, fitted model, test design).

    The bag's decay is the one with the lowest `tail_loss` on the last fifth of the training
    rows (fitted on the rest): the same tail on which every readout chooses its penalty; with
    `choose_bag_decay` off the bag keeps every decay (decay None)."""
    fitted = []
    for row in config.rows:
        decay = None
        if row == BAG and config.choose_bag_decay:
            cut = int(round(0.8 * train.size))
            fit_rows, tail = train[:cut], train[cut:]

            def loss(d: float) -> float:
                X = sets.design(BAG, d)
                keep = _informative(X[fit_rows])
                model = make().fit(X[fit_rows][:, keep], targets[fit_rows])
                return tail_loss(model, X[tail][:, keep], targets[tail])

            decay = min(config.bag_decays, key=loss)
        X = sets.design(row, decay)
        keep = _informative(X[train])
        model = make().fit(X[train][:, keep], targets[train])
        fitted.append((row, decay, keep, model, X[test][:, keep]))
    return fitted


def fit_classifiers(sets: FeatureSets, labels: np.ndarray, train: np.ndarray, test: np.ndarray,
                    config: RowsConfig, n_classes: int
                    ) -> tuple[list[dict], dict[str, np.ndarray]]:
    """Fit each row's softmax readout on `train`, score on `test`: one table row per reservoir
    row (accuracy, bits per symbol, features used, the chosen l2 and decay) and each row's test
    predictions. The bag's decay is chosen by log-loss on the training tail."""
    labels = np.asarray(labels)

    def make() -> SoftmaxReadout:
        return SoftmaxReadout(l2s=config.softmax_l2s, max_iter=config.softmax_max_iter,
                              n_classes=n_classes)

    out, predictions = [], {}
    for row, decay, keep, model, Xt in _fit_each_row(
            sets, labels, train, test, config, make,
            lambda model, X, y: model.log_loss_bits(X, y)):
        predictions[row] = model.predict(Xt)
        out.append({"method": row, "accuracy": model.score(Xt, labels[test]),
                    "bits": model.log_loss_bits(Xt, labels[test]), "features": int(keep.sum()),
                    "l2": model.l2_, **({"decay": decay} if decay is not None else {})})
    return out, predictions


def fit_regressors(sets: FeatureSets, targets: np.ndarray, train: np.ndarray, test: np.ndarray,
                   config: RowsConfig) -> tuple[list[dict], dict[str, np.ndarray]]:
    """Fit each row's ridge readout on `train`, predict `test`: one table row per reservoir row
    (features used, the chosen alpha and decay) and each row's test predictions. The bag's
    decay is chosen by mean squared error on the training tail."""
    targets = np.asarray(targets, dtype=np.float64)
    out, predictions = [], {}
    for row, decay, keep, model, Xt in _fit_each_row(
            sets, targets, train, test, config, lambda: RidgeReadout(alphas=config.ridge_alphas),
            lambda model, X, y: float(np.mean((model.predict(X) - y) ** 2))):
        predictions[row] = model.predict(Xt)
        out.append({"method": row, "features": int(keep.sum()), "alpha": model.alpha_,
                    **({"decay": decay} if decay is not None else {})})
    return out, predictions


class _RunningScale:
    """Causal per-column RMS: row t is divided by the RMS of rows 0..t (an RLS readout is not
    scale-free, and online it cannot standardise with statistics of rows still to come)."""

    def __init__(self, width: int):
        self.sum_sq = np.zeros(width)
        self.count = 0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.sum_sq += x * x
        self.count += 1
        rms = np.sqrt(self.sum_sq / self.count)
        return np.where(rms > 0.0, x / np.where(rms > 0.0, rms, 1.0), 0.0)


def online_ranks(sets: FeatureSets, targets: np.ndarray, n_classes: int, config: RowsConfig,
                 bar: Bar = _no_bar) -> dict[str, np.ndarray]:
    """Prequential rank of the true next class for each row: at step t the RLS readout ranks
    the classes from [features_t, input_t], then learns (features_t, one-hot target_t). The
    bag uses all its decays at once (nothing is chosen online). Returns row -> ranks (T,)."""
    targets = np.asarray(targets, dtype=np.int64)
    out = {}
    for row in config.rows:
        X = sets.design(row)
        if X.shape[0] != targets.size:
            raise ValueError(f"targets has {targets.size} entries for {X.shape[0]} rows")
        scale = _RunningScale(X.shape[1])
        readout = OnlineReadout(n_classes, forgetting=config.forgetting)
        ranks = np.empty(targets.size, dtype=np.int64)
        eye = np.eye(n_classes)
        for t in bar(range(targets.size), targets.size, f"online {row}"):
            x = scale(X[t])
            # Before any update every class scores 0: the true class ranks last (ties count
            # against it), as a random guess would on average do no better.
            ranks[t] = readout.rank_of(x, int(targets[t])) if t else n_classes
            readout.partial_fit(x, eye[targets[t]])
        out[row] = ranks
    return out


def reciprocal_ranks(ranks: np.ndarray) -> np.ndarray:
    return 1.0 / np.asarray(ranks, dtype=np.float64)


__all__ = ["BAG", "ESN", "FROZEN", "MANIFOLD", "NO_MEMORY", "ROWS", "SUBSETS", "FeatureSets",
           "RowsConfig", "fit_classifiers", "fit_regressors", "image_features", "online_ranks",
           "reciprocal_ranks", "stream_features"]
