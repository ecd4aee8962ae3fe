"""`thermo-manifold simulate`: flags of the simulator."""

from __future__ import annotations

from collections.abc import Sequence

from thermo_manifold.cli_support import OneLineParser, int_at_least


def build_parser() -> OneLineParser:
    sim = OneLineParser(prog="thermo-manifold simulate",
                        description="run the physics engine headless and summarise")
    sim.add_argument("--particles", type=int_at_least(1), default=2000, help="particle count N")
    sim.add_argument("--grid", type=int_at_least(1), default=32, help="grid cells per axis")
    sim.add_argument("--steps", type=int_at_least(1), default=200, help="physics steps")
    sim.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], default="auto")
    sim.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    sim.add_argument("--seed", type=int_at_least(0), default=0)
    sim.add_argument("--poisson", choices=["spectral", "jacobi"], default="spectral")
    sim.add_argument("--no-collisions", action="store_true", help="switch the collision stage off")
    sim.add_argument("--config", metavar="TOML", help="physics config file ([physics] table)")
    sim.add_argument("--out", metavar="DIR", default="runs/simulate", help="run directory")
    sim.add_argument("--quiet", action="store_true", help="no progress bar")
    return sim


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    from thermo_manifold.sim.headless import run_simulate

    run_simulate(args)
    return 0
