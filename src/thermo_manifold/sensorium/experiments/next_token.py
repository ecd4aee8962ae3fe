"""next_token: next-byte prediction on real English text (seed: kernel_next_token.py).

`--readout seed`: the engine ingests `warmup` bytes, then for each position scores the 256
candidates, predicts the argmax and observes the true byte (inject, step). The first
`calibration_fraction` of the predicted positions is the training part: the softmax temperature
is fitted there, and the n-gram and compression baselines are trained on the same bytes.
Everything is scored on the rest.

`--readout reservoir` (the default) reads the first `max_bytes` of the text and splits it in
time: the first `train_fraction` is the training part, the rest the test part, the same for
every row. Bytes become reservoir tokens by identity: the distinct bytes of the training part,
in byte order, and one `other` token for any byte the training part lacks (a byte's token, so
its frequency and landing place, depends on the byte alone; the compact vocabulary keeps the
feature count and the softmax small). Every reservoir row's softmax readout maps [features
after byte t, byte t one-hot] to byte t + 1, its L2 chosen on the training tail; a predicted
`other` spreads its probability evenly over the bytes it stands for, so bits/byte are those of
a proper distribution over all 256 bytes. The baselines (uniform, unigram, order-1 and order-2
Markov, zlib, lzma) are trained on the training part and run online over the test part. The
seed's readout stays as the row `manifold, seed readout`: its temperature is fitted on the last
`seed_calibration` training positions and it is scored on the first `seed_test` test positions
(the `scored` column says how many).
"""

from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass, field

import numpy as np
import torch

from thermo_manifold.sensorium.baselines import online_ngram_scores, text_baselines
from thermo_manifold.sensorium.datasets import load_text
from thermo_manifold.sensorium.engine import EngineConfig, SoftmaxCalibrator, TokenEngine
from thermo_manifold.sensorium.reservoir import ReservoirConfig
from thermo_manifold.sensorium.reservoir_rows import (MANIFOLD, RowsConfig, fit_classifiers,
                                                      stream_features)

READOUTS = ("reservoir", "seed")


def text_reservoir(vocab: int, trail: int = 96) -> ReservoirConfig:
    """The reservoir for text: `vocab` byte tokens (neighbouring tokens 0.16 apart in frequency,
    two minimum gate widths), three trail taps (the last three bytes in the injection point's
    frame: the conjunctions an order-2 context needs), token places 0.25 cells off a closed
    trail of `trail` tokens (an open one turns the global fields into a clock that a readout
    fitted on the past cannot extrapolate), and a budget of 64 tokens, under one lap, so the
    trail does not come back onto its own older particles. Fields pooled over 8^3 blocks and 8
    carrier bins (48 features, not 288): chosen on a validation split inside the training part
    (the first 6,000 bytes of the pydoc topics, the last 1,200 of them held out), where the
    finer fields and carrier bins cost 0.14 bits/byte (3.77 against 3.63)."""
    return ReservoirConfig(vocab=vocab, taps=3, trail_period=trail, identity_radius=0.25,
                           max_particles=256, pool=8, carrier_bins=8)


