"""audio_gen: inpaint 20% masked samples of synthetic tones (seed: kernel_audio_gen.py).

Tones: f1 = 220 + randint(0, 440) Hz with partials f1, 2 f1, 1.5 f1 (0.5/0.3/0.2), envelope
exp(-3 t), `length` samples over t in [0, 1], quantised to bytes. Baselines on the same masks:
the mid value (byte 128, the seed's placeholder) and linear interpolation between observed
samples. MSE is on the waveform in [-1, 1].

`--readout seed`: the seed's byte completion. Training streams whole tones (a step every 128
samples); evaluation streams the observed samples, then fills the masked ones in a random order.

`--readout reservoir` (the default): `train_segments` and `test_segments` stretches of
`segment` samples, each cut at a seeded random offset from its own tone (the manifold drives
about a hundred tokens a second, so whole tones would not fit in the run). In each, 20% of the
inner samples are masked (the first and last are kept, so a masked sample has a neighbour on
both sides). Samples enter the reservoirs as tokens by value band (32 mu-law bands, so quiet
stretches of the decaying tone use as many tokens as loud ones, and a MASK token for a masked
sample), with the sample value beside the token as the current input.
Every reservoir runs twice over a segment, forwards and backwards (a bidirectional reservoir),
and sample t is predicted from the forward state after t - 1 and the backward state after
t + 1, which have seen everything but sample t: a ridge readout of [forward features, backward
features, the two neighbours' inputs] fitted on every inner sample of the training segments
(alpha, and the bag's decay, chosen on the training tail), scored on the masked samples of the
test segments. The seed's procedure stays as the row `manifold, seed readout`, trained on the
training segments and scored on the same test masks.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from thermo_manifold.device import make_generator
from thermo_manifold.sensorium.baselines import constant_fill, linear_fill
from thermo_manifold.sensorium.datasets import bytes_to_float, float_to_bytes, synthetic_tone
from thermo_manifold.sensorium.engine import (
    EngineConfig,
    TokenEngine,
    observe_all_but_a_fraction,
)
from thermo_manifold.sensorium.reservoir import ReservoirConfig
from thermo_manifold.sensorium.reservoir_rows import (
    FeatureSets,
    RowsConfig,
    fit_regressors,
    stream_features,
)
from thermo_manifold.sensorium.threads import one_thread

READOUTS = ("reservoir", "seed")
SEED_ROW = "manifold, seed readout"
MID = 128  # the seed's placeholder byte
MU = 255.0  # mu-law companding of the value bands (G.711's mu)
SHOWN = ("manifold reservoir", "no memory", "linear interpolation")


def audio_reservoir(bands: int = 32, trail: int = 96) -> ReservoirConfig:
    """The reservoir for samples: `bands` mu-law value bands and a MASK token (vocab
    bands + 1; neighbouring values land near each other in frequency), a closed trail of
    `trail` tokens (an open one makes the global fields a clock of the position in the
    segment), three taps (the band of each of the last three samples, read in the frame of the
    injection point) and a budget of 64 tokens, as for the byte series of timeseries; and 8
    carrier bins, four bands each. With one bin per band (32) the carrier features are as
    sparse as token indicators and heavy-tailed (amplitude times cos and sin of a turning
    phase): a loud test tone put them up to 117 training standard deviations out, and the
    standardised ridge readout extrapolated them (carriers only 0.022 against no memory's
    0.012 in a development run); pooled four bands to a bin they stay in range."""
    return ReservoirConfig(vocab=bands + 1, taps=3, trail_period=trail, identity_radius=0.25,
                           max_particles=256, carrier_bins=8)


def _check_int(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}; got {value!r}")


@dataclass(frozen=True)
class Config:
    length: int = 4000  # seed
    train_samples: int = 40  # seed
    eval_samples: int = 10  # seed
    mask_fraction: float = 0.20  # seed
    ingest_step_every: int = 128  # seed
    engine: EngineConfig = EngineConfig()
    # The reservoir readout: segments of `segment` samples, each from its own tone.
    segment: int = 250
    train_segments: int = 36
    test_segments: int = 9
    rows: RowsConfig = field(default_factory=lambda: RowsConfig(reservoir=audio_reservoir()))

    def __post_init__(self) -> None:
        for name, low in (("length", 2), ("train_samples", 1), ("eval_samples", 1),
                          ("ingest_step_every", 1), ("segment", 8), ("train_segments", 1),
                          ("test_segments", 1)):
            _check_int(name, getattr(self, name), low)
        if (isinstance(self.mask_fraction, bool)
                or not isinstance(self.mask_fraction, (int, float))
                or not 0.0 < self.mask_fraction < 1.0
                or int(self.mask_fraction * (self.segment - 2)) < 1):
            raise ValueError(f"mask_fraction must be a number in (0, 1) that masks at least "
                             f"one of the {self.segment - 2} inner samples of a segment; got "
                             f"{self.mask_fraction!r}")
        if self.segment > self.length:
            raise ValueError(f"segment ({self.segment}) must be <= length ({self.length})")
        if not isinstance(self.engine, EngineConfig):
            raise ValueError(f"engine must be an EngineConfig; got {self.engine!r}")
        if not isinstance(self.rows, RowsConfig):
            raise ValueError(f"rows must be a RowsConfig; got {self.rows!r}")
        if self.rows.reservoir.vocab < 3:
            raise ValueError(f"rows.reservoir.vocab must be >= 3 (two bands and MASK); got "
                             f"{self.rows.reservoir.vocab}")

    @classmethod
    def quick(cls) -> "Config":
        return cls(length=200, train_samples=2, eval_samples=1, segment=64, train_segments=3,
                   test_segments=2, rows=RowsConfig(reservoir=audio_reservoir().replace(pool=8)))


# ---------------------------------------------------------------------- the seed's readout
def seed_engine(cfg: Config, ctx, train: list[np.ndarray]) -> TokenEngine:
    """The seed's training: stream each whole wave from an empty box (carriers stay)."""
    engine = TokenEngine(cfg.engine, seed=ctx.seed, device=ctx.device)
    for wav in ctx.bar(train, len(train), "audio_gen seed train"):
        engine.reset()
        engine.observe(wav.tolist(), 0, step_every=cfg.ingest_step_every)
    return engine


