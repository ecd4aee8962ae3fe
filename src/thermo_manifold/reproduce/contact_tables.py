"""docs/physics.md: the spring-dashpot contact and the kick-drift-kick step, measured.

- physics.restitution: two-body collisions, measured against the restitution they were set for;
- physics.energy_drift: a closed box with every dissipation off, 10,000 steps at dt and dt/2,
  energy drift and fluctuation as LAMMPS and HOOMD-blue report them;
- physics.small_steps: ms/step from 100 to 1e6 particles, Numba and PyTorch variants (and the
  seed's step) in one process, with a figure;
- physics.startup: the README's main job from a cold and from a warm Numba cache.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from thermo_manifold.reporting import markdown_table
from thermo_manifold.reproduce.entry import Entry, command_text
from thermo_manifold.reproduce.physics_tables import (
    PHYSICS_SOURCES,
    SIM_SOURCES,
    THREAD_NOTE,
    default_threads,
    fixed,
    load_average,
    load_text,
    quick_note,
    single_thread,
)

# Everything that removes or adds energy off: drag, radiation, conduction, pressure, clamps;
# elastic walls and contacts.
CLOSED = dict(k_B=0.0, sigma_SB=0.0, dynamic_viscosity=0.0, thermal_conductivity=0.0,
              max_speed=1e9, max_acceleration=1e9, wall_restitution=1.0, restitution=1.0,
              tau_thermalization=1e9)


# --- restitution of a two-body collision -----------------------------------------------------------

RESTITUTIONS = (0.5, 0.8, 0.95)
RESOLUTIONS = (0.2, 0.1, 0.05)
SPEEDS = (0.5, 1.0, 1.7)
GAPS = (1.2, 1.23, 1.27)  # where the step grid meets the first touch
# Lightest masses of the states the CLI makes: random/gas states (mass = energy in [0.5, 1])
# and the simulator's injected files (down to 0.1).
LIGHTEST_MASSES = (1.0, 0.5, 0.1)


def _two_body(restitution: float, resolution: float, speed: float, gap: float,
              masses=(1.0, 1.0)) -> dict:
    import torch

    from thermo_manifold.physics import ManifoldPhysics, ParticleState, PhysicsConfig

    config = PhysicsConfig(grid_size=(8, 8, 8), G=0.0, restitution=restitution,
                           contact_resolution=resolution,
                           **{k: v for k, v in CLOSED.items() if k != "restitution"})
    f64 = torch.float64
    x = torch.tensor([[4 - gap / 2, 4.0, 4.0], [4 + gap / 2, 4.0, 4.0]], dtype=f64)
    v = torch.tensor([[speed, 0.0, 0.0], [-speed, 0.0, 0.0]], dtype=f64)
    zero = torch.zeros(2, dtype=f64)
    state = ParticleState(x, v, zero.clone(), zero.clone(), zero.clone(),
                          torch.tensor(masses, dtype=f64), zero.clone())
    engine = ManifoldPhysics(config, dtype=f64)
    engine.start_ledger(state)
    kinetic = engine.ledger.kinetic
    for _ in range(round(0.8 / config.dt)):
        state = engine.step(state).state
    measured = -float(state.velocities[0, 0] - state.velocities[1, 0]) / (2 * speed)
    ledger = engine.ledger
    return {"measured": measured, "error": measured / restitution - 1,
            "heat_minus_loss": (ledger.heat - (kinetic - ledger.kinetic)) / kinetic}


def _restitution_commands(quick: bool) -> list[str]:
    return [f"python: two particles (unit masses) head-on at speeds {SPEEDS}, first gaps "
            f"{GAPS}, dt 0.01, e in {RESTITUTIONS}, contact_resolution in {RESOLUTIONS}, "
            f"float64, everything else dissipative off; {THREAD_NOTE}"]


def _restitution_run(quick: bool, work: Path) -> dict:
    rows = []
    with single_thread():
        for resolution in RESOLUTIONS:
            for restitution in RESTITUTIONS:
                runs = [_two_body(restitution, resolution, s, g) for s in SPEEDS for g in GAPS]
                rows.append({"resolution": resolution, "restitution": restitution,
                             "max_error": max(abs(r["error"]) for r in runs),
                             "mean_error": sum(abs(r["error"]) for r in runs) / len(runs),
                             "max_heat_gap": max(abs(r["heat_minus_loss"]) for r in runs)})
    from thermo_manifold.physics import PhysicsConfig
    from thermo_manifold.physics.contacts import contact_substeps, stable_time_step

    config = PhysicsConfig()
    limits = [{"mass": mass, "omega": math.sqrt(config.young_modulus / (0.5 * mass)),
               "verlet_limit": stable_time_step(config.young_modulus, mass),
               "substeps": contact_substeps(config.dt, config.young_modulus, mass,
                                            config.contact_resolution)}
              for mass in LIGHTEST_MASSES]
    return {"quick": quick, "rows": rows, "limits": limits, "dt": config.dt,
            "young_modulus": config.young_modulus}


def _restitution_render(raw: Mapping[str, Any]) -> dict[str, str]:
    table = markdown_table([
        {"contact_resolution": f"{r['resolution']:g}" + (" (default)" if r["resolution"] == 0.2
                                                         else ""),
         "e set": f"{r['restitution']:g}", "max abs(e_measured / e - 1)": f"{100 * r['max_error']:.2f} %",
         "mean": f"{100 * r['mean_error']:.2f} %",
         "max abs(heat - lost kinetic) / kinetic": f"{r['max_heat_gap']:.1e}"}
        for r in raw["rows"]])
    worst = {res: max(r["max_error"] for r in raw["rows"] if r["resolution"] == res)
             for res in sorted({r["resolution"] for r in raw["rows"]}, reverse=True)}
    reading = ("Largest restitution error over e in {0.5, 0.8, 0.95}: "
               + ", ".join(f"{100 * err:.1f} % at contact_resolution {res:g}"
                           for res, err in worst.items())
               + ". The error is first order in the substep (the dashpot force starts and stops "
               "between substeps), and largest for strong damping.")
    limits = "; ".join(
        f"lightest mass {lim['mass']:g}: omega_0 = {lim['omega']:.1f}, Verlet limit "
        f"2 / omega_0 = {lim['verlet_limit']:.4f}, contact time pi / omega_0 = "
        f"{math.pi / lim['omega']:.4f}, {lim['substeps']} substeps per step"
        for lim in raw["limits"])
    stable = (f"Stable time steps for the default young_modulus = {raw['young_modulus']:g} at "
              f"dt = {raw['dt']:g} (m_eff = m / 2 for two of the lightest particles): {limits}.")
    return {"physics.restitution": f"{len(SPEEDS) * len(GAPS)} collisions per row:\n\n{table}",
            "physics.restitution_reading": reading + "\n\n" + stable}


ENTRIES: list[Entry] = [Entry(
    name="physics.restitution", doc="physics.md",
    blocks=("physics.restitution", "physics.restitution_reading"),
    summary="two-body spring-dashpot collisions against the restitution they were set for",
    commands=_restitution_commands, run=_restitution_run, render=_restitution_render,
    sources=PHYSICS_SOURCES)]


# --- energy drift in a closed box --------------------------------------------------------------------

DRIFT_N, DRIFT_STEPS, DRIFT_DT = 2000, 10_000, 0.01
DRIFT_CASES = (  # (label, G, contact_resolution)
    ("springs + gravity, 1 substep", 0.001, 1.0),
    ("springs only, 1 substep", 0.0, 1.0),
    ("springs + gravity, default substeps", 0.001, 0.2),
)


def _drift_state(config, seed: int = 0):
    """2,000 particles on a lattice (no overlaps: the springs start relaxed), velocities
    N(0, 0.3), gas masses."""
    import torch

    from thermo_manifold.device import make_generator
    from thermo_manifold.physics import gas_state

    side = math.ceil(DRIFT_N ** (1 / 3))
    axis = (torch.arange(side, dtype=torch.float64) + 0.5) * config.domain_size[0] / side
    lattice = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)
    state = gas_state(DRIFT_N, config, make_generator(seed), dtype=torch.float64)
    return state.replace(positions=lattice[:DRIFT_N], velocities=state.velocities * 3.0,
                         energies=torch.zeros(DRIFT_N, dtype=torch.float64))


def _drift_one(G: float, resolution: float, dt: float, steps: int) -> dict:
    import numpy as np

    from thermo_manifold.physics import ManifoldPhysics, gas_config

    config = gas_config(DRIFT_N, 16, dt=dt, G=G, contact_resolution=resolution, **CLOSED)
    state = _drift_state(config)
    engine = ManifoldPhysics(config, dtype=state.dtype)
    engine.start_ledger(state)
    start = engine.ledger.total
    every = max(1, steps // 1000)
    times, totals = [0.0], [start]
    substeps = engine._substeps(state.masses)
    pairs = []
    for step in range(1, steps + 1):
        result = engine.step(state)
        state = result.state
        if step % every == 0:
            times.append(step * dt)
            totals.append(result.ledger.total)
            pairs.append(result.collision_pairs)
    t, e = np.asarray(times), (np.asarray(totals) - start) / abs(start)
    slope, intercept = np.polyfit(t, e, 1)
    return {"G": G, "resolution": resolution, "dt": dt, "steps": steps, "substeps": substeps,
            "initial_total": start, "drift": float(slope * t[-1]),
            "fluctuation": float(np.sqrt(np.mean((e - (slope * t + intercept)) ** 2))),
            "max_deviation": float(np.abs(e).max()), "mean_pairs": float(np.mean(pairs))}


def _drift_commands(quick: bool) -> list[str]:
    steps = 1000 if quick else DRIFT_STEPS
    return [f"python: {DRIFT_N} particles on a lattice in gas_config({DRIFT_N}, 16), velocities "
            f"N(0, 0.3), float64, every dissipation off; {steps} steps at dt {DRIFT_DT} and "
            f"{2 * steps} at dt {DRIFT_DT / 2}, for each of {[c[0] for c in DRIFT_CASES]}; "
            f"{THREAD_NOTE}"]


def _drift_run(quick: bool, work: Path) -> dict:
    steps = 1000 if quick else DRIFT_STEPS
    load = [load_average()]
    rows = []
    with single_thread():
        for label, G, resolution in DRIFT_CASES:
            for dt, count in ((DRIFT_DT, steps), (DRIFT_DT / 2, 2 * steps)):
                rows.append({"case": label, **_drift_one(G, resolution, dt, count)})
    load.append(load_average())
    return {"quick": quick, "load": load, "rows": rows}


def _drift_render(raw: Mapping[str, Any]) -> dict[str, str]:
    rows = raw["rows"]
    table = markdown_table([
        {"case": r["case"], "dt": f"{r['dt']:g}", "steps": f"{r['steps']:,}",
         "substeps": str(r["substeps"]), "touching pairs (mean)": f"{r['mean_pairs']:.0f}",
         "drift (fit, whole run)": f"{r['drift']:+.1e}", "fluctuation (rms)": f"{r['fluctuation']:.1e}",
         "max abs deviation": f"{r['max_deviation']:.1e}"} for r in rows])
    ratios = []
    for index in range(0, len(rows) - 1, 2):
        coarse, fine = rows[index], rows[index + 1]
        if fine["fluctuation"] > 0:
            ratios.append(f"{coarse['case']}: {coarse['fluctuation'] / fine['fluctuation']:.1f}")
    head = (f"Relative to the initial total K + U_grav + U_c = {rows[0]['initial_total']:.4g}, "
            f"over the same physical time{quick_note(raw)}:\n\n")
    reading = ("Fluctuation at dt over fluctuation at dt/2 (4 for a second-order scheme): "
               + "; ".join(ratios) + ". With the default substeps the springs step with "
               "h = dt / n at both dt (n adapts), so only gravity's step halves there.")
    return {"physics.energy_drift": head + table, "physics.energy_drift_reading": reading}


ENTRIES.append(Entry(
    name="physics.energy_drift", doc="physics.md",
    blocks=("physics.energy_drift", "physics.energy_drift_reading"),
    summary="closed box, dissipation off: energy drift and fluctuation at dt and dt/2",
    commands=_drift_commands, run=_drift_run, render=_drift_render, sources=PHYSICS_SOURCES))


# --- small steps: ms/step from 100 to 1e6 particles -------------------------------------------------

SMALL_SIZES = ((100, 50), (300, 50), (1000, 50), (2000, 50), (10_000, 20), (100_000, 5),
               (1_000_000, 3))  # (N, timed steps)
SMALL_GRID = 32
SMALL_REFERENCE_MAX_N = 100_000


def _small_commands(quick: bool) -> list[str]:
    sizes = SMALL_SIZES[:4] if quick else SMALL_SIZES
    return [f"python: physics.benchmark.run_benchmark(sizes=({n},), grids=({SMALL_GRID},), "
            f"steps={steps}, warmup=3, variants=('numba', 'torch')) and the same with "
            f"contact='seed', variants=('numba',), NumPy reference up to N = "
            f"{SMALL_REFERENCE_MAX_N:,}; in one process, default thread counts"
            for n, steps in sizes]


def _small_run(quick: bool, work: Path) -> dict:
    from thermo_manifold.physics.benchmark import run_benchmark

    sizes = SMALL_SIZES[:4] if quick else SMALL_SIZES
    load = [load_average()]
    rows = []
    with default_threads() as threads:
        for n, steps in sizes:
            found = run_benchmark(sizes=(n,), grids=(SMALL_GRID,), steps=steps, warmup=3,
                                  reference=n <= SMALL_REFERENCE_MAX_N, progress=False,
                                  variants=("numba", "torch"))
            seed = run_benchmark(sizes=(n,), grids=(SMALL_GRID,), steps=steps, warmup=3,
                                 reference=False, progress=False, variants=("numba",),
                                 contact="seed")
            numba, torch_row = found
            rows.append({"n": n, "steps": steps, "numba_ms": numba["engine_ms"],
                         "torch_ms": torch_row["engine_ms"], "seed_ms": seed[0]["engine_ms"],
                         "reference_ms": numba["reference_ms"], "stage_ms": numba["stage_ms"],
                         "other_ms": numba["other_ms"], "pairs": numba["collision_pairs"]})
    load.append(load_average())
    return {"quick": quick, "threads": threads, "load": load, "rows": rows}


def _small_render(raw: Mapping[str, Any]) -> dict[str, str]:
    rows = raw["rows"]
    table = markdown_table([
        {"N": f"{r['n']:,}", "numba ms/step": fixed(r["numba_ms"], 2),
         "torch ms/step": fixed(r["torch_ms"], 2),
         "torch / numba": f"{r['torch_ms'] / r['numba_ms']:.1f}x",
         "seed step (numba) ms": fixed(r["seed_ms"], 2),
         "NumPy reference / numba": ("-" if r["reference_ms"] is None
                                     else f"{r['reference_ms'] / r['numba_ms']:.1f}x"),
         "numba: scatter / gravity / heat / update / collide / other ms": " / ".join(
             fixed(r["stage_ms"][s], 2) for s in ("scatter", "gravity", "heat", "update",
                                                   "collide")) + f" / {fixed(r['other_ms'], 2)}",
         "particle-steps/s (numba)": f"{r['n'] / (r['numba_ms'] / 1e3):.3g}"} for r in rows])
    threads = raw["threads"]
    head = (f"Gas scenario on {SMALL_GRID}^3, float32, contact spring_dashpot unless said; "
            f"{threads['torch']} torch and {threads['numba']} Numba thread(s), "
            f"{load_text(raw)}{quick_note(raw)}:\n\n")
    at = next((r for r in rows if r["n"] == 2000), None)
    reading = ("" if at is None else
               f"At N = 2,000 a step took {at['numba_ms']:.2f} ms (target: at most 1 ms; "
               f"{'met' if at['numba_ms'] <= 1.0 else 'not met'} on this run), "
               f"{at['torch_ms'] / at['numba_ms']:.1f}x faster than the PyTorch variant and "
               f"{at['seed_ms'] / at['numba_ms']:.2f}x the seed's step in the same process.")
    return {"physics.small_steps": head + table + "\n\n![ms per step against N]"
            "(images/physics_small_steps.png)",
            "physics.small_steps_reading": reading}


def _small_figure(raw: Mapping[str, Any], images: Path) -> list[Path]:
    from thermo_manifold.sensorium.report import pyplot

    plt = pyplot()
    rows = raw["rows"]
    n = [r["n"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label, style in (("numba_ms", "numba (default)", "o-"),
                              ("torch_ms", "torch", "s-"),
                              ("seed_ms", "seed's step, numba", "^--")):
        ax.loglog(n, [r[key] for r in rows], style, label=label)
    reference = [(r["n"], r["reference_ms"]) for r in rows if r["reference_ms"] is not None]
    if reference:
        ax.loglog(*zip(*reference), "x:", label="NumPy reference")
    ax.axhline(1.0, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("particles N (gas scenario, 32^3 grid)")
    ax.set_ylabel("ms per step")
    ax.set_title("physics step time against N", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = images / "physics_small_steps.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]


ENTRIES.append(Entry(
    name="physics.small_steps", doc="physics.md",
    blocks=("physics.small_steps", "physics.small_steps_reading"),
    summary="ms/step from 100 to 1e6 particles: numba and torch variants and the seed's step",
    commands=_small_commands, run=_small_run, render=_small_render, sources=PHYSICS_SOURCES,
    figures=_small_figure))


# --- start-up: cold and warm Numba cache ------------------------------------------------------------

STARTUP_ARGV = ["simulate", "--particles", "2000", "--grid", "32", "--steps", "200",
                "--inject-every-steps", "50", "--quiet"]


def _startup_commands(quick: bool) -> list[str]:
    return [command_text(STARTUP_ARGV + ["--out", "DIR"]) + "  (a fresh process with an empty "
            "NUMBA_CACHE_DIR, then a second one with that cache)"]


def _startup_run(quick: bool, work: Path) -> dict:
    runs = []
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for label in ("cold", "warm"):
            out = work / label
            start = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "thermo_manifold", *STARTUP_ARGV,
                                   "--out", str(out)], env=env, capture_output=True, text=True)
            seconds = time.perf_counter() - start
            if done.returncode != 0:
                raise RuntimeError(f"{label} start failed: {done.stderr[-500:]}")
            runs.append({"label": label, "seconds": round(seconds, 2),
                         "notice": "compiling Numba kernels" in done.stderr})
    return {"quick": quick, "runs": runs}


def _startup_render(raw: Mapping[str, Any]) -> dict[str, str]:
    cold, warm = raw["runs"]
    return {"physics.startup": (
        f"The README's main job (`{command_text(STARTUP_ARGV)}`) in a fresh process: "
        f"{cold['seconds']:.1f} s wall from an empty Numba cache (notice printed: "
        f"{'yes' if cold['notice'] else 'no'}), {warm['seconds']:.1f} s from the cache that "
        f"run left (notice printed: {'yes' if warm['notice'] else 'no'}).")}


ENTRIES.append(Entry(
    name="physics.startup", doc="physics.md", blocks=("physics.startup",),
    summary="the README main job from a cold and from a warm Numba kernel cache",
    commands=_startup_commands, run=_startup_run, render=_startup_render,
    sources=SIM_SOURCES))
