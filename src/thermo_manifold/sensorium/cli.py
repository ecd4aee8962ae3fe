"""`thermo-manifold experiment NAME|all [--quick] [--out DIR] [--seed K] ...`"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from thermo_manifold.cli_support import OneLineParser, UserError, int_at_least
from thermo_manifold.sensorium.harness import EXPERIMENTS, READOUTS


def build_parser() -> OneLineParser:
    p = OneLineParser(prog="thermo-manifold experiment",
                      description="sensorium experiments, each beside honest baselines")
    p.add_argument("name", choices=[*EXPERIMENTS, "all"], metavar="NAME|all",
                   help=f"one of {', '.join(EXPERIMENTS)}, or all")
    p.add_argument("--quick", action="store_true", help="small settings (under a minute each)")
    p.add_argument("--out", metavar="DIR", default="runs/experiments", help="output directory")
    p.add_argument("--seed", type=int_at_least(0), default=0)
    p.add_argument("--text", metavar="FILE", help="text for next_token/text_diffusion "
                   "(default: Python's pydoc topics)")
    p.add_argument("--mnist-dir", metavar="DIR", help="directory with the four MNIST IDX files")
    p.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], default="cpu")
    p.add_argument("--readout", choices=list(READOUTS), default=None,
                   help="reservoir: the manifold as a reservoir with trained linear readouts, "
                   "beside ESN, ablations and the seed's readout; seed: the seed's readout "
                   "alone (default: each experiment's own, reservoir where it is built)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    from thermo_manifold.device import resolve_device
    from thermo_manifold.sensorium.datasets import DataError, load_mnist_idx, load_text
    from thermo_manifold.sensorium.harness import RunContext, experiment_module, run_experiments

    # Check user-given files before any long run starts.
    try:
        device = str(resolve_device(args.device))
        if args.text is not None:
            load_text(args.text)
        if args.mnist_dir is not None:
            load_mnist_idx(args.mnist_dir)
    except (DataError, ValueError) as error:
        raise UserError(str(error)) from None
    context = RunContext(seed=args.seed, quick=args.quick,
                         text=Path(args.text) if args.text else None,
                         mnist_dir=Path(args.mnist_dir) if args.mnist_dir else None,
                         device=device, progress=not args.quiet and sys.stderr.isatty(),
                         readout=args.readout)
    names = list(EXPERIMENTS) if args.name == "all" else [args.name]
    try:  # an unavailable readout is refused before any experiment runs
        for name in names:
            context.readout_for(experiment_module(name))
    except ValueError as error:
        raise UserError(str(error)) from None
    status = run_experiments(names, context, args.out)
    failed = [name for name, s in status.items() if not s["ok"]]
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


__all__ = ["build_parser", "main"]
