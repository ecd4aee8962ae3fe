"""`thermo-manifold`: one entry point, one subcommand per job.

Each subcommand is `main(argv) -> int` in its subpackage, imported only when used so that
`thermo-manifold papers list` does not pay for torch-heavy imports of other subsystems. User
errors (bad flags, impossible settings) print one line to stderr and exit with status 2; no
traceback.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from thermo_manifold.cli_support import OneLineParser, UserError

# command -> (module holding `main(argv)`, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "simulate": ("thermo_manifold.sim.cli", "run the physics simulator and summarise"),
    "bench": ("thermo_manifold.benchmarks_cli", "benchmarks (print timings and ratios)"),
    "experiment": ("thermo_manifold.sensorium.cli", "sensorium experiments with baselines"),
    "agent": ("thermo_manifold.agent.cli", "field-theory agent: train and benchmark"),
    "graph": ("thermo_manifold.graph.cli", "sparse graph learner benchmarks"),
    "papers": ("thermo_manifold.papers.cli", "paper-algorithm registry"),
    "reproduce": ("thermo_manifold.reproduce.cli", "regenerate the documented results; --check them"),
}


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog="thermo-manifold", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    commands.required = True
    for name, (_, help_text) in SUBCOMMANDS.items():
        # Each subcommand parses its own flags; this entry only lists it in --help.
        commands.add_parser(name, help=help_text, add_help=False)
    return parser


def _load(command: str):
    module_name = SUBCOMMANDS[command][0]
    try:
        return importlib.import_module(module_name).main
    except ModuleNotFoundError as error:
        if error.name and module_name.startswith(error.name):
            raise UserError(f"thermo-manifold {command}: not available in this build") from None
        raise


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if not argv or argv[0] not in SUBCOMMANDS:
            build_parser().parse_args(argv[:1] or [])  # raises UserError or prints --help
            return 0
        return int(_load(argv[0])(argv[1:]) or 0)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `thermo-manifold papers list | head`: the reader left; stop quietly.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


__all__ = ["SUBCOMMANDS", "UserError", "build_parser", "main"]