def seed_fill(engine: TokenEngine, wav: np.ndarray, observed: np.ndarray, order: np.ndarray
              ) -> np.ndarray:
    """The seed's completion of the observed bytes already streamed: each hidden position in
    `order`: predict, inject the prediction, step. Returns the bytes, hidden ones filled."""
    recon = np.where(observed, wav, MID).astype(np.int64)
    for pos in order.tolist():
        recon[pos] = engine.predict_byte(pos)[0]
        engine.inject_ids(engine.tokenizer.hash_ids([int(recon[pos])], [pos]))
        engine.step()
    return recon


def seed_inpaint(engine: TokenEngine, wav: np.ndarray, hidden: np.ndarray, cfg: Config,
                 order_seed: int) -> np.ndarray:
    """The seed's procedure on a given mask: clear the particles, stream the observed bytes at
    their positions, fill the hidden ones in a random order. Returns the wave in [-1, 1]."""
    seen = np.flatnonzero(~hidden)
    engine.reset()
    engine.observe(wav[seen].tolist(), positions=seen.tolist(), step_every=cfg.ingest_step_every)
    order = np.random.default_rng(order_seed).permutation(np.flatnonzero(hidden))
    return bytes_to_float(seed_fill(engine, wav, ~hidden, order))


def baseline_fills(truth: np.ndarray, observed: np.ndarray) -> dict[str, np.ndarray]:
    """Mid-value fill and linear interpolation of one wave in [-1, 1]."""
    mid = float(bytes_to_float(np.array([MID]))[0])
    return {"mid-value fill": constant_fill(truth, observed, mid),
            "linear interpolation": linear_fill(truth, observed)}


def seed_table(cfg: Config, ctx) -> tuple[list[dict], tuple]:
    """The seed's table: whole tones, the seed's masks and scoring."""
    g = make_generator(ctx.seed)
    train = [float_to_bytes(synthetic_tone(cfg.length, g)) for _ in range(cfg.train_samples)]
    test = [float_to_bytes(synthetic_tone(cfg.length, g)) for _ in range(cfg.eval_samples)]
    engine = seed_engine(cfg, ctx, train)
    errors: dict[str, list[tuple[float, float]]] = {}
    example = None
    for k, wav in enumerate(ctx.bar(test, len(test), "audio_gen eval")):
        hidden, observed = observe_all_but_a_fraction(engine, wav, cfg.mask_fraction, g,
                                                      cfg.ingest_step_every)
        truth = bytes_to_float(wav)
        fills = {"manifold": bytes_to_float(seed_fill(engine, wav, observed, hidden)),
                 **baseline_fills(truth, observed)}
        for m, f in fills.items():
            err = (f - truth) ** 2
            errors.setdefault(m, []).append((float(err[~observed].mean()), float(err.mean())))
        if k == 0:
            example = (truth, observed, fills)
    rows = [{"method": m, "mse_masked": float(np.mean([e[0] for e in v])),
             "mse_all": float(np.mean([e[1] for e in v]))} for m, v in errors.items()]
    return rows, example


