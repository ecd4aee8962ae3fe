"""timeseries: next-value prediction of byte-scaled series (seed: kernel_timeseries.py).

Series: the seed's synthetic one (0.001 t + 0.5 sin(2 pi t/24) + 0.3 sin(2 pi t/168) + noise)
and, when statsmodels is installed, its bundled yearly sunspots and weekly Mauna Loa CO2. Each
is scaled to 0..255 over its range (as the seed does). The engine ingests `warmup` values, then
predicts each next byte and observes the truth. The first `train_fraction` of predicted
positions is the training part (the AR baseline is fitted on everything before the scored
part); all methods are scored on the rest.

`--readout reservoir` (the default) uses each whole series: the positions after a `washout`
are split 70/30 in time, and every method is scored on the last 30%. Values enter the
reservoirs as `bands` value bands (token = band of the byte), along a closed trail of `trail`
tokens with three taps; each reservoir row's ridge readout predicts the next increment from
[features, current value and band], fitted on the training part after the washout, and its
forecast is the current value plus that increment. The seed's online predictor stays as the row
`manifold, seed readout`, which ingests the `warmup` values before the test part and predicts at
most `steps` of its positions (the `scored` column says how many).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

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
from thermo_manifold.sensorium.reservoir import ReservoirConfig
from thermo_manifold.sensorium.reservoir_rows import RowsConfig, fit_regressors, stream_features

READOUTS = ("reservoir", "seed")


def series_reservoir(bands: int = 32, trail: int = 96) -> ReservoirConfig:
    """The reservoir for byte series: `bands` value bands as tokens (neighbouring values land
    near each other in frequency), a closed trail of `trail` tokens (an open one makes the
    global fields a clock that a readout fitted on the past cannot extrapolate), three taps and
    a budget of 64 tokens."""
    return ReservoirConfig(vocab=bands, taps=3, trail_period=trail, identity_radius=0.25,
                           max_particles=256)


@dataclass(frozen=True)
class Config:
    length: int = 3000  # seed (synthetic series)
    warmup: int = 64  # seed
    steps: int = 800  # seed: predicted positions per series (fewer when a series is shorter)
    train_fraction: float = 0.25
    series: tuple[str, ...] = ("synthetic", "sunspots", "co2")
    synthetic_season: int = 24
    engine: EngineConfig = EngineConfig()
    # The reservoir readout: the whole series (at most `max_length` values), split in time.
    test_fraction: float = 0.3
    washout: int = 96  # positions the reservoirs fill up before any row is fitted or scored
    max_length: int | None = None
    rows: RowsConfig = field(default_factory=lambda: RowsConfig(reservoir=series_reservoir()))

    @classmethod
    def quick(cls) -> "Config":
        return cls(length=300, warmup=16, steps=50, series=("synthetic", "sunspots"),
                   washout=24, max_length=300)


def load(name: str, cfg: Config, seed: int) -> tuple[np.ndarray, int]:
    if name == "synthetic":
        return synthetic_series(cfg.length, make_generator(seed)), cfg.synthetic_season
    return statsmodels_series(name)


def seed_forecast(cfg: Config, ctx, data: np.ndarray, first: int, steps: int, name: str
                  ) -> np.ndarray:
    """The seed's online predictor: ingest the `warmup` values before position `first`, then
    predict each of the next `steps` bytes and observe the truth."""
    engine = TokenEngine(cfg.engine, seed=ctx.seed, device=ctx.device)
    engine.observe(data[first - cfg.warmup: first].tolist(), first - cfg.warmup, step_every=1)
    predictions = np.zeros(steps)
    for t in ctx.bar(range(steps), steps, f"timeseries {name}"):
        pos = first + t
        predictions[t] = engine.predict_byte(pos)[0]
        engine.observe([int(data[pos])], pos, step_every=1)
    return predictions


def baselines(data: np.ndarray, start: int, end: int, season: int) -> dict[str, np.ndarray]:
    """Persistence, seasonal naive and AR forecasts of positions start..end-1."""
    order = min(season, (start - 1) // 3)
    return {"persistence": persistence_forecast(data[:end], start),
            f"seasonal naive (s={season})": seasonal_naive_forecast(data[:end], start, season),
            f"AR({order}) least squares": ar_forecast(data[:end], start, order)}


def seed_rows(cfg: Config, ctx, name: str, data: np.ndarray, season: int
              ) -> tuple[list[dict], tuple[np.ndarray, dict[str, np.ndarray]]]:
    """The seed's table for one series: the first `steps` positions after the warmup."""
    steps = min(cfg.steps, len(data) - cfg.warmup)
    start = cfg.warmup + int(cfg.train_fraction * steps)  # first scored position
    end = cfg.warmup + steps
    predictions = seed_forecast(cfg, ctx, data, cfg.warmup, steps, name)
    truth = data[start:end].astype(np.float64)
    methods = {"manifold": predictions[start - cfg.warmup:], **baselines(data, start, end, season)}
    return ([{"series": name, "method": m, **forecast_scores(p, truth)}
             for m, p in methods.items()], (truth, methods))


