"""`thermo-manifold simulate`: the flags of the seed's run.py, plus reproducible schedules,
a particle budget, checkpoints and resume. See docs/simulator.md."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from thermo_manifold.cli_support import OneLineParser, UserError, float_in, int_at_least
from thermo_manifold.preflight import check_fits_in_memory, writable_directory, writable_file
from thermo_manifold.sim.config import PATTERN_CHOICES

# Flags that define a run; a resumed run takes them from its checkpoint. value = default.
RUN_DEFINING: dict[str, Any] = {
    "particles": 2000, "grid": 32, "dtype": "float32", "seed": 0, "poisson": "spectral",
    "no_collisions": False, "config": None, "no_carriers": False, "inject_every_steps": None,
    "inject_min": None, "inject_max": None, "inject_particles_min": 30,
    "inject_particles_max": 100, "inject_pattern": "mixed", "max_particles": None,
    "contact": None,  # None: the config file's, else the default spring_dashpot
}
DEFAULT_STEPS = 200
DEFAULT_OUT = "runs/simulate"
SEED_INJECT_SECONDS = (10.0, 60.0)  # run.py's defaults for --continuous


def build_parser() -> OneLineParser:
    sim = OneLineParser(prog="thermo-manifold simulate",
                        description="run the Thermo-Manifold simulator: physics, spectral "
                                    "carriers, injections, dashboard, checkpoints")
    run = sim.add_argument_group("run")
    run.add_argument("--particles", type=int_at_least(1), help="initial particle count (2000)")
    run.add_argument("--grid", type=int_at_least(1), help="grid cells per axis (32)")
    run.add_argument("--steps", type=int_at_least(1),
                     help=f"total physics steps of a finite run ({DEFAULT_STEPS})")
    run.add_argument("--continuous", "-c", action="store_true",
                     help="run until Ctrl+C (or --max-seconds), injecting files")
    run.add_argument("--max-seconds", type=float_in(1e-3, float("inf")),
                     help="stop after this much wall time")
    run.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], default="auto")
    run.add_argument("--dtype", choices=["float32", "float64"])
    run.add_argument("--seed", type=int_at_least(0))
    run.add_argument("--poisson", choices=["spectral", "jacobi"])
    run.add_argument("--contact", choices=["spring_dashpot", "seed"],
                     help="contact model: spring_dashpot (default; conserves energy, "
                          "integrated kick-drift-kick) or seed (the seed's impulse plus push, "
                          "an energy source; docs/physics.md)")
    run.add_argument("--no-collisions", action="store_true", default=None,
                     help="switch the collision stage off")
    run.add_argument("--no-carriers", action="store_true", default=None,
                     help="switch the spectral carriers off")
    run.add_argument("--config", metavar="TOML", help="physics config file ([physics] table)")
    run.add_argument("--out", metavar="DIR",
                     help=f"run directory ({DEFAULT_OUT}; with --resume, that directory)")
    run.add_argument("--resume", metavar="DIR", help="continue the run saved in DIR")
    run.add_argument("--overwrite", action="store_true",
                     help="replace the run whose checkpoint is in --out (refused otherwise)")
    run.add_argument("--checkpoint-every", type=int_at_least(1), metavar="N",
                     help="also save a checkpoint every N steps")
    run.add_argument("--log-every", type=int_at_least(1), metavar="N",
                     help="console line every N steps (500)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")

    inject = sim.add_argument_group("injections (files of related particles)")
    inject.add_argument("--inject-every-steps", type=int_at_least(1), metavar="N",
                        help="one file every N steps (reproducible)")
    inject.add_argument("--inject-min", type=float_in(1e-3, float("inf")), metavar="SECONDS",
                        help="shortest wait between files (seed schedule; --continuous "
                             "default 10)")
    inject.add_argument("--inject-max", type=float_in(1e-3, float("inf")), metavar="SECONDS",
                        help="longest wait between files (--continuous default 60)")
    inject.add_argument("--inject-particles-min", type=int_at_least(1), metavar="N",
                        help="smallest file (30)")
    inject.add_argument("--inject-particles-max", type=int_at_least(1), metavar="N",
                        help="largest file (100)")
    inject.add_argument("--inject-pattern", choices=PATTERN_CHOICES,
                        help="file layout (mixed: a random one per file)")
    inject.add_argument("--max-particles", type=int_at_least(1), metavar="N",
                        help="particle budget: the oldest particles are evicted to make room")

    view = sim.add_argument_group("dashboard and profiling")
    view.add_argument("--no-dashboard", action="store_true", help="no dashboard (headless)")
    view.add_argument("--dashboard-every", type=int_at_least(1), default=50, metavar="N",
                      help="redraw DIR/dashboard.png every N steps (50)")
    view.add_argument("--dashboard-video", metavar="FILE", help="record the dashboard to "
                      "FILE.gif (Pillow) or FILE.mp4 (imageio-ffmpeg)")
    view.add_argument("--dashboard-fps", type=int_at_least(1), default=10,
                      help="video frames per second (10)")
    view.add_argument("--profile", action="store_true",
                      help="torch.profiler: DIR/profile/trace.json and tables/profile.md")
    view.add_argument("--profile-steps", type=int_at_least(1), default=100, metavar="N",
                      help="steps recorded by --profile (100)")
    return sim


def _physics_config(args: argparse.Namespace, given: set[str]):
    """The physics config: a flag given on the command line > the --config file > the default
    (`given` names the flags the user typed; the others hold defaults by now)."""
    from thermo_manifold.physics import PhysicsConfig

    base = PhysicsConfig.from_toml(args.config) if args.config else PhysicsConfig()
    changes: dict[str, Any] = {}
    if "grid" in given or not args.config:
        changes["grid_size"] = (args.grid, args.grid, args.grid)
    if args.poisson is not None or not args.config:
        changes["poisson"] = args.poisson or "spectral"
    if args.no_collisions:
        changes["collisions"] = False
    if args.contact is not None:
        changes["contact"] = args.contact
    return base.replace(**changes)


def _injection_config(args: argparse.Namespace):
    from thermo_manifold.sim.config import InjectionConfig

    by_seconds = args.inject_min is not None or args.inject_max is not None
    if args.inject_every_steps is not None and by_seconds:
        raise UserError("--inject-every-steps and --inject-min/--inject-max exclude each other: "
                        "schedule injections in steps or in seconds")
    low, high = SEED_INJECT_SECONDS
    if by_seconds or (args.continuous and args.inject_every_steps is None):
        schedule = "seconds"
        low = args.inject_min if args.inject_min is not None else min(low, args.inject_max or low)
        high = args.inject_max if args.inject_max is not None else max(high, low)
    elif args.inject_every_steps is not None:
        schedule = "steps"
    else:
        schedule = "none"
    return InjectionConfig(
        schedule=schedule, every_steps=args.inject_every_steps or 50, min_seconds=low,
        max_seconds=high, particles_min=args.inject_particles_min,
        particles_max=args.inject_particles_max, pattern=args.inject_pattern)


def _options(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    from thermo_manifold.sim.recorder import SUFFIXES
    from thermo_manifold.sim.simulator import DashboardOptions

    video = None
    if args.dashboard_video is not None:
        if args.no_dashboard:
            raise UserError("--dashboard-video needs the dashboard; drop --no-dashboard")
        video = Path(args.dashboard_video)
        if video.suffix.lower() not in SUFFIXES:
            raise UserError(f"--dashboard-video must end in .gif or .mp4; got {video.name!r}")
        if video.suffix.lower() == ".mp4":
            try:
                import imageio_ffmpeg  # noqa: F401
            except ImportError:
                raise UserError("--dashboard-video .mp4 needs the optional package "
                                "imageio-ffmpeg (pip install imageio-ffmpeg); or record a .gif"
                                ) from None
        if not video.is_absolute() and video.parent == Path("."):
            video = out / video  # a bare file name goes into the run directory
        writable_file(video, "--dashboard-video")
    return {
        "dashboard": DashboardOptions(enabled=not args.no_dashboard, every=args.dashboard_every,
                                      video=video, fps=args.dashboard_fps),
        "profile_steps": args.profile_steps if args.profile else None,
        "checkpoint_every": args.checkpoint_every,
        "progress": not args.quiet and sys.stderr.isatty(),
    }


def build_simulator(args: argparse.Namespace):
    """Turn parsed flags into a `Simulator` (fresh or resumed); user mistakes -> UserError."""
    from thermo_manifold.device import resolve_device, resolve_dtype
    from thermo_manifold.sim.checkpoint import CheckpointError
    from thermo_manifold.sim.config import SimulationConfig
    from thermo_manifold.sim.simulator import Simulator

    if args.continuous and args.steps is not None:
        raise UserError("--steps and --continuous exclude each other; bound a continuous run "
                        "with --max-seconds")
    try:
        device = resolve_device(args.device)
        if args.resume is not None:
            given = sorted(f"--{name.replace('_', '-')}" for name in RUN_DEFINING
                           if getattr(args, name) is not None)
            if given:
                raise UserError(f"{', '.join(given)} cannot be combined with --resume: the "
                                "checkpoint fixes the run (only --steps, --continuous, "
                                "--max-seconds and display flags apply)")
            out = writable_directory(args.out or args.resume, "--out")
            changes: dict[str, Any] = {}
            if args.continuous or args.steps is not None:
                changes["steps"] = None if args.continuous else args.steps
            if args.max_seconds is not None:
                changes["max_seconds"] = args.max_seconds
            if args.log_every is not None:
                changes["log_every"] = args.log_every
            return Simulator.resume(args.resume, out=out, device=device, changes=changes,
                                    overwrite=args.overwrite, **_options(args, out))
        given = {name for name in RUN_DEFINING if getattr(args, name) is not None}
        for name, default in RUN_DEFINING.items():
            if getattr(args, name) is None:
                setattr(args, name, default)
        physics = _physics_config(args, given)
        dtype = resolve_dtype(args.dtype)
        largest = max(args.particles + args.inject_particles_max, args.max_particles or 0)
        check_fits_in_memory(largest, physics.grid_size, dtype.itemsize,
                             f"--particles {args.particles} with files of up to "
                             f"{args.inject_particles_max} on a "
                             f"{'x'.join(map(str, physics.grid_size))} grid")
        out = writable_directory(args.out or DEFAULT_OUT, "--out")
        config = SimulationConfig(
            particles=args.particles,
            steps=None if args.continuous else (args.steps if args.steps is not None
                                                else DEFAULT_STEPS),
            max_seconds=args.max_seconds, seed=args.seed, carriers=not args.no_carriers,
            log_every=args.log_every or 500, injection=_injection_config(args),
            max_particles=args.max_particles)
        return Simulator(config, physics, out, device=device, dtype=dtype,
                         overwrite=args.overwrite, **_options(args, out))
    except MemoryError:
        raise UserError("this run does not fit in memory; choose fewer particles or a smaller "
                        "grid") from None
    except RuntimeError as error:  # torch's allocator: "DefaultCPUAllocator: can't allocate"
        if "alloc" not in str(error).lower():
            raise
        raise UserError(f"this run does not fit in memory ({str(error).splitlines()[0][:160]}); "
                        "choose fewer particles or a smaller grid") from None
    except (ValueError, OSError) as error:  # CheckpointError is a ValueError
        prefix = "--resume: " if isinstance(error, CheckpointError) else ""
        message = str(error) if not isinstance(error, OSError) else (
            f"{error.filename}: {error.strerror}")
        raise UserError(prefix + message) from None


def main(argv: Sequence[str]) -> int:
    """Exit 0 when the run stopped as asked (steps done, time up, a signal), 130 when aborted
    by a second signal, 2 with one line for a user error (also one found mid-run, such as an
    unstable config) and 1 with one line when the run failed otherwise (a full disk). A failed
    run still wrote its last good step's checkpoint and its summary."""
    from thermo_manifold.sim.lock import RunDirectoryBusy

    args = build_parser().parse_args(list(argv))
    simulator = build_simulator(args)
    try:
        summary = simulator.run()
    except RunDirectoryBusy as error:
        raise UserError(str(error)) from None
    if summary["stopped"] == "failed":
        where = (f"; the checkpoint of step {summary['steps']} and the summary are in "
                 f"{simulator.run_dir.root}" if summary.get("checkpoint") else "")
        message = f"simulate stopped at step {summary['steps']}: {summary['error']}{where}"
        if summary.get("user_error"):
            raise UserError(message)
        print(f"error: {message}", file=sys.stderr)
        return 1
    lost = summary.get("write_errors")
    if lost:
        print(f"error: not written: {'; '.join(lost)}", file=sys.stderr)
        return 1
    return 130 if summary["stopped"] == "aborted" else 0


__all__ = ["build_parser", "build_simulator", "main"]
