"""Physics benchmark: time `ManifoldPhysics.step` on the gas scenario, beside the NumPy reference.

Scenario (docs "Benchmark scenario"): `gas_config(N, g)` and `gas_state(N, cfg,
make_generator(seed), dtype=torch.float32)`: N particles uniform over the box at number density
0.25, collisions on, spectral Poisson. For every (N, g) the engine runs `warmup` untimed steps and
then 2 x `steps` timed ones, alternately with `time_stages` off and on: the steps without stage
timing give the median ms per step and particle-steps per second (N / median seconds), since the
timers themselves cost tens of microseconds a step, a tenth of a small one; the steps with it
give the median time of each stage and "other" (their median total less the stages). Also
reported: the number of touching pairs. The float64 NumPy reference (`reference.reference_step`) is timed on the same
starting state (fewer steps for large N) and the ratio reference / engine is reported, together
with how far the engine's first step lands from the reference's (float32 vs float64).

This module only measures and prints; it asserts nothing. Run it as
`python benchmarks/physics.py --sizes 10000 --grids 32 --steps 3` or
`python -m thermo_manifold.physics.benchmark ...`.
"""

from __future__ import annotations

import datetime
import gc
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from thermo_manifold.cli_support import OneLineParser as _Parser
from thermo_manifold.cli_support import UserError
from thermo_manifold.device import DEVICE_CHOICES, make_generator, resolve_device
from thermo_manifold.physics.config import gas_config
from thermo_manifold.physics.engine import STAGES, ManifoldPhysics
from thermo_manifold.physics.generator import gas_state
from thermo_manifold.physics.reference import reference_step, state_to_numpy
from thermo_manifold.preflight import check_fits_in_memory, writable_directory

# Above this many particles the reference runs at most this many steps (it is slow).
LARGE_N = 500_000
LARGE_N_REFERENCE_STEPS = 2


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def _median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


VARIANTS = ("torch", "numba", "torch+compile", "numba+compile")


