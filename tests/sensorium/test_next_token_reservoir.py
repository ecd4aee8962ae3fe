"""next_token's reservoir readout: the byte vocabulary, honest bits/byte and the table."""

from __future__ import annotations

import math

import numpy as np
import pytest

from thermo_manifold.sensorium.experiments import next_token as nt
from thermo_manifold.sensorium.harness import RunContext
from thermo_manifold.sensorium.reservoir_rows import ROWS


def test_bytes_map_to_the_training_bytes_in_order_and_the_rest_to_other():
    vocab = nt.ByteVocabulary.of(b"banana")
    assert vocab.known.tolist() == [ord("a"), ord("b"), ord("n")] and vocab.size == 4
    assert vocab.tokens(b"nab!a").tolist() == [2, 0, 1, 3, 0]


def test_bits_per_byte_are_those_of_a_distribution_over_all_256_bytes():
    """Oracle: a readout uniform over the 3 tokens of {a, b, other} gives byte a or b the
    probability 1/3 and each of the 254 other bytes 1/(3 * 254)."""
    vocab = nt.ByteVocabulary.of(b"ab")
    targets = np.array([0, 1, 2, 2])  # a, b, other, other
    token_bits = math.log2(3)
    expected = np.mean([math.log2(3), math.log2(3), math.log2(3 * 254), math.log2(3 * 254)])
    assert vocab.bits_per_byte(token_bits, targets) == pytest.approx(expected)
    full = nt.ByteVocabulary(np.arange(256))  # nothing left for `other` to stand for
    assert full.bits_per_byte(5.0, np.array([3, 4])) == 5.0


def test_the_reservoir_table_holds_every_row_on_one_split(tmp_path):
    text = tmp_path / "text.txt"
    text.write_bytes(b"the cat sat on the mat. " * 16)
    cfg = nt.Config(max_bytes=300, washout=16, seed_calibration=20, seed_test=15, warmup=8)
    rows, info, _ = nt.reservoir_table(cfg, RunContext(text=text), "text.txt",
                                       text.read_bytes())
    methods = [r["method"] for r in rows]
    assert methods[:len(ROWS)] == list(ROWS)
    assert methods[len(ROWS)] == "manifold, seed readout"
    assert {"uniform", "unigram", "order-1 Markov", "order-2 Markov", "zlib", "lzma"} <= set(methods)
    assert info["train_bytes"] == 240 and info["test_bytes"] == 60
    scored = {r["method"]: r["scored"] for r in rows}
    assert scored["manifold, seed readout"] == 15
    assert all(scored[m] == 60 for m in methods if m != "manifold, seed readout")
    by_name = {r["method"]: r for r in rows}
    # The text repeats a 24-byte phrase: memory must help where the current byte alone cannot.
    assert by_name["decaying bag"]["bits_per_byte"] < by_name["no memory"]["bits_per_byte"]
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in rows if not math.isnan(r["accuracy"]))


@pytest.mark.parametrize("changes, field", [({"max_bytes": 0}, "max_bytes"),
                                            ({"washout": 2.5}, "washout"),
                                            ({"train_fraction": 1.0}, "train_fraction"),
                                            ({"seed_test": True}, "seed_test")])
def test_bad_settings_name_the_field(changes, field):
    with pytest.raises(ValueError, match=field):
        nt.Config(**changes)


def test_too_short_a_text_is_refused_before_any_reservoir_runs():
    with pytest.raises(ValueError, match="too few"):
        nt.reservoir_table(nt.Config(max_bytes=40), RunContext(), "tiny", b"x" * 40)
