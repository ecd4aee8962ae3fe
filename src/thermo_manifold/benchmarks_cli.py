"""`thermo-manifold bench WHAT`: benchmarks that print timings and ratios (never assert)."""

from __future__ import annotations

from collections.abc import Sequence

from thermo_manifold.cli_support import OneLineParser

BENCHMARKS = {"physics": "physics step throughput vs a NumPy reference",
              "reservoir": "tokens/s of the sensorium's reservoirs beside an echo state network"}


def main(argv: Sequence[str]) -> int:
    argv = list(argv)
    if argv[:1] == ["physics"]:
        from thermo_manifold.physics import benchmark

        return benchmark.main(argv[1:])
    if argv[:1] == ["reservoir"]:
        from thermo_manifold.sensorium import benchmark as reservoir_benchmark

        return reservoir_benchmark.main(argv[1:])
    parser = OneLineParser(prog="thermo-manifold bench")
    kinds = parser.add_subparsers(dest="what", metavar="WHAT", parser_class=OneLineParser)
    kinds.required = True
    for name, help_text in BENCHMARKS.items():
        kinds.add_parser(name, help=help_text, add_help=False)
    parser.parse_args(argv[:1])
    return 0
