"""Reservoir benchmark: tokens per second of driving each reservoir of the sensorium's tables.

`thermo-manifold bench reservoir [--tokens N] [--vocab V] [--seed K]` drives, one token at a
time with features read after every token, the manifold reservoir of next_token's text
configuration (`text_reservoir(V)`: physics and carriers on), the same with the physics frozen,
and the echo state network and decaying bag beside it (the ESN with as many units as the
manifold has features), all on the same random token stream in the same process, and prints
tokens per second and each row's time relative to the ESN, with issue 14's target of 1,000
tokens/s. It measures and prints only; it asserts nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import torch

from thermo_manifold.cli_support import OneLineParser, int_at_least

TARGET_TOKENS_PER_SECOND = 1000.0


def _timed(drive: Callable[[np.ndarray], object], tokens: np.ndarray) -> float:
    """Tokens per second of `drive(tokens)`, after an untimed warm-up on a short prefix (which
    compiles the Numba kernels on a first run)."""
    drive(tokens[: min(32, tokens.size)])
    start = time.perf_counter()
    drive(tokens)
    return tokens.size / (time.perf_counter() - start)


def measure(tokens: int, vocab: int, seed: int) -> list[dict]:
    from thermo_manifold.sensorium.experiments.next_token import text_reservoir
    from thermo_manifold.sensorium.memory_features import DecayingBag, EchoStateNetwork
    from thermo_manifold.sensorium.reservoir import ManifoldReservoir

    config = text_reservoir(vocab)
    stream = np.random.default_rng(seed).integers(0, vocab, tokens)
    drivers = {
        "manifold reservoir": ManifoldReservoir(config, seed=seed).transform,
        "reservoir, physics frozen": ManifoldReservoir(config.replace(physics=False),
                                                       seed=seed).transform,
        "echo state network": EchoStateNetwork(config.n_features, vocab=vocab, lr=0.5, sr=0.9,
                                               seed=seed).transform,
        "decaying bag": DecayingBag(vocab=vocab, decays=(0.5, 0.8, 0.9, 0.95)).transform,
    }
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as stream_features drives them
    try:
        rates = {name: _timed(drive, stream) for name, drive in drivers.items()}
    finally:
        torch.set_num_threads(threads)
    esn = rates["echo state network"]
    return [{"reservoir": name, "tokens_per_second": rate, "time_vs_esn": esn / rate}
            for name, rate in rates.items()]


def main(argv: Sequence[str]) -> int:
    parser = OneLineParser(prog="thermo-manifold bench reservoir",
                           description="tokens/s of the sensorium's reservoirs")
    parser.add_argument("--tokens", type=int_at_least(64), default=1000)
    parser.add_argument("--vocab", type=int_at_least(2), default=97,
                        help="tokens of the stream (97: next_token's and continuous' text)")
    parser.add_argument("--seed", type=int_at_least(0), default=0)
    args = parser.parse_args(list(argv))
    rows = measure(args.tokens, args.vocab, args.seed)
    print(f"{args.tokens} tokens, vocabulary {args.vocab}, features read after every token, "
          "one torch thread")
    print(f"{'reservoir':<28}{'tokens/s':>12}{'time / ESN':>12}")
    for row in rows:
        print(f"{row['reservoir']:<28}{row['tokens_per_second']:>12.0f}"
              f"{row['time_vs_esn']:>12.2f}")
    manifold = rows[0]["tokens_per_second"]
    verdict = "met" if manifold >= TARGET_TOKENS_PER_SECOND else "missed"
    print(f"target {TARGET_TOKENS_PER_SECOND:.0f} tokens/s for the manifold reservoir: {verdict}")
    return 0
