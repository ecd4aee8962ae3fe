"""`thermo-manifold agent`: the field-theory agent's commands: `topoencoder` (the atlas against
VQ-VAE and an autoencoder) and `control` (the agent against an MLP world model and a scalar
critic on a control task)."""

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

    control = commands.add_parser(
        "control", help="the field-theory agent vs an MLP world model + scalar critic",
        description="train the field-theory agent, the baseline and a random policy on a "
                    "control task; report returns, world-model and critic errors")
    control.add_argument("--task", required=True, metavar="TASK",
                         help="curl | pendulum | cartpole | mountaincar (the last three need "
                              "gymnasium: pip install -e \".[control]\")")
    control.add_argument("--quick", action="store_true",
                         help="a short run on one seed (under a minute)")
    control.add_argument("--seed", type=int_at_least(0), default=0, help="the first seed")
    control.add_argument("--seeds", type=int_at_least(1), default=None,
                         help="how many seeds (default 3, or 1 with --quick)")
    control.add_argument("--env-steps", type=int_at_least(2), default=None,
                         help="environment steps per agent (default: curl 4000, pendulum 6000, "
                              "cartpole 3000, mountaincar 4000; 600 with --quick)")
    control.add_argument("--jobs", type=int_at_least(1), default=1,
                         help="processes to train on (one agent and seed each; the results do "
                              "not depend on it)")
    control.add_argument("--out", metavar="DIR", default="runs/control")
    control.add_argument("--threads", type=int_at_least(1), default=1,
                         help="torch intra-op threads (1 is fastest for these small models)")
    control.add_argument("--quiet", action="store_true", help="no progress bar")
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


def _control(args) -> int:
    import dataclasses

    import torch

    from thermo_manifold.agent.control import ControlConfig
    from thermo_manifold.agent.control_experiment import run_control
    from thermo_manifold.agent.control_tasks import TASKS, TaskUnavailable, make_task

    if args.task not in TASKS:
        raise UserError(f"--task: unknown task {args.task!r}; choose one of {', '.join(TASKS)}")
    try:
        make_task(args.task)
    except TaskUnavailable as error:
        raise UserError(f"--task {args.task}: {error}") from None
    cfg = ControlConfig.quick() if args.quick else ControlConfig.for_task(args.task)
    if args.env_steps is not None:
        random_steps = min(cfg.random_steps, args.env_steps // 2)
        cfg = dataclasses.replace(cfg, env_steps=args.env_steps, random_steps=max(1, random_steps))
    seeds = list(range(args.seed, args.seed + (args.seeds or (1 if args.quick else 3))))
    from thermo_manifold.preflight import writable_directory

    try:
        writable_directory(args.out, "--out")
    except ValueError as error:
        raise UserError(str(error)) from None
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        metrics = run_control(args.task, cfg, seeds, args.out, quiet=args.quiet,
                              workers=args.jobs)
    finally:
        torch.set_num_threads(threads)
    if not args.quiet:
        print(metrics["table"], end="")
        print(f"wrote {args.out}")
    return 0


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    if args.command == "control":
        return _control(args)
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