def reservoir_rows_for(cfg: Config, ctx, name: str, data: np.ndarray, season: int
                       ) -> tuple[list[dict], tuple[np.ndarray, dict[str, np.ndarray]]]:
    """The reservoir table for one series: rows fitted on the first 70% after the washout,
    every method scored on the last 30%."""
    if cfg.max_length is not None:
        data = data[: cfg.max_length]
    n = len(data)
    start = n - int(round(cfg.test_fraction * (n - cfg.washout)))  # first scored position
    bands = cfg.rows.reservoir.vocab
    tokens = (data.astype(np.int64) * bands) // 256
    values = data.astype(np.float64) / 255.0
    bar = lambda it, total, desc: ctx.bar(it, total, f"timeseries {name} {desc}")  # noqa: E731
    # Row t: the state after value t; target: the increment to value t + 1.
    sets = stream_features(tokens[:-1], cfg.rows, ctx.seed, bar=bar, values=values[:-1])
    increments = np.diff(data.astype(np.float64))
    train = np.arange(cfg.washout, start - 1)
    test = np.arange(start - 1, n - 1)
    fitted, predicted = fit_regressors(sets, increments, train, test, cfg.rows)
    current = data[start - 1:n - 1].astype(np.float64)
    truth = data[start:].astype(np.float64)
    methods = {row["method"]: current + predicted[row["method"]] for row in fitted}
    steps = min(cfg.steps, n - start)
    seed = seed_forecast(cfg, ctx, data, start, steps, name)
    methods.update(baselines(data, start, n, season))
    rows = [{"series": name, "method": r["method"], **forecast_scores(methods[r["method"]], truth),
             "scored": len(truth)} for r in fitted]
    rows.append({"series": name, "method": "manifold, seed readout",
                 **forecast_scores(seed, truth[:steps]), "scored": steps})
    rows += [{"series": name, "method": m, **forecast_scores(methods[m], truth),
              "scored": len(truth)} for m in baselines(data, start, n, season)]
    shown = {m: methods[m] for m in ("manifold reservoir", "echo state network", "no memory",
                                     "persistence") if m in methods}
    return rows, (truth, shown)


def run(cfg: Config, ctx, report) -> dict:
    from thermo_manifold.sensorium.report import pyplot

    readout = ctx.readout_for(sys.modules[__name__])
    rows, traces = [], {}
    for name in cfg.series:
        try:
            values, season = load(name, cfg, ctx.seed)
        except MissingSource as why:
            report.skip(name, str(why))
            continue
        data = scale_to_bytes(values)
        make = seed_rows if readout == "seed" else reservoir_rows_for
        series_rows, traces[name] = make(cfg, ctx, name, data, season)
        report.compare(f"timeseries/{name}", series_rows, "mae", higher_is_better=False)
        rows += series_rows

    if readout == "seed":
        caption = ("Next-value prediction on byte-scaled series (scored on the last "
                   f"{1 - cfg.train_fraction:.0%} of the predicted positions; MAE and MSE in "
                   "byte units).")
        columns = ["series", "method", "accuracy", "mae", "mse"]
    else:
        caption = ("Next-value prediction on byte-scaled whole series, every method scored on "
                   f"the last {cfg.test_fraction:.0%} of the positions after a washout of "
                   f"{cfg.washout} (MAE and MSE in byte units). Reservoir rows: a ridge "
                   "readout of [features, current value and band] predicts the increment, "
                   "alpha (and the bag's decay) chosen on the training tail; the seed readout "
                   "scores the first `scored` test positions.")
        columns = ["series", "method", "accuracy", "mae", "mse", "scored"]
    report.table("timeseries", rows, columns, caption)

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