@dataclass(frozen=True)
class Config:
    warmup: int = 64  # seed
    steps: int = 800  # seed: predicted positions
    calibration_fraction: float = 0.25
    seed_softmax_temperature: float = 0.5  # the seed's fixed softmax(scores / 0.5)
    engine: EngineConfig = EngineConfig()
    # The reservoir readout.
    max_bytes: int = 20_000
    train_fraction: float = 0.8
    washout: int = 64  # rows the reservoirs fill up before any row is fitted
    seed_calibration: int = 200  # the seed row: training positions its temperature is fit on
    seed_test: int = 600  # the seed row: test positions it is scored on
    # Every decay of the bag at once (choosing one would mean a softmax fit per decay), and
    # L2 candidates up to 0.1 (the features outnumber the bytes of a short text's tail).
    rows: RowsConfig = field(default_factory=lambda: RowsConfig(
        choose_bag_decay=False, softmax_l2s=(1e-3, 1e-2, 1e-1)))

    def __post_init__(self) -> None:
        for name in ("warmup", "steps", "max_bytes", "washout", "seed_calibration",
                     "seed_test"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1; got {value!r}")
        for name in ("calibration_fraction", "train_fraction"):
            value = getattr(self, name)
            if not (isinstance(value, float) and 0.0 < value < 1.0):
                raise ValueError(f"{name} must be a number in (0, 1); got {value!r}")

    @classmethod
    def quick(cls) -> "Config":
        return cls(warmup=16, steps=100, max_bytes=1_200, washout=32, seed_calibration=50,
                   seed_test=100)


# ==================================================================== the seed's readout


def seed_scores(cfg: Config, ctx, data: bytes, first: int, count: int) -> torch.Tensor:
    """The seed's engine: ingest the `warmup` bytes before position `first`, then score the 256
    candidates of each of the next `count` positions and observe the true byte."""
    engine = TokenEngine(cfg.engine, seed=ctx.seed, device=ctx.device)
    start = max(0, first - cfg.warmup)
    engine.observe(data[start:first], start, step_every=1)
    scores = torch.zeros(count, 256, dtype=torch.float64)
    for t in ctx.bar(range(count), count, "next_token seed readout"):
        pos = first + t
        scores[t] = engine.byte_scores(pos).double().cpu()
        engine.observe(data[pos:pos + 1], pos, step_every=1)
    return scores


def seed_table(cfg: Config, ctx, name: str, text: bytes) -> tuple[list[dict], dict, torch.Tensor]:
    data = text[: cfg.warmup + cfg.steps + 1]
    steps = min(cfg.steps, len(data) - cfg.warmup - 1)
    n_train = max(1, int(cfg.calibration_fraction * steps))
    scores = seed_scores(cfg, ctx, data, cfg.warmup, steps)
    targets = torch.tensor(list(data[cfg.warmup: cfg.warmup + steps]))
    calibrator = SoftmaxCalibrator().fit(scores[:n_train], targets[:n_train])
    test_scores, test_targets = scores[n_train:], targets[n_train:]
    bits = calibrator.bits(test_scores, test_targets)
    seed_bits = (-torch.log_softmax(test_scores / cfg.seed_softmax_temperature, dim=1)
                 .gather(1, test_targets[:, None]).reshape(-1) / np.log(2.0))
    accuracy = float((test_scores.argmax(dim=1) == test_targets).double().mean())
    train_bytes = data[: cfg.warmup + n_train]
    test_bytes = data[cfg.warmup + n_train: cfg.warmup + steps]
    rows = [{"method": "manifold (calibrated softmax)", "bits_per_byte": float(bits.mean()),
             "accuracy": accuracy},
            {"method": "manifold (seed softmax T=0.5)", "bits_per_byte": float(seed_bits.mean()),
             "accuracy": accuracy}]
    rows += text_baselines(train_bytes, test_bytes)
    caption = (f"Next-byte prediction on {name}: {len(train_bytes)} training bytes, "
               f"{len(test_bytes)} test bytes (online: every method observes each test byte "
               f"after predicting it).")
    extra = {"train_bytes": len(train_bytes), "test_bytes": len(test_bytes),
             "temperature": calibrator.temperature}
    return rows, {"caption": caption, "columns": ["method", "bits_per_byte", "accuracy"],
                  "compare": rows[:1] + rows[2:], **extra}, bits


# ==================================================================== the reservoir readout


@dataclass(frozen=True)
class ByteVocabulary:
    """Bytes -> reservoir tokens: the distinct bytes of the training part in byte order, then
    `other` (index `size - 1`) for every byte they lack."""

    known: np.ndarray  # (K,) the known bytes, ascending

    @classmethod
    def of(cls, training: bytes) -> "ByteVocabulary":
        return cls(np.unique(np.frombuffer(training, dtype=np.uint8)).astype(np.int64))

    @property
    def size(self) -> int:
        return self.known.size + 1

    @property
    def other(self) -> int:
        return self.known.size

    def tokens(self, data: bytes) -> np.ndarray:
        table = np.full(256, self.other, dtype=np.int64)
        table[self.known] = np.arange(self.known.size)
        return table[np.frombuffer(data, dtype=np.uint8)]

    def bits_per_byte(self, token_bits: float, targets: np.ndarray) -> float:
        """Mean bits/byte from mean bits/token: a target `other` pays log2 of the bytes the
        token stands for on top (its probability spread evenly over them)."""
        spread = 256 - self.known.size
        share = float(np.mean(targets == self.other)) if spread else 0.0
        return token_bits + share * (math.log2(spread) if spread else 0.0)


def reservoir_table(cfg: Config, ctx, name: str, text: bytes
                    ) -> tuple[list[dict], dict, dict[str, np.ndarray]]:
    data = text[: cfg.max_bytes]
    n = len(data)
    n_train = int(cfg.train_fraction * n)  # bytes 0 .. n_train - 1 are the training part
    if n_train - 1 - cfg.washout < 10 or n - n_train < 10:
        raise ValueError(f"{name}: {n} bytes leave too few training or test positions "
                         f"(washout {cfg.washout}, train_fraction {cfg.train_fraction})")
    vocab = ByteVocabulary.of(data[:n_train])
    rows_cfg = dataclasses.replace(cfg.rows, reservoir=text_reservoir(vocab.size))
    tokens = vocab.tokens(data)
    bar = lambda it, total, desc: ctx.bar(it, total, f"next_token {desc}")  # noqa: E731
    # Row t: the state after byte t; target: byte t + 1.
    sets = stream_features(tokens[:-1], rows_cfg, ctx.seed, bar=bar)
    targets = tokens[1:]
    train = np.arange(cfg.washout, n_train - 1)
    test = np.arange(n_train - 1, n - 1)
    fitted, predicted = fit_classifiers(sets, targets, train, test, rows_cfg, vocab.size)
    truth = targets[test]
    rows = []
    for row in fitted:
        hits = (predicted[row["method"]] == truth) & (truth != vocab.other)
        rows.append({"method": row["method"],
                     "bits_per_byte": vocab.bits_per_byte(row["bits"], truth),
                     "accuracy": float(hits.mean()), "scored": test.size,
                     "features": row["features"], "l2": row["l2"]})

    # ---------------------------------------------------------------- the seed's readout
    n_cal = min(cfg.seed_calibration, n_train - 1)
    n_seed = min(cfg.seed_test, n - n_train)
    scores = seed_scores(cfg, ctx, data, n_train - n_cal, n_cal + n_seed)
    seed_targets = torch.tensor(list(data[n_train - n_cal: n_train + n_seed]))
    calibrator = SoftmaxCalibrator().fit(scores[:n_cal], seed_targets[:n_cal])
    seed_bits = calibrator.bits(scores[n_cal:], seed_targets[n_cal:])
    seed_hits = scores[n_cal:].argmax(dim=1) == seed_targets[n_cal:]
    rows.append({"method": "manifold, seed readout", "bits_per_byte": float(seed_bits.mean()),
                 "accuracy": float(seed_hits.double().mean()), "scored": n_seed})

    # ---------------------------------------------------------------- baselines, same split
    train_bytes, test_bytes = data[:n_train], data[n_train:]
    baselines = text_baselines(train_bytes, test_bytes)
    order1 = {"method": "order-1 Markov", **online_ngram_scores(1, train_bytes, test_bytes)}
    baselines.insert(2, order1)
    rows += [{**b, "scored": len(test_bytes)} for b in baselines]

    caption = (f"Next-byte prediction on the first {n} bytes of {name}: the first "
               f"{cfg.train_fraction:.0%} ({n_train} bytes) for training, the last "
               f"{n - n_train} bytes scored. Reservoir rows: a softmax readout of [features, "
               f"current byte] over {vocab.size} tokens (the training part's {vocab.size - 1} "
               "distinct bytes and `other`), L2 chosen on the training tail; the baselines "
               "run online over the test part; the seed readout scores the first `scored` "
               "test bytes with its temperature fitted on the training bytes before them.")
    info = {"caption": caption,
            "columns": ["method", "bits_per_byte", "accuracy", "scored", "features", "l2"],
            "compare": rows, "train_bytes": n_train, "test_bytes": n - n_train,
            "vocabulary": vocab.size, "temperature": calibrator.temperature,
            "reservoir_features": rows_cfg.reservoir.n_features}
    traces = {"rows": {r["method"]: r["bits_per_byte"] for r in rows}}
    return rows, info, traces


def run(cfg: Config, ctx, report) -> dict:
    from thermo_manifold.sensorium.report import pyplot

    name, text = load_text(ctx.text)
    readout = ctx.readout_for(sys.modules[__name__])
    if readout == "seed":
        rows, info, bits = seed_table(cfg, ctx, name, text)
    else:
        rows, info, _ = reservoir_table(cfg, ctx, name, text)
    compare = info.pop("compare")
    report.table("next_token", rows, info.pop("columns"), info.pop("caption"))
    report.compare("next_token", compare, "bits_per_byte", higher_is_better=False)
    report.compare("next_token", [r for r in compare if not math.isnan(r["accuracy"])],
                   "accuracy", higher_is_better=True)

    plt = pyplot()
    if readout == "seed":
        fig, ax = plt.subplots(figsize=(8, 3.2))
        window = max(1, min(50, len(bits) // 4))
        rolling = np.convolve(bits.numpy(), np.ones(window) / window, mode="valid")
        ax.plot(np.arange(len(rolling)) + window - 1, rolling, label="manifold (calibrated)")
        for row in rows[2:]:
            ax.axhline(row["bits_per_byte"], linestyle="--", linewidth=0.9,
                       label=row["method"], color=plt.cm.tab10(rows.index(row)))
        ax.set_xlabel("test position")
        ax.set_ylabel(f"bits/byte (rolling {window})")
        ax.legend(fontsize=7, ncol=2)
    else:
        fig, ax = plt.subplots(figsize=(8, 4))
        shown = [r for r in rows if r["bits_per_byte"] <= 9.0]
        ax.barh([r["method"] for r in shown], [r["bits_per_byte"] for r in shown],
                color=["tab:red" if r["method"] == MANIFOLD else "tab:gray" for r in shown])
        ax.invert_yaxis()
        ax.set_xlabel("test bits/byte (lower is better)")
        ax.tick_params(axis="y", labelsize=7)
        fig.tight_layout()
    report.figure(fig, "next_token")
    return {"source": name, **info}