# ---------------------------------------------------------------------- the reservoir readout
def segments(cfg: Config, g: torch.Generator, count: int) -> list[np.ndarray]:
    """`count` byte segments, each `segment` samples of its own seed tone from a random
    offset (so the envelope's whole range is represented)."""
    out = []
    for _ in range(count):
        wav = float_to_bytes(synthetic_tone(cfg.length, g))
        start = int(torch.randint(0, cfg.length - cfg.segment + 1, (1,), generator=g))
        out.append(wav[start: start + cfg.segment])
    return out


def inner_masks(count: int, length: int, fraction: float, rng: np.random.Generator
                ) -> np.ndarray:
    """(count, length) bool, True where hidden: int(fraction (length - 2)) random inner
    samples of each row (the first and last are always observed)."""
    out = np.zeros((count, length), dtype=bool)
    for row in out:
        row[1 + rng.permutation(length - 2)[: int(fraction * (length - 2))]] = True
    return out


def mu_law_bands(values: np.ndarray, bands: int, mu: float = MU) -> np.ndarray:
    """The band of each value in [-1, 1] after mu-law companding (ITU-T G.711):
    sign(x) ln(1 + mu |x|) / ln(1 + mu), cut into `bands` equal bands. A tone's envelope
    falls twentyfold, so equal bands of the raw value would leave a quiet stretch three or
    four tokens; companded, it still spans most of the bands, and loud and quiet segments
    drive the same tokens."""
    companded = np.sign(values) * np.log1p(mu * np.abs(values)) / np.log1p(mu)
    return np.clip(((companded + 1.0) * 0.5 * bands).astype(np.int64), 0, bands - 1)


def segment_sets(wav: np.ndarray, hidden: np.ndarray, rows: RowsConfig, seed: int,
                 bar=lambda it, total, desc: it) -> FeatureSets:
    """Every row's design parts for the inner samples t = 1 .. T-2 of one byte segment.

    The stream: the mu-law band of each observed sample, MASK (the last token) for a hidden
    one, the sample's value beside it (0 when hidden). Driven forwards and backwards; sample t
    gets the forward state after t - 1 and the backward state after t + 1, and as current
    input the inputs of t - 1 and t + 1. Neither direction has seen sample t, and hidden samples are
    MASK with value 0 before any reservoir sees them."""
    bands = rows.reservoir.vocab - 1
    values = np.where(hidden, 0.0, bytes_to_float(wav))
    tokens = np.where(hidden, bands, mu_law_bands(values, bands))
    forward = stream_features(tokens, rows, seed, bar=bar, values=values)
    backward = stream_features(tokens[::-1].copy(), rows, seed, bar=bar,
                               values=values[::-1].copy())

    def pair(fwd: np.ndarray, bwd: np.ndarray) -> np.ndarray:
        return np.hstack([fwd[:-2], bwd[::-1][2:]])  # state after t - 1, state after t + 1

    return FeatureSets(inputs=pair(forward.inputs, backward.inputs),
                       features={r: pair(forward.features[r], backward.features[r])
                                 for r in forward.features},
                       bag={d: pair(forward.bag[d], backward.bag[d]) for d in forward.bag})


def stacked(parts: list[FeatureSets]) -> FeatureSets:
    """The segments' rows one after another, as one FeatureSets: each segment is driven from an
    empty reservoir (a new recording), and one readout is fitted across all of them."""
    return FeatureSets(inputs=np.vstack([p.inputs for p in parts]),
                       features={r: np.vstack([p.features[r] for p in parts])
                                 for r in parts[0].features},
                       bag={d: np.vstack([p.bag[d] for p in parts]) for d in parts[0].bag})


def reservoir_inpaint(waves: list[np.ndarray], hidden: np.ndarray, n_train: int,
                      rows: RowsConfig, seed: int, bar=lambda it, total, desc: it
                      ) -> tuple[list[dict], dict[str, np.ndarray]]:
    """Fit each row's ridge readout on every inner sample of the first `n_train` byte
    segments; return the fitted rows and each row's predictions (in [-1, 1]) of the hidden
    samples of the other segments, in segment order."""
    sets = stacked([segment_sets(w, h, rows, seed, bar) for w, h in
                    zip(bar(waves, len(waves), "segments"), hidden)])
    targets = np.concatenate([bytes_to_float(w)[1:-1] for w in waves])
    inner = hidden[:, 1:-1]
    train = np.arange(n_train * inner.shape[1])
    test = train.size + np.flatnonzero(inner[n_train:])
    return fit_regressors(sets, targets, train, test, rows)



