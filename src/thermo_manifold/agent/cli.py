"""`thermo-manifold agent`: the field-theory agent's commands (part 1: `topoencoder`)."""

from __future__ import annotations

from collections.abc import Sequence

from thermo_manifold.cli_support import OneLineParser, UserError, int_at_least


def build_parser() -> OneLineParser:
    agent = OneLineParser(prog="thermo-manifold agent", description="field-theory agent")
    commands = agent.add_subparsers(dest="command", metavar="WHAT", parser_class=OneLineParser)
    commands.required = True
    topo = commands.add_parser("topoencoder", help="TopoEncoder atlas vs VQ-VAE and autoencoder",
                               description="train the TopoEncoder and its baselines, report on a "
                                           "held-out test split")
    topo.add_argument("--dataset", nargs="+", default=["digits"], metavar="NAME",
                      help="digits | mnist-idx DIR | atlas2d")
    topo.add_argument("--epochs", type=int_at_least(1), default=30)
    topo.add_argument("--quick", action="store_true", help="at most 3 epochs on a small split (<1 min)")
    topo.add_argument("--limit", type=int_at_least(8), default=None,
                      help="keep at most this many training samples (and a quarter as many test)")
    topo.add_argument("--supervised", action="store_true",
                      help="also train a TopoEncoder with SupervisedTopologyLoss (uses labels)")
    topo.add_argument("--learned-precisions", action="store_true",
                      help="balance recon/VQ(/supervised) with learned precisions")
    topo.add_argument("--out", metavar="DIR", default="runs/topoencoder")
    topo.add_argument("--seed", type=int_at_least(0), default=0)
    topo.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], default="cpu")
    topo.add_argument("--threads", type=int_at_least(1), default=1,
                      help="torch intra-op threads (1 is fastest for these small models)")
    topo.add_argument("--quiet", action="store_true", help="no progress bar or summary lines")
    return agent


def _dataset(values: list[str]) -> tuple[str, str | None]:
    from thermo_manifold.agent.datasets import DATASETS

    name, rest = values[0], values[1:]
    if name not in DATASETS:
        raise UserError(f"--dataset: unknown dataset {name!r}; choose one of "
                        f"digits, mnist-idx DIR, atlas2d")
    if name == "mnist-idx":
        if len(rest) != 1:
            raise UserError("--dataset mnist-idx needs exactly one directory: --dataset mnist-idx DIR")
        return name, rest[0]
    if rest:
        raise UserError(f"--dataset {name} takes no argument; got {' '.join(rest)!r}")
    return name, None


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    name, path = _dataset(args.dataset)
    import torch

    from thermo_manifold.agent.experiment import ExperimentSpec, run_topoencoder
    from thermo_manifold.device import resolve_device

    try:
        device = resolve_device(args.device)
    except ValueError as error:
        raise UserError(f"--device: {error}") from None
    spec = ExperimentSpec(dataset=name, data_path=path, epochs=args.epochs, quick=args.quick,
                          seed=args.seed, supervised=args.supervised,
                          learned_precisions=args.learned_precisions, limit=args.limit)
    from thermo_manifold.agent.datasets import DatasetError

    # Small MLPs on a shared machine: extra intra-op threads cost more in contention than they
    # save (measured 20-50x slower steps with 2 threads under load). Restored afterwards.
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        run_topoencoder(spec, args.out, device, quiet=args.quiet)
    except DatasetError as error:
        raise UserError(f"--dataset {name}: {error}") from None
    finally:
        torch.set_num_threads(threads)
    if not args.quiet:
        print(f"wrote {args.out}")
    return 0
