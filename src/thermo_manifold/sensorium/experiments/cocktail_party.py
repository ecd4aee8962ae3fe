"""cocktail_party: two voices, prompts then an overlap (seed: kernel_cocktail_party.py).

Layout of the recording: voice A alone (prompt A), voice B alone (prompt B), then both mixed
(the overlap). Voices: two espeak-ng voices when `espeak-ng` is installed, else two synthetic
harmonic sources. The seed's procedure: for each speaker, prime an engine with its prompt (a
step every `ingest_step_every` samples), take the mask of its `carrier_top_k` strongest
carriers, and generate the overlap byte by byte with masked scoring. (The seed builds the mask
on one engine and applies it to the carriers of another; here the mask comes from the engine
that uses it.) Unlike the seed we know the true stems, so the outputs are scored by SI-SDR
against them, beside the mixture itself and the oracle ideal ratio mask (an upper bound).

`--readout reservoir` (the default) learns the separation from the prompts: prompt A and
prompt B are given alone, so their sum is a training mixture whose stems are known. The
training mixture, then the overlap, stream through the reservoir rows of `reservoir_rows.py`
one sample at a time (value bands as tokens, as in timeseries), and each row's ridge readout
maps [features after sample t, sample t and its band] to both stems' sample t; it is fitted on
the training mixture after a washout (alpha chosen on its tail) and scored by SI-SDR on the
overlap, which it never saw. `no memory` sees only the current mixture sample, so it can do no
better than a rescaled mixture; a row separates only as far as its memory of the recent
waveform lets a linear readout filter it. The seed's carrier masks stay as the row
`manifold, seed readout`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import numpy as np

from thermo_manifold.device import make_generator
from thermo_manifold.sensorium.baselines import oracle_ratio_mask, si_sdr
from thermo_manifold.sensorium.datasets import bytes_to_float, float_to_bytes, load_voices
from thermo_manifold.sensorium.engine import EngineConfig, TokenEngine
from thermo_manifold.sensorium.experiments.timeseries import series_reservoir
from thermo_manifold.sensorium.reservoir_rows import (MANIFOLD, RowsConfig, fit_regressors,
                                                      stream_features)

READOUTS = ("reservoir", "seed")


@dataclass(frozen=True)
class Config:
    sample_rate: int = 8000
    prompt_seconds: float = 1.0  # seed
    overlap_seconds: float = 0.5  # seed: 2.0 (one engine step per generated sample)
    carrier_top_k: int = 16  # seed
    ingest_step_every: int = 256  # seed
    engine: EngineConfig = EngineConfig()
    # The reservoir readout: samples as value bands, as for series.
    washout: int = 96
    # The seed row under the reservoir readout generates only the first seed_seconds of the
    # overlap (one engine step per sample; the `scored` column says how many samples).
    seed_seconds: float = 0.125
    rows: RowsConfig = field(default_factory=lambda: RowsConfig(reservoir=series_reservoir()))

    def __post_init__(self) -> None:
        if isinstance(self.washout, bool) or not isinstance(self.washout, int) \
                or self.washout < 0:
            raise ValueError(f"washout must be an integer >= 0; got {self.washout!r}")
        if not (isinstance(self.seed_seconds, (int, float)) and not isinstance(
                self.seed_seconds, bool) and self.seed_seconds > 0):
            raise ValueError(f"seed_seconds must be a number > 0; got {self.seed_seconds!r}")

    @classmethod
    def quick(cls) -> "Config":
        return cls(sample_rate=4000, prompt_seconds=0.08, overlap_seconds=0.01, washout=24)


def separate(prompt: np.ndarray, length: int, cfg: Config, ctx, speaker: str) -> np.ndarray:
    engine = TokenEngine(cfg.engine, seed=ctx.seed, device=ctx.device)
    engine.observe(prompt.tolist(), 0, step_every=cfg.ingest_step_every)
    engine.step()
    mask = engine.top_carriers(cfg.carrier_top_k)
    out = np.zeros(length, dtype=np.int64)
    for t in ctx.bar(range(length), length, f"cocktail_party {speaker}"):
        # Carriers can be spawned or recycled while generating: keep the mask's frequencies
        # by re-selecting the same number of strongest carriers when the count changes.
        if mask.numel() != engine.carriers.carriers.num_carriers:
            mask = engine.top_carriers(cfg.carrier_top_k)
        out[t] = engine.predict_byte(t, carrier_mask=mask)[0]
        engine.inject_ids(engine.tokenizer.hash_ids([int(out[t])], [t]))
        engine.step()
    return out


def reservoir_estimates(cfg: Config, ctx, train_mixture: np.ndarray, train_stems: np.ndarray,
                        mixture: np.ndarray) -> tuple[list[dict], dict[str, np.ndarray]]:
    """Every reservoir row's estimate of both stems on `mixture`, its ridge readout fitted on
    `train_mixture` (whose stems, (T, 2), are known) after the washout. Returns the rows'
    readout settings and row -> (len(mixture), 2) estimates."""
    stream = np.concatenate([train_mixture, mixture])
    if not cfg.washout + 10 < train_mixture.size:
        raise ValueError(f"washout ({cfg.washout}) must leave at least 10 of the "
                         f"{train_mixture.size} training samples")
    bands = cfg.rows.reservoir.vocab
    tokens = np.clip(float_to_bytes(stream).astype(np.int64) * bands // 256, 0, bands - 1)
    bar = lambda it, total, desc: ctx.bar(it, total, f"cocktail_party {desc}")  # noqa: E731
    sets = stream_features(tokens, cfg.rows, ctx.seed, bar=bar, values=stream)
    targets = np.concatenate([train_stems, np.zeros((mixture.size, 2))])
    train = np.arange(cfg.washout, train_mixture.size)
    test = np.arange(train_mixture.size, stream.size)
    return fit_regressors(sets, targets, train, test, cfg.rows)


def run(cfg: Config, ctx, report) -> dict:
    readout = ctx.readout_for(sys.modules[__name__])
    prompt_n = int(cfg.prompt_seconds * cfg.sample_rate)
    overlap_n = int(cfg.overlap_seconds * cfg.sample_rate)
    voices, why = load_voices(cfg.sample_rate, cfg.prompt_seconds + cfg.overlap_seconds,
                              make_generator(ctx.seed))
    if why:
        report.skip("espeak-ng voices", why)
    a, b = voices.stems
    stem_a, stem_b = a[prompt_n:prompt_n + overlap_n], b[prompt_n:prompt_n + overlap_n]
    mixture = stem_a + stem_b
    # Bytes the engine sees (the seed quantises the recording to 0..255).
    prompt_a, prompt_b = float_to_bytes(a[:prompt_n]), float_to_bytes(b[:prompt_n])

    seed_n = overlap_n if readout == "seed" else max(
        1, min(overlap_n, int(cfg.seed_seconds * cfg.sample_rate)))
    est_a = bytes_to_float(separate(prompt_a, seed_n, cfg, ctx, "A"))
    est_b = bytes_to_float(separate(prompt_b, seed_n, cfg, ctx, "B"))
    oracle_a, oracle_b = oracle_ratio_mask(mixture, [stem_a, stem_b],
                                           n_fft=min(512, overlap_n // 2 * 2),
                                           hop=min(128, max(1, overlap_n // 8)))
    seed_name = "manifold (masked carriers)" if readout == "seed" else "manifold, seed readout"
    methods = {seed_name: (est_a, est_b), "mixture as estimate": (mixture, mixture),
               "oracle ratio mask (upper bound)": (oracle_a, oracle_b)}
    caption = (f"Two-voice separation ({voices.origin} voices {voices.names[0]} and "
               f"{voices.names[1]}, {cfg.sample_rate} Hz, {cfg.overlap_seconds:g} s overlap): "
               "SI-SDR in dB against the true stems.")
    shown = (est_a, est_b, "manifold")
    if readout == "reservoir":
        train_stems = np.stack([a[:prompt_n], b[:prompt_n]], axis=1)
        _, estimates = reservoir_estimates(cfg, ctx, train_stems.sum(axis=1), train_stems,
                                           mixture)
        methods = {**{row: (e[:, 0], e[:, 1]) for row, e in estimates.items()}, **methods}
        if MANIFOLD in estimates:
            shown = (estimates[MANIFOLD][:, 0], estimates[MANIFOLD][:, 1], MANIFOLD)
        caption += (" Reservoir rows: a ridge readout of [features, sample and its band] "
                    f"fitted on the sum of the two {cfg.prompt_seconds:g} s prompts (stems "
                    "known), scored on the overlap.")
    rows = []
    for m, (ea, eb) in methods.items():
        n = len(ea)  # the seed row may cover a prefix of the overlap only
        sa, sb = si_sdr(ea, stem_a[:n]), si_sdr(eb, stem_b[:n])
        rows.append({"method": m, "si_sdr_a_db": sa, "si_sdr_b_db": sb,
                     "si_sdr_mean_db": (sa + sb) / 2,
                     **({"scored": n} if readout == "reservoir" else {})})
    columns = ["method", "si_sdr_a_db", "si_sdr_b_db", "si_sdr_mean_db"]
    if readout == "reservoir":
        columns.append("scored")
        caption += (f" The seed readout generates the first {seed_n} samples of the overlap "
                    "only (`scored`).")
    report.table("cocktail_party", rows, columns, caption)
    report.compare("cocktail_party", rows, "si_sdr_mean_db", higher_is_better=True)

    # The seed's own numbers, for comparison with its paper table.
    rms = lambda x: float(np.sqrt(np.mean(x * x) + 1e-8))  # noqa: E731
    scale = rms(mixture[:seed_n]) / (rms(est_a) + rms(est_b) + 1e-8)
    recon_mse = float(np.mean((np.clip((est_a + est_b) * scale, -1, 1) - mixture[:seed_n])
                              ** 2))
    cosine = float(est_a @ est_b / (np.linalg.norm(est_a) * np.linalg.norm(est_b) + 1e-8))

    from thermo_manifold.sensorium.report import pyplot

    plt = pyplot()
    fig, axes = plt.subplots(3, 1, figsize=(9, 6), sharex=True)
    axes[0].plot(mixture, color="black", linewidth=0.8)
    axes[0].set_title("mixture (overlap)", fontsize=9)
    for ax, stem, est, oracle, label in ((axes[1], stem_a, shown[0], oracle_a, "A"),
                                         (axes[2], stem_b, shown[1], oracle_b, "B")):
        ax.plot(stem, color="black", linewidth=0.9, label=f"true {label}")
        ax.plot(oracle, linewidth=0.8, alpha=0.8, label="oracle mask")
        ax.plot(est, linewidth=0.8, alpha=0.8, label=shown[2])
        ax.legend(fontsize=7)
    axes[-1].set_xlabel("sample")
    report.figure(fig, "cocktail_party")
    return {"voices": voices.origin, "sample_rate": cfg.sample_rate,
            "seed_recon_mse": recon_mse, "seed_cosine_ab": cosine}