def parse_variant(variant: str) -> tuple[str, bool]:
    """'numba+compile' -> (kernels='numba', compile=True)."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}; got {variant!r}")
    kernels, _, compiled = variant.partition("+")
    return kernels, bool(compiled)


def _bench_one(n: int, g: int, *, steps: int, warmup: int, device: torch.device,
               reference: bool, seed: int, bar, variant: str = "torch",
               contact: str = "spring_dashpot") -> dict:
    config = gas_config(n, g, contact=contact)
    state0 = gas_state(n, config, make_generator(seed, device), dtype=torch.float32,
                       device=device)
    kernels, compiled = parse_variant(variant)
    engine = ManifoldPhysics(config, device=device, dtype=torch.float32, compile=compiled,
                             kernels=kernels)

    state = state0
    first_step = None
    totals: list[float] = []  # steps without stage timers
    staged_totals: list[float] = []
    stages: dict[str, list[float]] = {name: [] for name in STAGES}
    pairs: list[int] = []
    for index in range(warmup + 2 * steps):
        staged = index >= warmup and (index - warmup) % 2 == 1
        engine.time_stages = staged
        _synchronize(device)
        start = time.perf_counter()
        result = engine.step(state)
        _synchronize(device)
        elapsed = time.perf_counter() - start
        state = result.state
        if first_step is None:
            first_step = result
        if staged:
            staged_totals.append(elapsed)
            for name in STAGES:
                stages[name].append(result.stage_seconds.get(name, 0.0))
        elif index >= warmup:
            totals.append(elapsed)
            pairs.append(result.collision_pairs)
        bar.update(1)

    engine_s = _median(totals)
    stage_ms = {name: 1e3 * _median(values) for name, values in stages.items()}
    row = {
        "n": n,
        "grid": g,
        "variant": variant,
        "contact": contact,
        "spacing": config.grid_spacing,
        "device": str(device),
        "dtype": "float32",
        "steps": steps,
        "warmup": warmup,
        "engine_ms": 1e3 * engine_s,
        "engine_ms_all": [1e3 * t for t in totals],
        "particle_steps_per_s": n / engine_s if engine_s > 0 else float("nan"),
        "stage_ms": stage_ms,
        "other_ms": 1e3 * _median(staged_totals) - sum(stage_ms.values()),
        "collision_pairs": int(statistics.median(pairs)) if pairs else 0,
        "reference_ms": None,
        "reference_steps": 0,
        "reference_stage_ms": None,
        "ratio": None,
        "first_step_pairs_engine": first_step.collision_pairs if first_step else None,
        "first_step_pairs_reference": None,
        "first_step_max_dx": None,
        "first_step_max_dv": None,
    }
    # Kept (float64) until run_benchmark has compared every variant's first step with the
    # reference's; removed from the row before it is returned.
    row["_first_step"] = (first_step.state.positions.cpu().double().numpy(),
                          first_step.state.velocities.cpu().double().numpy())
    del engine, state, result, first_step
    gc.collect()

    if reference:
        ref_steps = steps if n <= LARGE_N else min(steps, LARGE_N_REFERENCE_STEPS)
        ref_state = state_to_numpy(state0)
        del state0
        ref_totals: list[float] = []
        ref_stages: dict[str, list[float]] = {name: [] for name in STAGES}
        for index in range(ref_steps):
            seconds: dict[str, float] = {}
            start = time.perf_counter()
            ref_state, flows = reference_step(ref_state, config, stage_seconds=seconds)
            ref_totals.append(time.perf_counter() - start)
            for name in STAGES:
                ref_stages[name].append(seconds.get(name, 0.0))
            if index == 0:
                row["first_step_pairs_reference"] = flows["collision_pairs"]
                row["_reference_first_step"] = (ref_state["positions"].copy(),
                                                ref_state["velocities"].copy())
            bar.update(1)
        reference_s = _median(ref_totals)
        row["reference_ms"] = 1e3 * reference_s
        row["reference_steps"] = ref_steps
        row["reference_stage_ms"] = {name: 1e3 * _median(v) for name, v in ref_stages.items()}
        row["ratio"] = reference_s / engine_s if engine_s > 0 else float("nan")
        del ref_state
        gc.collect()
    return row


def run_benchmark(
    sizes=(10_000, 100_000, 1_000_000),
    grids=(32, 64),
    steps: int = 5,
    warmup: int = 1,
    device: str = "cpu",
    reference: bool = True,
    reference_max_n: int = 1_000_000,
    seed: int = 0,
    progress: bool = True,
    variants: tuple[str, ...] = ("torch", "numba"),
    contact: str = "spring_dashpot",
) -> list[dict]:
    """Time the engine variants (and the NumPy reference) on the gas scenario.

    One row per (N, g, variant); all rows of an (N, g) share one reference timing, and
    `speedup` is each variant's ms/step against the first variant's, from the same process."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1; got {steps}")
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0; got {warmup}")
    if not variants:
        raise ValueError("variants must name at least one of " + ", ".join(VARIANTS))
    for variant in variants:
        parse_variant(variant)
    from thermo_manifold.physics.config import CONTACT_MODELS

    if contact not in CONTACT_MODELS:
        raise ValueError(f"contact must be one of {CONTACT_MODELS}; got {contact!r}")
    torch_device = resolve_device(device)
    cases = [(int(n), int(g)) for n in sizes for g in grids]

    def reference_steps(n: int) -> int:
        if not reference or n > reference_max_n:
            return 0
        return steps if n <= LARGE_N else min(steps, LARGE_N_REFERENCE_STEPS)

    total = sum(len(variants) * (warmup + 2 * steps) + reference_steps(n) for n, _ in cases)
    disable = not progress or not sys.stderr.isatty()
    rows = []
    with tqdm(total=total, desc="physics benchmark", unit="step", disable=disable,
              file=sys.stderr) as bar:
        for n, g in cases:
            case_rows = []
            for index, variant in enumerate(variants):
                bar.set_postfix_str(f"N={n:,} grid={g}^3 {variant}")
                case_rows.append(_bench_one(
                    n, g, steps=steps, warmup=warmup, device=torch_device,
                    reference=index == 0 and reference_steps(n) > 0, seed=seed, bar=bar,
                    variant=variant, contact=contact))
            first = case_rows[0]
            reference_first = first.pop("_reference_first_step", None)
            for row in case_rows:
                row["speedup"] = first["engine_ms"] / row["engine_ms"]
                if row is not first and first["reference_ms"] is not None:
                    for key in ("reference_ms", "reference_steps", "reference_stage_ms",
                                "first_step_pairs_reference"):
                        row[key] = first[key]
                    row["ratio"] = first["reference_ms"] / row["engine_ms"]
                positions, velocities = row.pop("_first_step")
                if reference_first is not None:
                    row["first_step_max_dx"] = float(
                        np.abs(positions - reference_first[0]).max(initial=0.0))
                    row["first_step_max_dv"] = float(
                        np.abs(velocities - reference_first[1]).max(initial=0.0))
            rows.extend(case_rows)
    return rows


def _fmt(value, spec: str, missing: str = "-") -> str:
    if value is None:
        return missing
    if isinstance(value, float) and not np.isfinite(value):
        return missing
    return format(value, spec)


