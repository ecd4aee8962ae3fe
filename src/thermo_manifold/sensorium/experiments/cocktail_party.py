"""cocktail_party: two voices, prompts then an overlap (seed: kernel_cocktail_party.py).

Layout of the recording: voice A alone (prompt A), voice B alone (prompt B), then both mixed
(the overlap). Voices: two espeak-ng voices when `espeak-ng` is installed, else two synthetic
harmonic sources. The seed's procedure: for each speaker, prime an engine with its prompt (a
step every `ingest_step_every` samples), take the mask of its `carrier_top_k` strongest
carriers, and generate the overlap byte by byte with masked scoring. (The seed builds the mask
on one engine and applies it to the carriers of another; here the mask comes from the engine
that uses it.) Unlike the seed we know the true stems, so the outputs are scored by SI-SDR
against them, beside the mixture itself and the oracle ideal ratio mask (an upper bound).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from thermo_manifold.device import make_generator
from thermo_manifold.sensorium.baselines import oracle_ratio_mask, si_sdr
from thermo_manifold.sensorium.datasets import bytes_to_float, float_to_bytes, load_voices
from thermo_manifold.sensorium.engine import EngineConfig, TokenEngine


# The reservoir rows are not built for this experiment yet (issue 14): only the seed's readout.
READOUTS = ("seed",)


@dataclass(frozen=True)
class Config:
    sample_rate: int = 8000
    prompt_seconds: float = 1.0  # seed
    overlap_seconds: float = 0.5  # seed: 2.0 (one engine step per generated sample)
    carrier_top_k: int = 16  # seed
    ingest_step_every: int = 256  # seed
    engine: EngineConfig = EngineConfig()

    @classmethod
    def quick(cls) -> "Config":
        return cls(sample_rate=4000, prompt_seconds=0.08, overlap_seconds=0.01)


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


def run(cfg: Config, ctx, report) -> dict:
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

    est_a = bytes_to_float(separate(prompt_a, overlap_n, cfg, ctx, "A"))
    est_b = bytes_to_float(separate(prompt_b, overlap_n, cfg, ctx, "B"))
    oracle_a, oracle_b = oracle_ratio_mask(mixture, [stem_a, stem_b],
                                           n_fft=min(512, overlap_n // 2 * 2),
                                           hop=min(128, max(1, overlap_n // 8)))
    methods = {"manifold (masked carriers)": (est_a, est_b), "mixture as estimate":
               (mixture, mixture), "oracle ratio mask (upper bound)": (oracle_a, oracle_b)}
    rows = []
    for m, (ea, eb) in methods.items():
        sa, sb = si_sdr(ea, stem_a), si_sdr(eb, stem_b)
        rows.append({"method": m, "si_sdr_a_db": sa, "si_sdr_b_db": sb,
                     "si_sdr_mean_db": (sa + sb) / 2})
    caption = (f"Two-voice separation ({voices.origin} voices {voices.names[0]} and "
               f"{voices.names[1]}, {cfg.sample_rate} Hz, {cfg.overlap_seconds:g} s overlap): "
               "SI-SDR in dB against the true stems.")
    report.table("cocktail_party", rows, ["method", "si_sdr_a_db", "si_sdr_b_db",
                                          "si_sdr_mean_db"], caption)
    report.compare("cocktail_party", rows, "si_sdr_mean_db", higher_is_better=True)

    # The seed's own numbers, for comparison with its paper table.
    rms = lambda x: float(np.sqrt(np.mean(x * x) + 1e-8))  # noqa: E731
    scale = rms(mixture) / (rms(est_a) + rms(est_b) + 1e-8)
    recon_mse = float(np.mean((np.clip((est_a + est_b) * scale, -1, 1) - mixture) ** 2))
    cosine = float(est_a @ est_b / (np.linalg.norm(est_a) * np.linalg.norm(est_b) + 1e-8))

    from thermo_manifold.sensorium.report import pyplot

    plt = pyplot()
    fig, axes = plt.subplots(3, 1, figsize=(9, 6), sharex=True)
    axes[0].plot(mixture, color="black", linewidth=0.8)
    axes[0].set_title("mixture (overlap)", fontsize=9)
    for ax, stem, est, oracle, label in ((axes[1], stem_a, est_a, oracle_a, "A"),
                                         (axes[2], stem_b, est_b, oracle_b, "B")):
        ax.plot(stem, color="black", linewidth=0.9, label=f"true {label}")
        ax.plot(oracle, linewidth=0.8, alpha=0.8, label="oracle mask")
        ax.plot(est, linewidth=0.8, alpha=0.8, label="manifold")
        ax.legend(fontsize=7)
    axes[-1].set_xlabel("sample")
    report.figure(fig, "cocktail_party")
    return {"voices": voices.origin, "sample_rate": cfg.sample_rate,
            "seed_recon_mse": recon_mse, "seed_cosine_ab": cosine}
