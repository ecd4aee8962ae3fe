"""rule_shift: a phrase streamed forward, then reversed (seed: kernel_rule_shift.py).

"<bos> The cat sat on the mat <eos>" (as bytes, position-hashed) is injected one token per
step, forward until `shift_at`, reversed after; carriers tick every 5 steps. The seed scores
the cosine between an amplitude-weighted carrier-frequency histogram and the token histogram
of each regime; forward and reversed sequences hold the same multiset of tokens, so their
histograms are identical and that metric cannot see the reversal (`seed_alignment_gap` below
is 0 by construction). Our metric is order-sensitive: after each token, the engine ranks the
phrase's vocabulary by score, and we take the reciprocal rank of the true next token under the
current rule, averaged over one phrase length. Reported: pre-shift level (last 200 steps),
immediate level (first 50 steps after the shift) and recovery steps (first step after the shift
from which the next phrase-length of steps averages 80% of the pre-shift level; none when the
pre-shift level was not above chance). Baselines: chance (a random
ranking) and an online bigram counter with forgetting, under the same metric.

`--readout reservoir` (the default) adds the reservoir rows (`reservoir_rows.py`) on the same
stream, the phrase's bytes numbered 0..13 as tokens: each row's online readout (recursive least
squares with forgetting) ranks the phrase's bytes from [features, current byte] before it learns
the true next byte, prequentially, so every step is scored before it is trained on. The seed's
scoring stays as the row `manifold, seed readout`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from thermo_manifold.sensorium import reservoir_rows
from thermo_manifold.sensorium.baselines import OnlineBigram, histogram_cosine, reciprocal_rank
from thermo_manifold.sensorium.engine import EngineConfig, TokenEngine
from thermo_manifold.sensorium.reservoir import ReservoirConfig

PHRASE = b"<bos> The cat sat on the mat <eos>"
READOUTS = ("reservoir", "seed")


def phrase_reservoir() -> ReservoirConfig:
    """The reservoir for the phrase's 14 distinct bytes: the default physics and trail, with
    three trail taps (the last three tokens read in the injection point's frame, which an
    order-sensitive rule needs), token places 0.25 cells off a trail that moves a cell per token
    (so a token's particles stay nearest their own tap) and a budget of 64 tokens."""
    return ReservoirConfig(vocab=len(set(PHRASE)), taps=3, trail_step=1.0, identity_radius=0.25,
                           max_particles=256)


@dataclass(frozen=True)
class Config:
    steps: int = 2000  # seed
    shift_at: int = 1000  # seed
    pre_window: int = 200  # seed
    post_window: int = 50  # seed
    recovery_level: float = 0.8  # seed
    bigram_decay: float = 0.99
    engine: EngineConfig = EngineConfig(carrier_every=5)  # seed: carriers every 5 steps
    rows: reservoir_rows.RowsConfig = reservoir_rows.RowsConfig(reservoir=phrase_reservoir())

    @classmethod
    def quick(cls) -> "Config":
        return cls(steps=140, shift_at=70, pre_window=35, post_window=15)


def summarise(rr: np.ndarray, width: int, chance: float, cfg: Config) -> dict[str, Any]:
    """Pre-shift and immediate post-shift means of the per-step reciprocal rank. Recovery: the
    first k after the shift from which the next `width` steps (one phrase) average at least
    80% of the pre-shift level; none when the pre-shift level was not above chance."""
    s = cfg.shift_at
    pre = float(rr[max(0, s - cfg.pre_window):s].mean())
    post = float(rr[s:s + cfg.post_window].mean())
    after = rr[s:]
    c = np.concatenate([[0.0], np.cumsum(after)])
    ahead = (c[width:] - c[:-width]) / width if len(after) >= width else np.zeros(0)
    recovered = np.flatnonzero(ahead >= cfg.recovery_level * pre)
    learned = pre > chance * 1.1
    return {"pre_shift": pre, "post_shift_immediate": post,
            "recovery_steps": int(recovered[0]) if (learned and recovered.size) else None}


def windowed(rr: np.ndarray, width: int) -> np.ndarray:
    """Trailing mean over `width` steps (shorter at the start)."""
    c = np.concatenate([[0.0], np.cumsum(rr)])
    idx = np.arange(1, len(rr) + 1)
    lo = np.maximum(0, idx - width)
    return (c[idx] - c[lo]) / (idx - lo)


def simulate(cfg: Config, ctx, spectral_config=None, desc: str = "rule_shift") -> dict[str, Any]:
    """Run the stream once; returns per-step reciprocal ranks and summaries."""
    engine = TokenEngine(cfg.engine, spectral_config=spectral_config, seed=ctx.seed,
                         device=ctx.device)
    forward = engine.tokenizer.hash_ids(PHRASE, 0).tolist()
    reverse = forward[::-1]
    vocab = sorted(set(forward))
    index = {tid: i for i, tid in enumerate(vocab)}
    L = len(forward)

    def token(t: int) -> int:
        return (forward if t < cfg.shift_at else reverse)[t % L]

    bigram = OnlineBigram(len(vocab), cfg.bigram_decay)
    rr_engine = np.zeros(cfg.steps)
    rr_bigram = np.zeros(cfg.steps)
    carriers = np.zeros(cfg.steps, dtype=np.int64)
    crystallized = np.zeros(cfg.steps, dtype=np.int64)
    seed_fwd = np.zeros(cfg.steps)
    seed_rev = np.zeros(cfg.steps)
    bins = 64
    expected = [np.minimum(bins - 1, (engine.tokenizer.omegas(seq).double().numpy()
                                      / cfg.engine.tokenizer.omega_range * bins).astype(int))
                for seq in (forward, reverse)]
    for t in ctx.bar(range(cfg.steps), cfg.steps, desc):
        current = token(t)
        engine.inject_id(current)
        engine.step()
        target = index[token(t + 1)]
        scores = engine.score_ids(vocab).double().cpu().numpy()
        rr_engine[t] = reciprocal_rank(scores, target)
        rr_bigram[t] = reciprocal_rank(bigram.scores(index[current]), target)
        bigram.update(index[current], target)
        state = engine.carriers.carriers
        carriers[t] = state.num_carriers
        crystallized[t] = int((state.state == 2).sum())
        # The seed's order-blind metric, for the record.
        freq = state.frequencies.double().cpu().numpy()
        amp = state.amplitudes.double().clamp_min(0).cpu().numpy()
        hist = np.zeros(bins)
        np.add.at(hist, np.clip((freq / cfg.engine.tokenizer.omega_range * bins).astype(int),
                                0, bins - 1), amp)
        seed_fwd[t] = _cosine(hist, np.bincount(expected[0], minlength=bins))
        seed_rev[t] = _cosine(hist, np.bincount(expected[1], minlength=bins))
    chance = float(np.mean(1.0 / np.arange(1, len(vocab) + 1)))
    level_engine = windowed(rr_engine, L)
    level_bigram = windowed(rr_bigram, L)
    return {
        "engine": summarise(rr_engine, L, chance, cfg),
        "bigram": summarise(rr_bigram, L, chance, cfg),
        "chance": chance, "level_engine": level_engine, "level_bigram": level_bigram,
        "carriers": carriers, "crystallized": crystallized,
        "seed_alignment_fwd": seed_fwd, "seed_alignment_rev": seed_rev,
        "seed_alignment_gap": float(np.abs(seed_fwd - seed_rev).max()),
        "histogram_cosine_fwd_vs_rev": histogram_cosine(
            [index[x] for x in forward], [index[x] for x in reverse], len(vocab)),
        "vocabulary": len(vocab),
    }


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def phrase_tokens(cfg: Config) -> np.ndarray:
    """Token t (0 .. steps) of the stream, the phrase's bytes numbered by sorted value:
    forward before `shift_at`, reversed from it."""
    vocab = sorted(set(PHRASE))
    forward = [vocab.index(b) for b in PHRASE]
    reverse = forward[::-1]
    return np.array([(forward if t < cfg.shift_at else reverse)[t % len(forward)]
                     for t in range(cfg.steps + 1)])


def reservoir_levels(cfg: Config, ctx, chance: float) -> tuple[list[dict], dict[str, np.ndarray]]:
    """The reservoir rows' summaries and their per-step reciprocal ranks."""
    tokens = phrase_tokens(cfg)
    bar = lambda it, total, desc: ctx.bar(it, total, f"rule_shift {desc}")  # noqa: E731
    sets = reservoir_rows.stream_features(tokens[:-1], cfg.rows, ctx.seed, bar=bar)
    ranks = reservoir_rows.online_ranks(sets, tokens[1:], cfg.rows.reservoir.vocab, cfg.rows,
                                        bar=bar)
    rr = {row: reservoir_rows.reciprocal_ranks(r) for row, r in ranks.items()}
    width = len(PHRASE)
    rows = [{"method": row, **summarise(values, width, chance, cfg)} for row, values in rr.items()]
    return rows, rr


def run(cfg: Config, ctx, report) -> dict:
    readout = ctx.readout_for(sys.modules[__name__])
    result = simulate(cfg, ctx)
    seed_name = "manifold" if readout == "seed" else "manifold, seed readout"
    rows = [{"method": seed_name, **result["engine"]}]
    levels = {seed_name: result["level_engine"]}
    if readout == "reservoir":
        reservoir, rr = reservoir_levels(cfg, ctx, result["chance"])
        rows = reservoir + rows
        levels = {**{row: windowed(values, len(PHRASE)) for row, values in rr.items()}, **levels}
    rows += [{"method": "online bigram (decay 0.99)", **result["bigram"]},
             {"method": "chance (random ranking)", "pre_shift": result["chance"],
              "post_shift_immediate": result["chance"], "recovery_steps": None}]
    caption = (f"Rule shift at step {cfg.shift_at} of {cfg.steps}: mean reciprocal rank of the "
               f"true next token among the phrase's {result['vocabulary']} token ids "
               "(order-sensitive), before and right after the reversal, and steps to recover "
               f"{cfg.recovery_level:.0%} of the pre-shift level.")
    if readout == "reservoir":
        caption += (" Reservoir rows: an online RLS readout (forgetting "
                    f"{cfg.rows.forgetting}) of [features, current byte], each step ranked "
                    "before it is learnt; the decaying bag holds all of the decays "
                    f"{', '.join(str(d) for d in cfg.rows.bag_decays)} at once.")
    report.table("rule_shift", rows, ["method", "pre_shift", "post_shift_immediate",
                                      "recovery_steps"], caption)
    report.compare("rule_shift", rows, "pre_shift", higher_is_better=True)

    from thermo_manifold.sensorium.report import pyplot

    plt = pyplot()
    fig, (ax1, ax2, ax3) = plt.subplots(3, 1, figsize=(9, 7), sharex=True)
    shown = [r for r in (reservoir_rows.MANIFOLD, reservoir_rows.FROZEN, reservoir_rows.ESN,
                         reservoir_rows.NO_MEMORY, seed_name) if r in levels]
    for name in shown:
        ax1.plot(levels[name], label=name, linewidth=1)
    ax1.plot(result["level_bigram"], label="online bigram", linewidth=1)
    ax1.axhline(result["chance"], color="gray", linestyle=":", label="chance")
    ax1.set_ylabel("next-token MRR")
    ax1.legend(fontsize=7)
    ax2.plot(result["seed_alignment_fwd"], label="seed metric vs forward")
    ax2.plot(result["seed_alignment_rev"], "--", label="seed metric vs reversed")
    ax2.set_ylabel("histogram cosine")
    ax2.legend(fontsize=7)
    ax3.plot(result["carriers"], label="carriers")
    ax3.plot(result["crystallized"], label="crystallized")
    ax3.set_ylabel("count")
    ax3.set_xlabel("step")
    ax3.legend(fontsize=7)
    for ax in (ax1, ax2, ax3):
        ax.axvline(cfg.shift_at, color="red", linestyle="--", alpha=0.6)
    report.figure(fig, "rule_shift")
    return {k: v for k, v in result.items() if k not in ("engine", "bigram")}
