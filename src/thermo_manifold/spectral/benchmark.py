"""Carrier tick time, banded against dense coupling (prints; never asserts).

Scenario: N oscillators with energies U[0.5, 1] and random phases, frequencies uniform over
[0, width], and `carriers` carriers evenly spaced over the same range with the default gate
width 0.35. width=2 is the seed's excitation range U[0, 2]: every band then spans (nearly) all
oscillators, so banding cannot help; width=64 spreads the carriers about one unit apart, where
each carrier touches a few percent of the oscillators. Both paths run the same ticks from the
same state and seed; the figure is the median tick time after a warm-up tick.

    python -m thermo_manifold.spectral.benchmark --sizes 1000 10000 100000 --threads 1
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Sequence

import torch

from thermo_manifold.device import make_generator
from thermo_manifold.physics.state import ParticleState
from thermo_manifold.spectral.carriers import SpectralCarrierPhysics
from thermo_manifold.spectral.config import ANCHOR_SLOTS, SpectralCarrierConfig
from thermo_manifold.spectral.state import CarrierState


def benchmark_particles(n: int, width: float, seed: int = 0) -> ParticleState:
    gen = make_generator(seed)
    zeros3 = torch.zeros((n, 3))
    return ParticleState(
        positions=zeros3, velocities=zeros3.clone(),
        energies=0.5 + 0.5 * torch.rand(n, generator=gen), heats=torch.zeros(n),
        excitations=width * torch.rand(n, generator=gen), masses=torch.ones(n),
        phases=2 * math.pi * torch.rand(n, generator=gen),
    )


def benchmark_carriers(count: int, width: float, gate: float) -> CarrierState:
    zeros = torch.zeros(count)
    return CarrierState(
        frequencies=(torch.arange(count) + 0.5) * (width / count),
        gate_widths=torch.full((count,), gate), amplitudes=torch.full((count,), 0.1),
        phases=zeros.clone(), conflict=zeros.clone(), coherence=zeros.clone(),
        state=torch.zeros(count, dtype=torch.int64), age=torch.zeros(count, dtype=torch.int64),
        anchor_index=torch.full((count, ANCHOR_SLOTS), -1, dtype=torch.int64),
        anchor_offset=torch.zeros((count, ANCHOR_SLOTS)),
        anchor_weight=torch.zeros((count, ANCHOR_SLOTS)),
    )


def time_ticks(n: int, method: str, width: float, carriers: int = 64, ticks: int = 3,
               dense_fraction: float = 0.5) -> float:
    """Median seconds per tick."""
    config = SpectralCarrierConfig(coupling=method, max_carriers=carriers,
                                   band_dense_fraction=dense_fraction)
    engine = SpectralCarrierPhysics(config, seed=0)
    engine.carriers = benchmark_carriers(carriers, width, config.gate_width_init)
    state = benchmark_particles(n, width)
    state = engine.tick(state).particles  # warm-up
    times = []
    for _ in range(ticks):
        start = time.perf_counter()
        state = engine.tick(state).particles
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_benchmark(sizes: Sequence[int] = (1_000, 10_000, 100_000),
                  widths: Sequence[float] = (2.0, 64.0), carriers: int = 64, ticks: int = 3,
                  printer=print) -> list[dict]:
    rows = []
    printer(f"{'N':>9} {'width':>6} {'dense ms':>10} {'banded ms':>10} {'dense/banded':>13} "
            f"{'pure band ms':>13}")
    for width in widths:
        for n in sizes:
            dense = time_ticks(n, "dense", width, carriers, ticks)
            banded = time_ticks(n, "banded", width, carriers, ticks)
            # band_dense_fraction > 1: the banded path without its dense fallback.
            pure = time_ticks(n, "banded", width, carriers, ticks, dense_fraction=2.0)
            row = {"n": n, "width": width, "carriers": carriers, "dense_ms": 1e3 * dense,
                   "banded_ms": 1e3 * banded, "ratio": dense / banded,
                   "pure_banded_ms": 1e3 * pure}
            rows.append(row)
            printer(f"{n:>9} {width:>6g} {row['dense_ms']:>10.2f} {row['banded_ms']:>10.2f} "
                    f"{row['ratio']:>13.2f} {row['pure_banded_ms']:>13.2f}")
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--widths", type=float, nargs="+", default=[2.0, 64.0])
    parser.add_argument("--carriers", type=int, default=64)
    parser.add_argument("--ticks", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = leave as is)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    printer = print
    printer(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), "
            f"{args.carriers} carriers, float32 CPU")
    run_benchmark(args.sizes, args.widths, args.carriers, args.ticks, printer)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
