"""text_diffusion: fill 20% masked bytes of a text (seed: kernel_text_diffusion.py).

`--readout seed`: the seed's table. The engine ingests the observed bytes of the first
`max_bytes` (a step every 64 positions), then fills the masked positions in a random order:
predict, inject the prediction, step. Baselines see the same observed bytes: the most frequent
observed byte, and a left-to-right bigram fill.

`--readout reservoir` (the default) uses the first `text_bytes` of the text with 20% of its
bytes masked (the seed's fraction). The text becomes tokens of a compact vocabulary (the
`vocab - 2` most frequent observed bytes, one token shared by every rarer byte, and MASK at
every masked position), and each reservoir row reads that stream twice, left to right and right
to left. The features of position t are [forward state after t - 1, backward state after
t + 1]: everything around t and nothing of t itself, so a readout trained on positions whose
byte is known sees exactly what it sees at a masked one. Each row's softmax readout is trained
on the unmasked positions of the first `1 - test_fraction` of the text (L2 and the bag's decay
chosen on the training tail) and scored on the masked positions of the rest; `no memory` is the
floor (the one-hot left and right neighbours). The seed's fill stays as the row `manifold, seed
readout`, run on the first `max_bytes` of the held-out part with the same mask (its `scored`
column says on how many masked bytes).
"""

from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass, field

import numpy as np
import torch

from thermo_manifold.device import make_generator
from thermo_manifold.sensorium.baselines import bigram_fill, most_frequent_fill
from thermo_manifold.sensorium.datasets import load_text
from thermo_manifold.sensorium.engine import EngineConfig, TokenEngine
from thermo_manifold.sensorium.reservoir import ReservoirConfig
from thermo_manifold.sensorium.reservoir_rows import (FeatureSets, RowsConfig, fit_classifiers,
                                                      stream_features)
from thermo_manifold.sensorium.threads import one_thread

READOUTS = ("reservoir", "seed")
SEED_ROW = "manifold, seed readout"
BASELINES = ("most frequent byte", "bigram fill")
NO_BYTE = -1  # what the RARE and MASK tokens decode to: never equal to a byte


def text_reservoir(vocab: int = 32) -> ReservoirConfig:
    """The reservoir for masked text.

    - `vocab` tokens: the 30 most frequent bytes cover 96% of the pydoc topics, and the rarer
      ones share a token. A byte seen a handful of times makes histogram columns that are
      nearly constant on the fitting rows, and a standardised linear readout blows up on its
      next occurrence (with 62 byte tokens: z-scores in the hundreds on the training tail, and
      the manifold row fell below `no memory`).
    - three trail taps: the three nearest tokens on each side read in the injection point's
      frame, the order a byte's context needs.
    - a closed trail of 32 tokens and a budget of 16 tokens (64 particles): older bursts never
      share a trail point with a new one (the budget is below the lap; an open trail would
      also make the global fields a clock that a readout fitted on the first part of a text
      cannot extrapolate), trail points are 3.3 cells apart on average, so each tap holds its
      own token (on random tokens the taps' argmax is the token 99-100% of the time, against
      68-99% with a lap of 96 and a budget of 64), and a short budget keeps the histograms'
      sums, which a run such as "=====" inflates, near their usual range.
    - token places 0.25 cells off the trail, so a token's particles stay nearest their tap."""
    return ReservoirConfig(vocab=vocab, taps=3, trail_period=32, identity_radius=0.25,
                           max_particles=64)


def text_rows(reservoir: ReservoirConfig, max_iter: int = 60) -> RowsConfig:
    """The rows' settings for masked text: L2 candidates up to 1 (the manifold's ~1,000
    bidirectional features need more than the default grid's 1e-2: on the training tail of
    12 KB it chose 0.1 over 0.01 and 1) and 60 L-BFGS iterations (on 6 KB the same accuracy and
    chosen L2 as 100, in less than half the time)."""
    return RowsConfig(reservoir=reservoir, softmax_l2s=(1e-2, 1e-1, 1.0),
                      softmax_max_iter=max_iter)


