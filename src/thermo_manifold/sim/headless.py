"""`thermo-manifold simulate`: a finite headless run from the seed's random initial state.

Writes `config.json` and `summary.json` (steps, particles, ms/step, final energy ledger and its
residual, Poisson residual) to the run directory.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from thermo_manifold.cli_support import UserError
from thermo_manifold.device import make_generator, resolve_device, resolve_dtype
from thermo_manifold.physics import ManifoldPhysics, PhysicsConfig, random_state


def build_config(args: argparse.Namespace) -> PhysicsConfig:
    base = PhysicsConfig.from_toml(args.config) if args.config else PhysicsConfig()
    return base.replace(
        grid_size=(args.grid, args.grid, args.grid),
        poisson=args.poisson,
        collisions=not args.no_collisions,
    )


def simulate(config: PhysicsConfig, particles: int, steps: int, device: torch.device,
             dtype: torch.dtype, seed: int, progress: bool = True) -> dict[str, Any]:
    """Run `steps` physics steps and return the summary dictionary."""
    engine = ManifoldPhysics(config, device=device, dtype=dtype)
    state = random_state(particles, config, make_generator(seed, device), dtype=dtype,
                         device=device)
    engine.start_ledger(state)
    step_seconds: list[float] = []
    result = None
    bar = tqdm(range(steps), desc="simulate", unit="step", disable=not progress)
    for index in bar:
        start = time.perf_counter()
        result = engine.step(state)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        step_seconds.append(time.perf_counter() - start)
        state = result.state
        if index % 20 == 0:
            bar.set_postfix(residual=f"{result.ledger.residual:.1e}", pairs=result.collision_pairs)
    assert result is not None
    ordered = sorted(step_seconds)
    return {
        "steps": steps,
        "particles": particles,
        "grid_size": list(config.grid_size),
        "device": str(device),
        "dtype": str(dtype).removeprefix("torch."),
        "seed": seed,
        "ms_per_step_mean": 1000.0 * sum(step_seconds) / steps,
        "ms_per_step_median": 1000.0 * ordered[steps // 2],
        "particle_steps_per_second": particles * steps / sum(step_seconds),
        "final_ledger": result.ledger.to_dict(),
        "ledger_residual": result.ledger.residual,
        "poisson_residual": result.poisson_residual,
        "collision_pairs_last_step": result.collision_pairs,
    }


def run_simulate(args: argparse.Namespace) -> dict[str, Any]:
    try:
        config = build_config(args)
        device = resolve_device(args.device)
        dtype = resolve_dtype(args.dtype)
    except (ValueError, OSError) as error:
        raise UserError(str(error)) from None
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"--out {out}: {error.strerror}") from None
    (out / "config.json").write_text(json.dumps(
        {"physics": config.to_dict(), "particles": args.particles, "steps": args.steps,
         "device": str(device), "dtype": args.dtype, "seed": args.seed}, indent=2))
    progress = not args.quiet and sys.stderr.isatty()
    summary = simulate(config, args.particles, args.steps, device, dtype, args.seed, progress)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(
        f"{summary['steps']} steps of {summary['particles']} particles on "
        f"{config.grid_size[0]}^3 ({summary['device']}, {summary['dtype']}): "
        f"{summary['ms_per_step_median']:.2f} ms/step, ledger residual "
        f"{summary['ledger_residual']:.2e} -> {out / 'summary.json'}"
    )
    return summary
