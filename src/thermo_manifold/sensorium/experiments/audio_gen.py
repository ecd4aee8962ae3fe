"""audio_gen: inpaint 20% masked samples of synthetic tones (seed: kernel_audio_gen.py).

Tones: f1 = 220 + randint(0, 440) Hz with partials f1, 2 f1, 1.5 f1 (0.5/0.3/0.2), envelope
exp(-3 t), quantised to bytes. Training streams whole tones (a step every 128 samples);
evaluation streams the observed samples, then fills the masked ones in a random order.
Baselines on the same masks: the mid value (byte 128, the seed's placeholder) and linear
interpolation between observed samples. MSE is on the waveform in [-1, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from thermo_manifold.device import make_generator
from thermo_manifold.sensorium.baselines import constant_fill, linear_fill
from thermo_manifold.sensorium.datasets import bytes_to_float, float_to_bytes, synthetic_tone
from thermo_manifold.sensorium.engine import (
    EngineConfig,
    TokenEngine,
    observe_all_but_a_fraction,
)


# The reservoir rows are not built for this experiment yet (issue 14): only the seed's readout.
READOUTS = ("seed",)


@dataclass(frozen=True)
class Config:
    length: int = 4000  # seed
    train_samples: int = 40  # seed
    eval_samples: int = 10  # seed
    mask_fraction: float = 0.20  # seed
    ingest_step_every: int = 128  # seed
    engine: EngineConfig = EngineConfig()

    @classmethod
    def quick(cls) -> "Config":
        return cls(length=200, train_samples=2, eval_samples=1)


def run(cfg: Config, ctx, report) -> dict:
    g = make_generator(ctx.seed)
    train = [float_to_bytes(synthetic_tone(cfg.length, g)) for _ in range(cfg.train_samples)]
    test = [float_to_bytes(synthetic_tone(cfg.length, g)) for _ in range(cfg.eval_samples)]
    engine = TokenEngine(cfg.engine, seed=ctx.seed, device=ctx.device)
    for wav in ctx.bar(train, len(train), "audio_gen train"):
        engine.reset()
        engine.observe(wav.tolist(), 0, step_every=cfg.ingest_step_every)

    errors: dict[str, list[tuple[float, float]]] = {}
    example = None
    for k, wav in enumerate(ctx.bar(test, len(test), "audio_gen eval")):
        hidden, observed = observe_all_but_a_fraction(engine, wav, cfg.mask_fraction, g,
                                                      cfg.ingest_step_every)
        recon = np.where(observed, wav, 128).astype(np.int64)
        for pos in hidden.tolist():
            recon[pos] = engine.predict_byte(pos)[0]
            engine.inject_ids(engine.tokenizer.hash_ids([int(recon[pos])], [pos]))
            engine.step()
        truth = bytes_to_float(wav)
        fills = {"manifold": bytes_to_float(recon),
                 "mid-value fill": constant_fill(truth, observed, float(bytes_to_float(
                     np.array([128]))[0])),
                 "linear interpolation": linear_fill(truth, observed)}
        for m, f in fills.items():
            err = (f - truth) ** 2
            errors.setdefault(m, []).append((float(err[~observed].mean()), float(err.mean())))
        if k == 0:
            example = (truth, observed, fills)
    rows = [{"method": m, "mse_masked": float(np.mean([e[0] for e in v])),
             "mse_all": float(np.mean([e[1] for e in v]))} for m, v in errors.items()]
    caption = (f"Audio inpainting of synthetic tones ({cfg.length} samples, "
               f"{cfg.mask_fraction:.0%} masked): waveform MSE on masked samples and overall.")
    report.table("audio_gen", rows, ["method", "mse_masked", "mse_all"], caption)
    report.compare("audio_gen", rows, "mse_masked", higher_is_better=False)

    from thermo_manifold.sensorium.report import pyplot

    plt = pyplot()
    truth, observed, fills = example
    view = slice(0, min(400, len(truth)))
    fig, ax = plt.subplots(figsize=(9, 3))
    ax.plot(truth[view], color="black", linewidth=1.2, label="truth")
    for m, f in fills.items():
        ax.plot(np.where(observed, np.nan, f)[view], ".", markersize=3, label=m)
    ax.set_xlabel("sample")
    ax.legend(fontsize=7)
    report.figure(fig, "audio_gen")
    return {}
