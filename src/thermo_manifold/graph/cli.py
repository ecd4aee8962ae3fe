"""`thermo-manifold graph bench` (the sparse graph learner against dense and pruned baselines),
`thermo-manifold graph coupled` (a graph of cores with connectors against a single core) and
`thermo-manifold graph fit` (the learner on a CSV of your own series)."""

from __future__ import annotations

import importlib
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
    bench.add_argument("--ablation", action="store_true",
                       help="also train the learner with one lever taken away at a time "
                            "(tables/ablation.md; about four times the run time)")

    coupled = commands.add_parser(
        "coupled", help="a two-core graph with connectors vs a single core, delay-coupled "
                        "oscillators",
        description="train a Graph of two cores joined by connectors, and a single core with "
                    "the same active-weight budget, on oscillators coupled through a delay")
    coupled.add_argument("--quick", action="store_true", help="small settings (seconds)")
    coupled.add_argument("--out", metavar="DIR", default="runs/graph-coupled",
                         help="run directory")
    coupled.add_argument("--seed", type=int_at_least(0), default=0,
                         help=f"random seed, 0 to {MAX_SEED} (default 0)")
    coupled.add_argument("--overwrite", action="store_true",
                         help="replace the run already in --out")
    coupled.add_argument("--quiet", action="store_true", help="no progress bar")

    fit = commands.add_parser("fit", help="learn the dynamics of your own series (a CSV file)",
                              description="fit SparseDynamicsLearner to the columns of a CSV "
                                          "file (a header row of names, one row per time step)")
    fit.add_argument("--csv", required=True, metavar="FILE", help="the series, one column each")
    fit.add_argument("--dt", required=True, type=float, help="time between rows (> 0)")
    fit.add_argument("--max-active", type=int_at_least(8), default=128,
                     help="active-weight budget (default 128)")
    fit.add_argument("--cycles", type=int_at_least(1), default=150,
                     help="planner cycles (default 150)")
    fit.add_argument("--degree", type=int_at_least(1), default=2,
                     help="polynomial degree of the equation library (default 2)")
    fit.add_argument("--threshold", type=float, default=0.05,
                     help="sparse-regression threshold of the equations (default 0.05)")
    fit.add_argument("--seed", type=int_at_least(0), default=0,
                     help=f"random seed, 0 to {MAX_SEED} (default 0)")
    fit.add_argument("--out", metavar="DIR", default=None,
                     help="also write metrics.json (active weights, score, equations) here")
    return parser


def _fit(args) -> int:
    import json
    import math
    from pathlib import Path

    import numpy as np

    from thermo_manifold.graph.learner import SparseDynamicsLearner

    if not (math.isfinite(args.dt) and args.dt > 0):
        raise UserError(f"--dt must be a finite number > 0; got {args.dt}")
    if not (math.isfinite(args.threshold) and args.threshold >= 0):
        raise UserError(f"--threshold must be a finite number >= 0; got {args.threshold}")
    if args.seed > MAX_SEED:
        raise UserError(f"--seed must be an integer from 0 to {MAX_SEED}; got {args.seed}")
    path = Path(args.csv)
    if not path.is_file():
        raise UserError(f"--csv {path}: no such file")
    try:
        table = np.genfromtxt(path, delimiter=",", names=True, dtype=np.float64)
    except ValueError as error:
        raise UserError(f"--csv {path}: not a CSV of numbers with a header row ({error})"
                        ) from None
    names = list(table.dtype.names or ())
    if not names or table.ndim != 1 or table.shape[0] < 3:
        raise UserError(f"--csv {path}: needs a header row of names and at least 3 rows of "
                        "numbers")
    series = np.stack([table[name] for name in names], axis=1)
    if not np.all(np.isfinite(series)):
        raise UserError(f"--csv {path}: holds empty or non-numeric cells")
    learner = SparseDynamicsLearner(max_active=args.max_active, cycles=args.cycles,
                                    seed=args.seed).fit(series, args.dt)
    lines = learner.equations(names=names, degree=args.degree, threshold=args.threshold)
    score = learner.score(series)
    print(f"{learner.active_weights} active weights; one-step increment R^2 on the series "
          f"{score:.4f}")
    print("\n".join(lines))
    if args.out is not None:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps(
            {"csv": str(path), "dt": args.dt, "names": names,
             "active_weights": learner.active_weights, "score": score, "equations": lines},
            indent=2) + "\n")
        print(f"wrote {out / 'metrics.json'}")
    return 0


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    if args.command == "fit":
        return _fit(args)
    if args.seed > MAX_SEED:
        raise UserError(f"--seed must be an integer from 0 to {MAX_SEED}; got {args.seed}")
    from pathlib import Path

    out = Path(args.out)
    if out.is_file():
        raise UserError(f"--out {out}: exists and is not a directory")
    if (out / "metrics.json").exists() and not args.overwrite:
        raise UserError(f"--out {out}: holds a previous run (metrics.json); pass --overwrite to "
                        "replace it, or choose another directory")
    if args.command == "coupled":
        # Loaded by name: `graph bench` never runs it, and reproduce's import closure (which
        # decides when the bench's tables are stale) follows static imports only.
        return importlib.import_module("thermo_manifold.graph.coupled").main(args)
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
        metrics = run_bench(systems, cfg, args.seed, args.out, quiet=quiet,
                            ablation=args.ablation)
    except ValueError as error:
        raise UserError(f"graph bench: {error}") from None
    finally:
        torch.set_num_threads(threads)
    for res in metrics["systems"]:
        print(f"{res['system']}: {len(res['rows'])} models, {res['seconds']:.1f} s, "
              f"{res['pysindy']}")
    tables = "errors.md, recovery.md" + (", ablation.md" if args.ablation else "")
    print(f"wrote {args.out}/tables/{tables}, figures/error_vs_active_weights.png")
    return 0
