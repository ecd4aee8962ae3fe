"""docs/physics.md: throughput, the main job's ledger, gravity work against potential energy.

The throughput bench runs with the thread counts a user gets by default (all cores), since that
is what its target is about; regenerate it on a quiet machine (each block records the load
average before and after). The other timings run on one torch thread and one Numba thread
(`single_thread`, set in this process and restored afterwards): on a shared machine two threads
that wait on each other at every barrier measured several times slower than one and varied by a
factor of five between identical runs. The speedup and ratio columns compare variants timed in
the same process.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from thermo_manifold.reporting import format_cell, markdown_table
from thermo_manifold.reproduce.entry import Entry, command_text, run_cli

STAGES = ("scatter", "gravity", "heat", "update", "collide")   # = physics.engine.STAGES
PHYSICS_SOURCES = ("src/thermo_manifold/physics", "src/thermo_manifold/device.py")
THREAD_NOTE = "one torch thread and one Numba thread"
TARGET_RATE = 4e6          # particle-steps/s at N = 1e6 on 64^3 (the target)
TARGET_N, TARGET_GRID = 1_000_000, 64


# --- shared helpers (the simulator and spectral tables use them too) -----------------------------

@contextlib.contextmanager
def default_threads() -> Iterator[dict[str, int | None]]:
    """Run the body with the thread counts in force; yield them (for the block's header)."""
    import torch

    try:
        import numba

        numba_threads = numba.get_num_threads()
    except ImportError:
        numba_threads = None
    yield {"torch": torch.get_num_threads(), "numba": numba_threads}


@contextlib.contextmanager
def single_thread() -> Iterator[dict[str, int | None]]:
    """Run the body on one torch thread and one Numba thread; yield the counts in force."""
    import torch

    torch_before = torch.get_num_threads()
    numba = None
    try:
        import numba as _numba

        numba = _numba
        numba_before = numba.get_num_threads()
    except ImportError:
        numba_before = None
    torch.set_num_threads(1)
    if numba is not None:
        numba.set_num_threads(1)
    try:
        yield {"torch": torch.get_num_threads(),
               "numba": numba.get_num_threads() if numba is not None else None}
    finally:
        torch.set_num_threads(torch_before)
        if numba is not None:
            numba.set_num_threads(numba_before)


def load_average() -> float | None:
    """The 1-minute load average (None where the OS does not tell)."""
    import os

    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def load_text(raw: Mapping[str, Any]) -> str:
    """'1-minute load average 4.5 before and 6.25 after the run' (timings depend on it)."""
    before, after = raw.get("load") or (None, None)
    if before is None or after is None:
        return "load average not known"
    return f"1-minute load average {before:g} before and {after:g} after the run"


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def quick_note(raw: Mapping[str, Any]) -> str:
    return " (`--quick` settings)" if raw.get("quick") else ""


def fixed(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def sci(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}e}"


def grouped(value: float, digits: int = 3) -> str:
    """1532.0 -> '1,532'; 0.4213 -> '0.421' (energies here span eight orders of magnitude)."""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return format_cell(float(value), digits)


def signed(value: float, digits: int = 4) -> str:
    """grouped() with an explicit sign: '+212,804', '-18.48'."""
    text = grouped(value, digits)
    return text if text.startswith("-") else "+" + text


def span(values: Sequence[float], spec: str = ".1f") -> str:
    """'6.4-12' for a range, one value when they agree to the shown digits."""
    low, high = format(min(values), spec), format(max(values), spec)
    return low if low == high else f"{low}-{high}"


# --- throughput: `thermo-manifold bench physics` -------------------------------------------------

def _bench_argv(quick: bool, out: str) -> list[str]:
    sizes, grids, steps = (["10000"], ["32"], "2") if quick else (["10000", "100000", "1000000"],
                                                                 ["32", "64"], "5")
    return ["bench", "physics", "--sizes", *sizes, "--grids", *grids, "--steps", steps,
            "--warmup", "1", "--variants", "torch", "numba", "--quiet", "--out", out]


def _bench_commands(quick: bool) -> list[str]:
    return [command_text(_bench_argv(quick, "runs/reproduce/physics.throughput"))
            + "  (in process, default thread counts)"]


_ROW_KEYS = ("n", "grid", "variant", "steps", "warmup", "engine_ms", "engine_ms_all",
             "particle_steps_per_s", "stage_ms", "other_ms", "collision_pairs", "speedup",
             "reference_ms", "reference_steps", "ratio", "first_step_max_dx")


def _bench_run(quick: bool, work: Path) -> dict:
    load = [load_average()]
    start = time.perf_counter()
    with default_threads() as threads:
        run_cli(_bench_argv(quick, str(work)), capture=True)
    seconds = time.perf_counter() - start
    load.append(load_average())
    payload = read_json(work / "bench_physics.json")
    rows = [{key: row.get(key) for key in _ROW_KEYS} for row in payload["rows"]]
    return {"quick": quick, "threads": threads, "torch": payload["environment"]["torch"],
            "seconds": seconds, "load": load, "rows": rows}


def _speed_cell(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def _throughput_table(rows: Sequence[Mapping[str, Any]]) -> str:
    header = ("| N | grid | variant | engine ms/step | particle-steps/s | " + " | ".join(STAGES)
              + " | other | pairs | speedup | reference ms/step | ref/engine | "
              "first-step max abs dx |")
    columns = header.count("|") - 1
    lines = [header, "|" + "---:|" * columns]
    for row in rows:
        reference = ("-" if row["reference_ms"] is None
                     else f"{row['reference_ms']:.1f} ({row['reference_steps']})")
        cells = [f"{row['n']:,}", f"{row['grid']}^3", row["variant"], fixed(row["engine_ms"]),
                 f"{row['particle_steps_per_s']:.3g}",
                 *(fixed(row["stage_ms"].get(name)) for name in STAGES), fixed(row["other_ms"]),
                 f"{row['collision_pairs']:,}", _speed_cell(row["speedup"]), reference,
                 _speed_cell(row["ratio"]), sci(row["first_step_max_dx"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _find(rows: Sequence[Mapping[str, Any]], n: int, grid: int, variant: str) -> Mapping | None:
    return next((r for r in rows if r["n"] == n and r["grid"] == grid and r["variant"] == variant),
                None)


def _millions(rate: float) -> str:
    return f"{rate / 1e6:.2g} million"


def _throughput_reading(raw: Mapping[str, Any]) -> str:
    rows = raw["rows"]
    best = _find(rows, TARGET_N, TARGET_GRID, "numba")
    target = (f"The issue asks for >= {_millions(TARGET_RATE)} particle-steps/s at N = 1e6 on "
              f"{TARGET_GRID}^3 with collisions (< {1e3 * TARGET_N / TARGET_RATE:.0f} ms/step).")
    if best is None:
        return target + " This run did not time that case" + quick_note(raw) + "."
    steps = best["engine_ms_all"] or [best["engine_ms"]]
    met = best["particle_steps_per_s"] >= TARGET_RATE
    threads = raw["threads"]
    lines = [target + f" In this run, on {threads['torch']} torch and {threads['numba']} Numba "
             f"thread(s), {load_text(raw)}, the CPU default (`numba`) does "
             f"{_millions(best['particle_steps_per_s'])} ({best['engine_ms']:.1f} ms; the "
             f"{len(steps)} timed steps took {min(steps):.0f}-{max(steps):.0f} ms): "
             f"**target {'met' if met else 'not met'}** on this run."]
    compare = f"{best['speedup']:.2f}x the PyTorch path"
    if best["ratio"] is not None:
        compare += f" and {best['ratio']:.1f}x the NumPy reference"
    lines.append(f"In the same process that is {compare}.")
    small = _find(rows, TARGET_N, 32, "numba")
    if small is not None:
        lines.append(f"On 32^3: {_millions(small['particle_steps_per_s'])} "
                     f"({small['engine_ms']:.1f} ms), {small['speedup']:.2f}x the PyTorch path.")
    return " ".join(lines)


def _stage_breakdown(raw: Mapping[str, Any]) -> str:
    rows = raw["rows"]
    row = _find(rows, TARGET_N, TARGET_GRID, "numba")
    if row is None:   # a --quick run: describe the largest case it has
        candidates = [r for r in rows if r["variant"] == "numba"] or list(rows)
        row = max(candidates, key=lambda r: (r["n"], r["grid"]))
    total = row["engine_ms"]
    parts = sorted(((row["stage_ms"][name], name) for name in STAGES), reverse=True)
    items = [f"{name} {ms:.1f} ms ({100 * ms / total:.0f} %)" for ms, name in parts]
    items.append(f"validation, ledger and the rest {row['other_ms']:.1f} ms")
    return (f"Median stage times of the `{row['variant']}` variant at N = {row['n']:,}, "
            f"{row['grid']}^3, from the run above ({row['engine_ms']:.1f} ms per step): "
            + "; ".join(items) + ".")


def _bench_render(raw: Mapping[str, Any]) -> dict[str, str]:
    threads = raw["threads"]
    head = (f"Physics step, gas scenario (float32 engine on cpu, float64 NumPy reference); torch "
            f"{raw['torch']}, {threads['torch']} torch thread(s), "
            f"{threads['numba'] if threads['numba'] is not None else 'no'} Numba thread(s)"
            f"{quick_note(raw)}; the benchmark took {raw['seconds']:.0f} s, "
            f"{load_text(raw)}.")
    return {"physics.throughput": head + "\n\n" + _throughput_table(raw["rows"]),
            "physics.throughput_reading": _throughput_reading(raw),
            "physics.stages": _stage_breakdown(raw)}


ENTRIES: list[Entry] = [Entry(
    name="physics.throughput", doc="physics.md",
    blocks=("physics.throughput", "physics.throughput_reading", "physics.stages"),
    summary="physics step throughput, torch and numba variants against the NumPy reference",
    commands=_bench_commands, run=_bench_run, render=_bench_render, sources=PHYSICS_SOURCES)]


# --- Numba thread counts: one thread against all of them ------------------------------------------

THREADS_N, THREADS_STEPS = 20_000, 5


def _threads_commands(quick: bool) -> list[str]:
    steps = 2 if quick else THREADS_STEPS
    return [f"python: ManifoldPhysics(gas_config({THREADS_N}, 32), float32, kernels='numba'), "
            f"{steps} steps from gas_state(seed 0), on 1 Numba thread and on all of them"]


def _threads_run(quick: bool, work: Path) -> dict:
    import numba
    import torch

    from thermo_manifold.device import make_generator
    from thermo_manifold.physics import ManifoldPhysics, gas_config, gas_state

    steps = 2 if quick else THREADS_STEPS
    config = gas_config(THREADS_N, 32)
    start = gas_state(THREADS_N, config, make_generator(0), dtype=torch.float32)
    runs = []
    most = numba.config.NUMBA_NUM_THREADS
    for threads in sorted({1, most}):
        numba.set_num_threads(threads)
        try:
            engine = ManifoldPhysics(config, dtype=torch.float32, kernels="numba")
            engine.start_ledger(start)
            state = start
            for _ in range(steps):
                state = engine.step(state).state
        finally:
            numba.set_num_threads(most)
        runs.append({"threads": threads, "state": state, "ledger": engine.ledger.snapshot()})
    first = runs[0]
    fields = ("positions", "velocities", "energies", "heats")
    return {"quick": quick, "n": THREADS_N, "steps": steps, "runs": [
        {"threads": r["threads"],
         "particles_identical": all(torch.equal(getattr(r["state"], f), getattr(first["state"], f))
                                    for f in fields),
         "contact_work": float(r["ledger"].contact_work),
         "gravity_work": float(r["ledger"].gravity_work),
         "pressure_work": float(r["ledger"].pressure_work)} for r in runs]}


def _threads_render(raw: Mapping[str, Any]) -> dict[str, str]:
    runs = raw["runs"]
    first = runs[0]
    if len(runs) == 1:
        text = (f"Only {first['threads']} Numba thread is available on this machine, so the "
                f"thread-count comparison was not made{quick_note(raw)}.")
        return {"physics.numba_threads": text}
    others = runs[1:]
    same = all(r["particles_identical"] for r in others)
    contact = all(r["contact_work"] == first["contact_work"] for r in others)
    gravity = " vs ".join(repr(r["gravity_work"]) for r in runs)
    counts = " and on ".join(str(r["threads"]) for r in runs)
    text = (f"Measured{quick_note(raw)}: {raw['steps']} steps of {raw['n']:,} particles (gas "
            f"scenario, float32) on {counts} Numba threads gave "
            f"{'bit-identical' if same else 'different'} particles, "
            f"{'the same' if contact else 'different'} contact work, and gravity work {gravity}.")
    return {"physics.numba_threads": text}


ENTRIES.append(Entry(
    name="physics.numba_threads", doc="physics.md", blocks=("physics.numba_threads",),
    summary="whole Numba runs on one thread and on all of them: particles and ledger sums",
    commands=_threads_commands, run=_threads_run, render=_threads_render,
    sources=PHYSICS_SOURCES))


# --- the main job: `thermo-manifold simulate`, physics alone -------------------------------------

MAIN_STEPS = 200
MAIN_RUNS = (   # (key, extra flags, watch the ledger after step 1 for the gravity comparison)
    ("float32-spectral", ["--dtype", "float32", "--poisson", "spectral"], False),
    ("float64-spectral", ["--dtype", "float64", "--poisson", "spectral"], True),
    ("float32-jacobi", ["--dtype", "float32", "--poisson", "jacobi"], False),
    ("float64-spectral-no-collisions",
     ["--dtype", "float64", "--poisson", "spectral", "--no-collisions"], True),
    ("float64-spectral-seed-contact",
     ["--dtype", "float64", "--poisson", "spectral", "--contact", "seed"], False),
)
SIM_SOURCES = ("src/thermo_manifold/sim", "src/thermo_manifold/physics",
               "src/thermo_manifold/spectral", "src/thermo_manifold/device.py",
               "src/thermo_manifold/reporting.py")


def _main_argv(extra: list[str], quick: bool, out: str) -> list[str]:
    steps = 20 if quick else MAIN_STEPS
    return ["simulate", "--particles", "2000", "--grid", "32", "--steps", str(steps),
            "--no-carriers", "--no-dashboard", "--quiet", *extra, "--out", out]


def _main_commands(quick: bool) -> list[str]:
    out = []
    for key, extra, watch in MAIN_RUNS:
        text = command_text(_main_argv(extra, quick, f"runs/reproduce/physics.main_job/{key}"))
        note = THREAD_NOTE + ("; a step hook reads the ledger after step 1" if watch else "")
        out.append(f"{text}  (in process, {note})")
    return out


def simulate_with_hook(argv: Sequence[str], after_step: int = 1) -> tuple[dict, dict | None]:
    """`thermo-manifold simulate ARGV` in this process, exactly as its `main` runs it, plus a
    step hook that copies the energy ledger once `after_step` steps are done. Returns the run's
    summary.json and that ledger."""
    from thermo_manifold.sim.cli import build_parser, build_simulator

    seen: dict[str, dict] = {}

    def hook(simulator) -> None:
        if simulator.step == after_step:
            seen["ledger"] = simulator.physics.ledger.snapshot().to_dict()

    with contextlib.redirect_stdout(io.StringIO()):   # as run_cli(capture=True) does
        simulator = build_simulator(build_parser().parse_args(list(argv)))
        summary = simulator.run(on_step=hook)
    if summary["stopped"] != "completed":
        raise RuntimeError(f"simulate {' '.join(argv)} stopped early: {summary['stopped']}")
    return summary, seen.get("ledger")


_LEDGER_KEYS = ("initial_total", "kinetic", "internal", "heat", "potential", "gravity_work",
                "pressure_work", "contact_work", "radiated", "dissipated", "total", "residual",
                "contact_potential", "potential_edits", "injected", "clamp_work", "conservative")


def _main_run(quick: bool, work: Path) -> dict:
    load = [load_average()]
    runs = []
    with single_thread() as threads:
        for key, extra, watch in MAIN_RUNS:
            out = work / key
            argv = _main_argv(extra, quick, str(out))
            if watch:
                summary, after_first = simulate_with_hook(argv[1:])
            else:
                run_cli(argv, capture=True)
                summary, after_first = read_json(out / "summary.json"), None
            config = read_json(out / "config.json")
            ledger = summary["final_ledger"]
            runs.append({
                "key": key, "dtype": summary["dtype"], "poisson": config["physics"]["poisson"],
                "contact": config["physics"].get("contact", "seed"),
                "poisson_iterations": config["physics"]["poisson_iterations"],
                "collisions": config["physics"]["collisions"], "steps": summary["steps"],
                "ms_median": summary["ms_per_step_median"], "ms_mean": summary["ms_per_step_mean"],
                "ledger_residual": summary["ledger_residual"],
                "poisson_residual": summary["poisson_residual"],
                "ledger": {k: ledger[k] for k in _LEDGER_KEYS if k in ledger},
                "after_step_1": ({k: after_first[k] for k in ("gravity_work", "potential")}
                                 if after_first else None)})
    load.append(load_average())
    return {"quick": quick, "threads": threads, "load": load, "runs": runs}


def _run(raw: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    return next((r for r in raw["runs"] if r["key"] == key), None)


def _main_table(raw: Mapping[str, Any]) -> str:
    rows = []
    steps = raw["runs"][0]["steps"]
    for run in raw["runs"]:
        if not run["collisions"]:
            continue
        poisson = run["poisson"] + (f" ({run['poisson_iterations']} sweeps, warm)"
                                    if run["poisson"] == "jacobi" else "")
        rows.append({"contact": run.get("contact", "seed"), "dtype": run["dtype"],
                     "Poisson": poisson,
                     "ms/step (median)": fixed(run["ms_median"]),
                     f"ledger residual after {steps} steps": sci(run["ledger_residual"]),
                     "Poisson residual": sci(run["poisson_residual"])})
    return (f"Physics alone, {THREAD_NOTE}{quick_note(raw)}, {load_text(raw)}:\n\n"
            + markdown_table(rows))


def _flows(raw: Mapping[str, Any]) -> str:
    run = _run(raw, "float64-spectral")
    if run is None:
        return "(no float64 run)"
    ledger = run["ledger"]
    came_in = ledger["initial_total"] + ledger.get("injected", 0.0)
    text = (f"Energy of the float64 run after {run['steps']} steps{quick_note(raw)} (contact "
            f"{run.get('contact', 'seed')}): initial total K + E + Q + U_grav + U_c = "
            f"{grouped(ledger['initial_total'])}, final {grouped(ledger['total'])} "
            f"({format_cell(ledger['total'] / came_in, 3)} times initial + injected); dissipated "
            f"to heat {grouped(ledger['dissipated'])}, pressure work "
            f"{signed(ledger['pressure_work'])}, dashpot cross terms "
            f"{signed(ledger['contact_work'])}, radiated {grouped(ledger['radiated'])}, "
            f"contact potential now {grouped(ledger.get('contact_potential', 0.0))}; closure "
            f"residual {sci(ledger['residual'])}.")
    seed = _run(raw, "float64-spectral-seed-contact")
    if seed is not None:
        old = seed["ledger"]
        text += (f" The same run with `--contact seed`: initial particle energy "
                 f"{grouped(old['initial_total'])}, final {grouped(old['total'])} "
                 f"({format_cell(old['total'] / (old['initial_total'] + old.get('injected', 0.0)), 3)}"
                 f" times), of which contact work {signed(old['contact_work'])}: the seed's "
                 "soft push is an energy source.")
    return text


def gravity_budget(run: Mapping[str, Any]) -> dict[str, float] | None:
    """Gravity work W and the change of the potential dU over steps 2..last of one run, and the
    mismatch |W + dU| / |W| (zero for a force that conserved kinetic + potential exactly)."""
    first = run.get("after_step_1")
    if not first:
        return None
    work = run["ledger"]["gravity_work"] - first["gravity_work"]
    change = run["ledger"]["potential"] - first["potential"]
    return {"work": work, "change": change,
            "mismatch": abs(work + change) / abs(work) if work else float("nan")}


def _gravity(raw: Mapping[str, Any]) -> str:
    parts = []
    for key, label in (("float64-spectral-no-collisions", "without collisions"),
                       ("float64-spectral", "with collisions")):
        run = _run(raw, key)
        budget = gravity_budget(run) if run else None
        if budget is None:
            continue
        parts.append(f"{label} the gravity kicks did W = {signed(budget['work'])} of work while "
                     f"the potential 1/2 sum m phi changed by dU = {signed(budget['change'])} "
                     f"(|W + dU| / |W| = {100 * budget['mismatch']:.1f} %)")
    last = raw["runs"][0]["steps"]
    return (f"float64, spectral Poisson, steps 2-{last} of the runs above{quick_note(raw)}: "
            + "; ".join(parts) + ".")


def _main_render(raw: Mapping[str, Any]) -> dict[str, str]:
    return {"physics.main_job": _main_table(raw), "physics.flows": _flows(raw),
            "physics.gravity": _gravity(raw)}


ENTRIES.append(Entry(
    name="physics.main_job", doc="physics.md",
    blocks=("physics.main_job", "physics.flows", "physics.gravity"),
    summary="simulate 2000 particles on 32^3 for 200 steps: dtype and Poisson solver, the "
            "ledger's flows, gravity work against potential energy",
    commands=_main_commands, run=_main_run, render=_main_render, sources=SIM_SOURCES))
