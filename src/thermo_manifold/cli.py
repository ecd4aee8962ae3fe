"""`thermo-manifold`: one entry point, one subcommand per job.

User errors (bad flags, impossible settings) print one line to stderr and exit with status 2;
no traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from thermo_manifold.cli_support import OneLineParser as _Parser
from thermo_manifold.cli_support import UserError


def _int_at_least(minimum: int):
    """An argparse type for integers >= `minimum`, with a one-line message otherwise."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="thermo-manifold", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    sim = commands.add_parser("simulate", help="run the physics engine headless and summarise")
    sim.add_argument("--particles", type=_int_at_least(1), default=2000, help="particle count N")
    sim.add_argument("--grid", type=_int_at_least(1), default=32, help="grid cells per axis")
    sim.add_argument("--steps", type=_int_at_least(1), default=200, help="physics steps")
    sim.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], default="auto")
    sim.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    sim.add_argument("--seed", type=_int_at_least(0), default=0)
    sim.add_argument("--poisson", choices=["spectral", "jacobi"], default="spectral")
    sim.add_argument("--no-collisions", action="store_true", help="switch the collision stage off")
    sim.add_argument("--config", metavar="TOML", help="physics config file ([physics] table)")
    sim.add_argument("--out", metavar="DIR", default="runs/simulate", help="run directory")
    sim.add_argument("--quiet", action="store_true", help="no progress bar")

    bench = commands.add_parser("bench", help="benchmarks (print timings and ratios)")
    bench_kinds = bench.add_subparsers(dest="bench", metavar="WHAT", parser_class=_Parser)
    bench_kinds.required = True
    # `bench physics` parses its own flags (thermo_manifold.physics.benchmark.main).
    bench_kinds.add_parser("physics", help="physics step throughput vs NumPy", add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        if argv[:2] == ["bench", "physics"]:
            from thermo_manifold.physics import benchmark

            return benchmark.main(argv[2:])
        args = parser.parse_args(argv)
        if args.command == "simulate":
            from thermo_manifold.sim.headless import run_simulate

            run_simulate(args)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


__all__ = ["UserError", "build_parser", "main"]
