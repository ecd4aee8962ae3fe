"""`thermo-manifold graph bench`: sparse graph learner against dense and pruned baselines."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from thermo_manifold.cli_support import OneLineParser, UserError, int_at_least

SYSTEM_CHOICES = ("lorenz", "lotka-volterra", "kuramoto", "heat1d", "all")
MAX_SEED = 2**32 - 1  # what every generator the bench seeds (NumPy's and torch's) accepts


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog="thermo-manifold graph",
                           description="sparse graph learner benchmarks")
    commands = parser.add_subparsers(dest="command", metavar="WHAT", parser_class=OneLineParser)
    commands.required = True
    bench = commands.add_parser("bench", help="one-step maps of dynamical systems vs baselines")
    bench.add_argument("--system", choices=SYSTEM_CHOICES, default="all",
                       help="system to learn (default: all four)")
    bench.add_argument("--quick", action="store_true", help="small settings (seconds per system)")
    bench.add_argument("--out", metavar="DIR", default="runs/graph-bench", help="run directory")
    bench.add_argument("--seed", type=int_at_least(0), default=0,
                       help=f"random seed, 0 to {MAX_SEED} (default 0)")
    bench.add_argument("--overwrite", action="store_true",
                       help="replace the run already in --out (without it, such a run is kept "
                            "and the command stops)")
    bench.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    if args.seed > MAX_SEED:
        raise UserError(f"--seed must be an integer from 0 to {MAX_SEED}; got {args.seed}")
    from pathlib import Path

    out = Path(args.out)
    if out.is_file():
        raise UserError(f"--out {out}: exists and is not a directory")
    if (out / "metrics.json").exists() and not args.overwrite:
        raise UserError(f"--out {out}: holds a previous run (metrics.json); pass --overwrite to "
                        "replace it, or choose another directory")
    import torch

    from thermo_manifold.graph.bench import QUICK, BenchConfig, run_bench
    from thermo_manifold.graph.systems import SYSTEMS

    systems = list(SYSTEMS) if args.system == "all" else [args.system]
    cfg = QUICK if args.quick else BenchConfig()
    quiet = args.quiet or not sys.stderr.isatty()
    # The bench's tensors are tiny: intra-op threads only add contention (about 5x slower on
    # a shared 2-core machine), so this command runs single-threaded and restores the setting.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        metrics = run_bench(systems, cfg, args.seed, args.out, quiet=quiet)
    except ValueError as error:
        raise UserError(f"graph bench: {error}") from None
    finally:
        torch.set_num_threads(threads)
    for res in metrics["systems"]:
        print(f"{res['system']}: {len(res['rows'])} models, {res['seconds']:.1f} s, "
              f"{res['pysindy']}")
    print(f"wrote {args.out}/tables/errors.md, recovery.md, figures/error_vs_active_weights.png")
    return 0