@one_thread()
def reservoir_table(cfg: Config, ctx) -> tuple[list[dict], tuple]:
    """The reservoir table: every reservoir row, the seed row and the baselines, scored on
    the same masked samples of the test segments."""
    g = make_generator(ctx.seed)
    train, test = segments(cfg, g, cfg.train_segments), segments(cfg, g, cfg.test_segments)
    waves = train + test
    hidden = inner_masks(len(waves), cfg.segment, cfg.mask_fraction,
                         np.random.default_rng(ctx.seed))
    test_hidden = hidden[len(train):]
    bar = lambda it, total, desc: ctx.bar(it, total, f"audio_gen {desc}")  # noqa: E731
    _, predicted = reservoir_inpaint(waves, hidden, len(train), cfg.rows, ctx.seed, bar)
    truth = np.stack([bytes_to_float(w) for w in test])
    fills = {}
    for row, p in predicted.items():
        fills[row] = truth.copy()
        fills[row][test_hidden] = p
    engine = seed_engine(cfg, ctx, train)
    fills[SEED_ROW] = np.stack([seed_inpaint(engine, w, h, cfg, ctx.seed + k)
                                for k, (w, h) in enumerate(zip(test, test_hidden))])
    each = [baseline_fills(t, ~h) for t, h in zip(truth, test_hidden)]
    fills.update({m: np.stack([f[m] for f in each]) for m in each[0]})
    scored = int(test_hidden.sum())
    rows = [{"method": m, "mse_masked": float(np.mean((f - truth)[test_hidden] ** 2)),
             "mse_all": float(np.mean((f - truth) ** 2)), "scored": scored}
            for m, f in fills.items()]
    return rows, (truth[0], ~test_hidden[0], {m: fills[m][0] for m in SHOWN})


# ---------------------------------------------------------------------- run
def run(cfg: Config, ctx, report) -> dict:
    readout = ctx.readout_for(sys.modules[__name__])
    if readout == "seed":
        rows, example = seed_table(cfg, ctx)
        caption = (f"Audio inpainting of synthetic tones ({cfg.length} samples, "
                   f"{cfg.mask_fraction:.0%} masked): waveform MSE on masked samples and "
                   "overall.")
        columns = ["method", "mse_masked", "mse_all"]
    else:
        rows, example = reservoir_table(cfg, ctx)
        caption = (f"Audio inpainting of {cfg.test_segments} held-out segments of "
                   f"{cfg.segment} samples, each from its own synthetic tone ({cfg.length} "
                   f"samples), {cfg.mask_fraction:.0%} of the inner samples masked: waveform "
                   "MSE on the masked samples (`scored` of them) and overall, every method on "
                   "the same masks. Reservoir rows: bidirectional, a ridge readout of [forward "
                   "state before the sample, backward state after it, both neighbours' band "
                   f"and value] fitted on every inner sample of {cfg.train_segments} training "
                   "segments, alpha (and the bag's decay) chosen on the training tail; the "
                   "seed readout is trained on the same segments.")
        columns = ["method", "mse_masked", "mse_all", "scored"]
    report.table("audio_gen", rows, columns, caption)
    report.compare("audio_gen", rows, "mse_masked", higher_is_better=False)
    plot_example(report, *example)
    return {}


def plot_example(report, truth: np.ndarray, observed: np.ndarray,
                 fills: dict[str, np.ndarray]) -> None:
    """The first 400 samples of a test wave and each method's values at its masked samples."""
    from thermo_manifold.sensorium.report import pyplot

    plt = pyplot()
    view = slice(0, min(400, len(truth)))
    fig, ax = plt.subplots(figsize=(9, 3))
    ax.plot(truth[view], color="black", linewidth=1.2, label="truth")
    for m, f in fills.items():
        ax.plot(np.where(observed, np.nan, f)[view], ".", markersize=3, label=m)
    ax.set_xlabel("sample")
    ax.legend(fontsize=7)
    report.figure(fig, "audio_gen")


__all__ = ["Config", "READOUTS", "audio_reservoir", "reservoir_inpaint", "run",
           "segment_sets"]
