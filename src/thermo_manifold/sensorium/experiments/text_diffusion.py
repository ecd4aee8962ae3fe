"""text_diffusion: fill 20% masked bytes of a text (seed: kernel_text_diffusion.py).

The engine ingests the observed bytes (a step every 64 positions), then fills the masked
positions in a random order: predict, inject the prediction, step. Baselines see the same
observed bytes: the most frequent observed byte, and a left-to-right bigram fill.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from thermo_manifold.device import make_generator
from thermo_manifold.sensorium.baselines import bigram_fill, most_frequent_fill
from thermo_manifold.sensorium.datasets import load_text
from thermo_manifold.sensorium.engine import EngineConfig, TokenEngine


# The reservoir rows are not built for this experiment yet (issue 14): only the seed's readout.
READOUTS = ("seed",)


@dataclass(frozen=True)
class Config:
    max_bytes: int = 1500  # seed
    mask_fraction: float = 0.20  # seed
    ingest_step_every: int = 64  # seed
    engine: EngineConfig = EngineConfig()

    @classmethod
    def quick(cls) -> "Config":
        return cls(max_bytes=250)


def run(cfg: Config, ctx, report) -> dict:
    name, text = load_text(ctx.text)
    data = np.frombuffer(text[: cfg.max_bytes], dtype=np.uint8).copy()
    n = len(data)
    order = torch.randperm(n, generator=make_generator(ctx.seed)).numpy()
    masked_positions = order[: int(cfg.mask_fraction * n)]
    observed = np.ones(n, dtype=bool)
    observed[masked_positions] = False

    # ---------------------------------------------------------------- manifold
    engine = TokenEngine(cfg.engine, seed=ctx.seed, device=ctx.device)
    seen = np.flatnonzero(observed)
    engine.observe(data[seen].tolist(), positions=seen.tolist(),
                   step_every=cfg.ingest_step_every)
    filled = data.copy()
    filled[~observed] = 0
    for pos in ctx.bar(masked_positions.tolist(), len(masked_positions), "text_diffusion"):
        filled[pos] = engine.predict_byte(int(pos))[0]
        engine.inject_ids(engine.tokenizer.hash_ids([int(filled[pos])], [int(pos)]))
        engine.step()

    # ---------------------------------------------------------------- baselines
    fills = {"manifold": filled,
             "most frequent byte": most_frequent_fill(data, observed),
             "bigram fill": bigram_fill(data, observed)}
    rows = [{"method": m, "masked_accuracy": float(np.mean(f[~observed] == data[~observed]))}
            for m, f in fills.items()]
    caption = (f"Masked-byte accuracy, {cfg.mask_fraction:.0%} of {n} bytes of {name} masked.")
    report.table("text_diffusion", rows, ["method", "masked_accuracy"], caption)
    report.compare("text_diffusion", rows, "masked_accuracy", higher_is_better=True)

    from thermo_manifold.sensorium.report import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.bar([r["method"] for r in rows], [r["masked_accuracy"] for r in rows],
           color=["tab:purple", "tab:gray", "tab:blue"])
    ax.set_ylabel("masked-byte accuracy")
    ax.set_ylim(0, 1)
    report.figure(fig, "text_diffusion")
    sample = slice(0, min(160, n))
    return {"source": name, "bytes": n, "masked": int(len(masked_positions)),
            "example_masked": bytes(np.where(observed, data, ord("_"))[sample]).decode(
                "utf-8", "replace"),
            "example_manifold": bytes(filled[sample]).decode("utf-8", "replace")}
