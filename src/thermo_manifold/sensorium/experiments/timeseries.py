"""timeseries: next-value prediction of byte-scaled series (seed: kernel_timeseries.py).

Series: the seed's synthetic one (0.001 t + 0.5 sin(2 pi t/24) + 0.3 sin(2 pi t/168) + noise)
and, when statsmodels is installed, its bundled yearly sunspots and weekly Mauna Loa CO2. Each
is scaled to 0..255 over its range (as the seed does). The engine ingests `warmup` values, then
predicts each next byte and observes the truth. The first `train_fraction` of predicted
positions is the training part (the AR baseline is fitted on everything before the scored
part); all methods are scored on the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from thermo_manifold.device import make_generator
from thermo_manifold.sensorium.baselines import (
    ar_forecast,
    forecast_scores,
    persistence_forecast,
    seasonal_naive_forecast,
)
from thermo_manifold.sensorium.datasets import (
    MissingSource,
    scale_to_bytes,
    statsmodels_series,
    synthetic_series,
)
from thermo_manifold.sensorium.engine import EngineConfig, TokenEngine


# The reservoir rows are not built for this experiment yet (issue 14): only the seed's readout.
READOUTS = ("seed",)


@dataclass(frozen=True)
class Config:
    length: int = 3000  # seed (synthetic series)
    warmup: int = 64  # seed
    steps: int = 800  # seed: predicted positions per series (fewer when a series is shorter)
    train_fraction: float = 0.25
    series: tuple[str, ...] = ("synthetic", "sunspots", "co2")
    synthetic_season: int = 24
    engine: EngineConfig = EngineConfig()

    @classmethod
    def quick(cls) -> "Config":
        return cls(length=300, warmup=16, steps=50, series=("synthetic", "sunspots"))


def load(name: str, cfg: Config, seed: int) -> tuple[np.ndarray, int]:
    if name == "synthetic":
        return synthetic_series(cfg.length, make_generator(seed)), cfg.synthetic_season
    return statsmodels_series(name)


def run(cfg: Config, ctx, report) -> dict:
    from thermo_manifold.sensorium.report import pyplot

    rows, traces = [], {}
    for name in cfg.series:
        try:
            values, season = load(name, cfg, ctx.seed)
        except MissingSource as why:
            report.skip(name, str(why))
            continue
        data = scale_to_bytes(values)
        steps = min(cfg.steps, len(data) - cfg.warmup)
        start = cfg.warmup + int(cfg.train_fraction * steps)  # first scored position
        end = cfg.warmup + steps

        # ------------------------------------------------------------ manifold, online
        engine = TokenEngine(cfg.engine, seed=ctx.seed, device=ctx.device)
        engine.observe(data[: cfg.warmup].tolist(), 0, step_every=1)
        predictions = np.zeros(steps)
        for t in ctx.bar(range(steps), steps, f"timeseries {name}"):
            pos = cfg.warmup + t
            predictions[t] = engine.predict_byte(pos)[0]
            engine.observe([int(data[pos])], pos, step_every=1)
        truth = data[start:end].astype(np.float64)
        scored = predictions[start - cfg.warmup:]

        # ------------------------------------------------------------ baselines, same split
        order = min(season, (start - 1) // 3)
        methods = {
            "manifold": scored,
            "persistence": persistence_forecast(data, start)[: end - start],
            f"seasonal naive (s={season})": seasonal_naive_forecast(data, start, season)[
                : end - start],
            f"AR({order}) least squares": ar_forecast(data[:end], start, order),
        }
        series_rows = [{"series": name, "method": m, **forecast_scores(p, truth)}
                       for m, p in methods.items()]
        report.compare(f"timeseries/{name}", series_rows, "mae", higher_is_better=False)
        rows += series_rows
        traces[name] = (truth, methods)

    caption = ("Next-value prediction on byte-scaled series (scored on the last "
               f"{1 - cfg.train_fraction:.0%} of the predicted positions; MAE and MSE in byte "
               "units).")
    report.table("timeseries", rows, ["series", "method", "accuracy", "mae", "mse"], caption)

    plt = pyplot()
    fig, axes = plt.subplots(len(traces), 1, figsize=(9, 2.6 * len(traces)), squeeze=False)
    for ax, (name, (truth, methods)) in zip(axes[:, 0], traces.items()):
        ax.plot(truth, color="black", linewidth=1.2, label="truth")
        for m, p in methods.items():
            ax.plot(p, linewidth=0.8, alpha=0.8, label=m)
        ax.set_title(name, fontsize=9)
        ax.set_ylabel("byte")
        ax.legend(fontsize=6, ncol=3)
    axes[-1, 0].set_xlabel("scored position")
    report.figure(fig, "timeseries")
    return {"series_run": list(traces)}