def _integer(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")


def _open_fraction(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be a number in (0, 1); got {value!r}")


@dataclass(frozen=True)
class Config:
    max_bytes: int = 1500  # seed; reservoir readout: the held-out bytes the seed fill runs on
    mask_fraction: float = 0.20  # seed
    ingest_step_every: int = 64  # seed
    engine: EngineConfig = EngineConfig()
    # The reservoir readout: the first `text_bytes` of the text, the last `test_fraction` held out.
    text_bytes: int = 12000
    test_fraction: float = 0.25
    rows: RowsConfig = field(default_factory=lambda: text_rows(text_reservoir()))

    def __post_init__(self) -> None:
        _integer("max_bytes", self.max_bytes, 2)
        _integer("ingest_step_every", self.ingest_step_every, 1)
        _integer("text_bytes", self.text_bytes, 64)
        _open_fraction("mask_fraction", self.mask_fraction)
        _open_fraction("test_fraction", self.test_fraction)
        if not isinstance(self.engine, EngineConfig):
            raise ValueError(f"engine must be an EngineConfig; got {type(self.engine).__name__}")
        if not isinstance(self.rows, RowsConfig):
            raise ValueError(f"rows must be a RowsConfig; got {type(self.rows).__name__}")
        if self.rows.reservoir.vocab < 3:
            raise ValueError(f"rows.reservoir.vocab must be >= 3 (a byte token, RARE and MASK); "
                             f"got {self.rows.reservoir.vocab}")

    @classmethod
    def quick(cls) -> "Config":
        return cls(max_bytes=250, text_bytes=600,
                   rows=dataclasses.replace(text_rows(text_reservoir(vocab=16), max_iter=30),
                                            bag_decays=(0.5, 0.9)))


# ====================================================================== the mask and the split


def make_mask(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The seed's mask: (masked positions in their random fill order, observed (n,) bool)."""
    order = torch.randperm(n, generator=make_generator(seed)).numpy()
    masked = order[: int(fraction * n)]
    observed = np.ones(n, dtype=bool)
    observed[masked] = False
    return masked, observed


def split_positions(observed: np.ndarray, test_fraction: float
                    ) -> tuple[np.ndarray, np.ndarray, int]:
    """(training positions, scored positions, first held-out position).

    Training: the observed positions of the first part, whose bytes are known. Scored: the
    masked positions of the held-out part. Both leave out the first and last byte, which lack
    a neighbour on one side, so every position has both halves of its features."""
    n = observed.size
    start = n - int(round(test_fraction * n))
    inner = np.arange(1, n - 1)
    train = inner[(inner < start) & observed[inner]]
    scored = inner[(inner >= start) & ~observed[inner]]
    return train, scored, start


# ====================================================================== tokens


def compact_vocabulary(data: np.ndarray, observed: np.ndarray, vocab: int
                       ) -> tuple[np.ndarray, np.ndarray]:
    """(lookup (256,) byte -> token, symbols (vocab,) token -> byte or NO_BYTE).

    The `vocab - 2` most frequent observed bytes (ties by byte value) get tokens 0, 1, ...;
    every other byte, including one seen only under the mask, shares RARE = vocab - 2, which
    decodes to no byte (as a target it is a miss); MASK = vocab - 1 marks the masked
    positions. Counting observed bytes only keeps the masked ones out of the vocabulary."""
    counts = np.bincount(data[observed], minlength=256)
    ranked = np.lexsort((np.arange(256), -counts))
    kept = ranked[: vocab - 2][counts[ranked[: vocab - 2]] > 0]
    lookup = np.full(256, vocab - 2, dtype=np.int64)
    lookup[kept] = np.arange(kept.size)
    symbols = np.full(vocab, NO_BYTE, dtype=np.int64)
    symbols[: kept.size] = kept
    return lookup, symbols


def masked_stream(data: np.ndarray, observed: np.ndarray, lookup: np.ndarray, vocab: int
                  ) -> np.ndarray:
    """The token stream the reservoirs read: each observed byte's token, MASK elsewhere."""
    return np.where(observed, lookup[data], vocab - 1)


# ====================================================================== bidirectional features


def bidirectional(forward: FeatureSets, backward: FeatureSets, positions: np.ndarray
                  ) -> FeatureSets:
    """Row i: [forward row of position p - 1, backward row of position p + 1], p = positions[i].

    `backward` read the stream reversed, so its row j holds the state after position
    n - 1 - j, and position p + 1 is its row n - 2 - p. Neither half has read position p: the
    token at p never reaches its own features, inputs included (the `no memory` design is the
    one-hot left and right neighbours)."""
    n = forward.inputs.shape[0]
    positions = np.asarray(positions)
    if positions.size and (positions.min() < 1 or positions.max() > n - 2):
        raise ValueError(f"positions must lie in [1, {n - 2}] (both neighbours in the stream); "
                         f"got [{positions.min()}, {positions.max()}]")
    left, right = positions - 1, n - 2 - positions

    def pair(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.hstack([a[left], b[right]])

    return FeatureSets(inputs=pair(forward.inputs, backward.inputs),
                       features={r: pair(forward.features[r], backward.features[r])
                                 for r in forward.features},
                       bag={d: pair(forward.bag[d], backward.bag[d]) for d in forward.bag})


def bidirectional_features(tokens: np.ndarray, positions: np.ndarray, config: RowsConfig,
                           seed: int, bar) -> FeatureSets:
    """Every row's bidirectional features of `positions`: each reservoir (the same seed both
    ways) reads the stream left to right and right to left."""
    forward = stream_features(tokens, config, seed, bar=lambda it, total, desc: bar(
        it, total, f"{desc} forward"))
    backward = stream_features(tokens[::-1].copy(), config, seed, bar=lambda it, total, desc: bar(
        it, total, f"{desc} backward"))
    return bidirectional(forward, backward, positions)


# ====================================================================== the seed's fill


def seed_fill(cfg: Config, ctx, data: np.ndarray, observed: np.ndarray, fill_order: np.ndarray
              ) -> np.ndarray:
    """The seed's readout: ingest the observed bytes at their positions (a step every
    `ingest_step_every`), then for each masked position in `fill_order` predict a byte, inject
    it and step. Returns the filled text (masked bytes not yet filled are 0)."""
    engine = TokenEngine(cfg.engine, seed=ctx.seed, device=ctx.device)
    seen = np.flatnonzero(observed)
    engine.observe(data[seen].tolist(), positions=seen.tolist(),
                   step_every=cfg.ingest_step_every)
    filled = data.copy()
    filled[~observed] = 0
    for pos in ctx.bar(fill_order.tolist(), len(fill_order), "text_diffusion seed"):
        filled[pos] = engine.predict_byte(int(pos))[0]
        engine.inject_ids(engine.tokenizer.hash_ids([int(filled[pos])], [int(pos)]))
        engine.step()
    return filled


# ====================================================================== the two tables


def seed_table(cfg: Config, ctx, name: str, text: bytes
               ) -> tuple[list[dict], list[str], str, dict]:
    """The seed's table: the first `max_bytes`, every method scored on all masked bytes."""
    data = np.frombuffer(text[: cfg.max_bytes], dtype=np.uint8).copy()
    n = len(data)
    masked, observed = make_mask(n, cfg.mask_fraction, ctx.seed)
    fills = {"manifold": seed_fill(cfg, ctx, data, observed, masked),
             "most frequent byte": most_frequent_fill(data, observed),
             "bigram fill": bigram_fill(data, observed)}
    rows = [{"method": m, "masked_accuracy": float(np.mean(f[~observed] == data[~observed]))}
            for m, f in fills.items()]
    caption = f"Masked-byte accuracy, {cfg.mask_fraction:.0%} of {n} bytes of {name} masked."
    sample = slice(0, min(160, n))
    extras = {"bytes": n, "masked": int(len(masked)),
              "example_masked": _show(np.where(observed, data, ord("_"))[sample]),
              "example_manifold": _show(fills["manifold"][sample])}
    return rows, ["method", "masked_accuracy"], caption, extras


def reservoir_rows_for(cfg: Config, ctx, data: np.ndarray, observed: np.ndarray,
                       train: np.ndarray, scored: np.ndarray) -> tuple[list[dict], np.ndarray]:
    """Every reservoir row's masked accuracy on `scored` (readouts fitted on `train`), and the
    first row's filled bytes there (NO_BYTE where it chose RARE or MASK)."""
    vocab = cfg.rows.reservoir.vocab
    lookup, symbols = compact_vocabulary(data, observed, vocab)
    tokens = masked_stream(data, observed, lookup, vocab)
    positions = np.concatenate([train, scored])
    bar = lambda it, total, desc: ctx.bar(it, total, f"text_diffusion {desc}")  # noqa: E731
    sets = bidirectional_features(tokens, positions, cfg.rows, ctx.seed, bar)
    # Every byte's target is its token (RARE for a byte outside the vocabulary); MASK is a
    # class no target has, so the readout's class set is the stream's.
    fitted, predicted = fit_classifiers(sets, lookup[data[positions]], np.arange(train.size),
                                        np.arange(train.size, positions.size), cfg.rows,
                                        n_classes=vocab)
    truth = data[scored]
    filled = {r["method"]: symbols[predicted[r["method"]]] for r in fitted}
    rows = [{"method": m, "masked_accuracy": float(np.mean(f == truth)),
             "scored": int(scored.size)} for m, f in filled.items()]
    return rows, filled[fitted[0]["method"]]


def seed_row(cfg: Config, ctx, data: np.ndarray, observed: np.ndarray, masked: np.ndarray,
             scored: np.ndarray, start: int) -> dict:
    """The seed's fill of the first `max_bytes` of the held-out part (its own positions from
    0, the mask's random order), scored on the scored positions it covers (NaN when none)."""
    end = min(data.size, start + cfg.max_bytes)
    order = masked[(masked >= start) & (masked < end)] - start
    filled = seed_fill(cfg, ctx, data[start:end], observed[start:end], order)
    covered = scored[scored < end]
    hits = filled[covered - start] == data[covered]
    return {"method": SEED_ROW, "masked_accuracy": float(hits.mean()) if hits.size else math.nan,
            "scored": int(covered.size)}


def reservoir_table(cfg: Config, ctx, name: str, text: bytes
                    ) -> tuple[list[dict], list[str], str, dict]:
    """Every reservoir row, the seed's fill and the fills, scored on the same masked bytes of
    the held-out part (the seed's on the first `max_bytes` of it)."""
    data = np.frombuffer(text[: cfg.text_bytes], dtype=np.uint8).copy()
    n = len(data)
    masked, observed = make_mask(n, cfg.mask_fraction, ctx.seed)
    train, scored, start = split_positions(observed, cfg.test_fraction)
    if train.size < 10 or scored.size < 1:
        raise ValueError(f"{n} bytes leave {train.size} training and {scored.size} scored "
                         f"positions; use a longer text (text_bytes={cfg.text_bytes})")
    rows, first = reservoir_rows_for(cfg, ctx, data, observed, train, scored)
    rows.append(seed_row(cfg, ctx, data, observed, masked, scored, start))
    fills = {"most frequent byte": most_frequent_fill(data, observed),
             "bigram fill": bigram_fill(data, observed)}
    rows += [{"method": m, "masked_accuracy": float(np.mean(f[scored] == data[scored])),
              "scored": int(scored.size)} for m, f in fills.items()]

    caption = (f"Masked-byte accuracy on the last {cfg.test_fraction:.0%} of {n} bytes of {name} "
               f"with {cfg.mask_fraction:.0%} of the bytes masked; `scored` is the number of "
               "masked bytes each row is scored on. Reservoir rows: a softmax readout of "
               "[forward state after t - 1, backward state after t + 1, one-hot neighbours] "
               f"over {cfg.rows.reservoir.vocab} tokens, trained on the {train.size} unmasked "
               "positions of the first part, L2 (and the bag's decay) chosen on its tail. The "
               f"seed readout fills the first {min(n - start, cfg.max_bytes)} held-out bytes; "
               "the fills count every observed byte.")
    shown = data.copy()
    shown[scored] = np.where(first >= 0, first, ord("?"))
    sample = slice(start, min(n, start + 160))
    extras = {"bytes": n, "masked": int(len(masked)), "scored": int(scored.size),
              "training_positions": int(train.size), "vocab": cfg.rows.reservoir.vocab,
              "reservoir_features": cfg.rows.reservoir.n_features,
              "example_masked": _show(np.where(observed, data, ord("_"))[sample]),
              "example_manifold": _show(shown[sample])}
    return rows, ["method", "masked_accuracy", "scored"], caption, extras



def _show(values: np.ndarray) -> str:
    return bytes(values.astype(np.uint8)).decode("utf-8", "replace")


def run(cfg: Config, ctx, report) -> dict:
    readout = ctx.readout_for(sys.modules[__name__])
    name, text = load_text(ctx.text)
    make = seed_table if readout == "seed" else reservoir_table
    with one_thread():
        rows, columns, caption, extras = make(cfg, ctx, name, text)
    report.table("text_diffusion", rows, columns, caption)
    report.compare("text_diffusion", rows, "masked_accuracy", higher_is_better=True)

    from thermo_manifold.sensorium.report import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 0.8 + 0.3 * len(rows)))
    colours = ["tab:purple" if r["method"].startswith("manifold") else "tab:gray"
               if r["method"] in BASELINES else "tab:blue" for r in rows]
    ax.barh([r["method"] for r in rows], [r["masked_accuracy"] for r in rows], color=colours)
    ax.invert_yaxis()
    ax.set_xlabel("masked-byte accuracy")
    ax.set_xlim(0, 1)
    fig.tight_layout()
    report.figure(fig, "text_diffusion")
    return {"source": name, **extras}