def format_markdown(rows: list[dict]) -> str:
    """A Markdown table of benchmark rows (times in ms per step, medians)."""
    header = (
        "| N | grid | variant | engine ms/step | particle-steps/s | "
        + " | ".join(STAGES)
        + " | other | pairs | speedup | reference ms/step | ref/engine | first-step max abs dx |"
    )
    columns = header.count("|") - 1
    lines = [header, "|" + "|".join(["---:"] * columns) + "|"]
    for row in rows:
        stage = row["stage_ms"]
        cells = [
            f"{row['n']:,}",
            f"{row['grid']}^3",
            row.get("variant", "torch"),
            _fmt(row["engine_ms"], ".1f"),
            _fmt(row["particle_steps_per_s"], ".3g"),
            *(_fmt(stage.get(name), ".1f") for name in STAGES),
            _fmt(row["other_ms"], ".1f"),
            f"{row['collision_pairs']:,}",
            _fmt(row.get("speedup"), ".2f") + ("x" if row.get("speedup") is not None else ""),
            (_fmt(row["reference_ms"], ".1f")
             + (f" ({row['reference_steps']})" if row["reference_ms"] is not None else "")),
            _fmt(row["ratio"], ".2f") + ("x" if row["ratio"] is not None else ""),
            _fmt(row["first_step_max_dx"], ".1e"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def environment() -> dict:
    info = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "numpy": np.__version__,
    }
    if torch.cuda.is_available():
        info["cuda_device"] = torch.cuda.get_device_name(0)
    return info


def _int_list(values: list[str], flag: str) -> list[int]:
    """Parse '10000 1e5,1_000_000' into ints; suffixes k and M are accepted."""
    out = []
    for item in values:
        for token in item.split(","):
            token = token.strip().replace("_", "")
            if not token:
                continue
            scale = 1
            if token[-1] in "kK":
                token, scale = token[:-1], 1_000
            elif token[-1] in "mM":
                token, scale = token[:-1], 1_000_000
            try:
                number = float(token) * scale
            except ValueError:
                raise UserError(f"{flag}: cannot read {item!r} as a list of integers") from None
            if not math.isfinite(number) or number != int(number) or number < 1:
                raise UserError(f"{flag}: {item!r} is not a positive integer")
            out.append(int(number))
    return out


def main(argv: list[str] | None = None) -> int:
    if argv is not None:
        argv = list(argv)
        if argv[:1] == ["--"]:  # `thermo-manifold bench physics -- --sizes ...`
            argv = argv[1:]
    parser = _Parser(
        prog="thermo-manifold bench physics",
        description="Time ManifoldPhysics.step on the gas scenario beside the NumPy reference.")
    parser.add_argument("--sizes", nargs="+", default=["10000,100000,1000000"],
                        help="particle counts, comma or space separated (1e6, 100k allowed)")
    parser.add_argument("--grids", nargs="+", default=["32,64"],
                        help="grid cells per axis, comma or space separated")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per case")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    parser.add_argument("--device", default="cpu", choices=DEVICE_CHOICES)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-reference", action="store_true",
                        help="skip the NumPy reference timings")
    parser.add_argument("--reference-max-n", type=int, default=1_000_000,
                        help="largest N for which the reference is timed")
    parser.add_argument("--out", type=Path, default=None,
                        help="directory for bench_physics.json and bench_physics.md")
    parser.add_argument("--variants", nargs="+", default=["torch", "numba"],
                        choices=VARIANTS, metavar="VARIANT",
                        help="engine variants, the first is the speedup reference: "
                             + ", ".join(VARIANTS) + " (default: torch numba)")
    parser.add_argument("--contact", choices=["spring_dashpot", "seed"],
                        default="spring_dashpot",
                        help="contact model and step scheme (default spring_dashpot)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    sizes = _int_list(args.sizes, "--sizes")
    grids = _int_list(args.grids, "--grids")
    try:  # everything that can be known wrong is refused before the first timed step
        for flag, value in (("--steps", args.steps), ("--warmup", args.warmup)):
            if value < (1 if flag == "--steps" else 0):
                raise ValueError(f"{flag} must be >= {1 if flag == '--steps' else 0}; got {value}")
        if args.out is not None:
            writable_directory(args.out, "--out")
        check_fits_in_memory(max(sizes), (max(grids),) * 3, 4,
                             f"--sizes {max(sizes)} on a {max(grids)}^3 grid")
    except ValueError as error:
        parser.error(str(error))
    try:
        rows = run_benchmark(
            sizes=sizes, grids=grids, steps=args.steps, warmup=args.warmup, device=args.device,
            reference=not args.no_reference, reference_max_n=args.reference_max_n,
            seed=args.seed, progress=not args.quiet, variants=tuple(args.variants),
            contact=args.contact)
    except ValueError as error:
        parser.error(str(error))
    env = environment()
    table = format_markdown(rows)
    title = (f"Physics step, gas scenario, contact={args.contact} (float32 engine on "
             f"{args.device}, float64 NumPy "
             f"reference); torch {env['torch']}, {env['torch_threads']} threads, "
             f"{env['cpu_count']} CPUs")
    print(title)
    print()
    print(table)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        payload = {"environment": env, "arguments": {
            "sizes": sizes, "grids": grids, "steps": args.steps, "warmup": args.warmup,
            "device": args.device, "seed": args.seed, "reference": not args.no_reference,
            "reference_max_n": args.reference_max_n, "variants": args.variants,
            "contact": args.contact}, "rows": rows}
        (args.out / "bench_physics.json").write_text(json.dumps(payload, indent=2) + "\n")
        (args.out / "bench_physics.md").write_text(f"{title}\n\n{table}\n")
        print(f"\nwrote {args.out / 'bench_physics.json'} and {args.out / 'bench_physics.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
