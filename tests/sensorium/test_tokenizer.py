from __future__ import annotations

import pytest
import torch

from thermo_manifold.sensorium.tokenizer import (
    TokenizerConfig,
    UniversalTokenizer,
    center_from_id,
    hash_id,
    label_id,
    omega_from_id,
)


def test_hash_id_hand_values():
    # (b*31 + pos) % 4096 + 5
    assert hash_id(0, 0) == 5
    assert hash_id(65, 3) == 65 * 31 + 3 + 5 == 2023
    assert hash_id(255, 4000) == 3718  # 11905 % 4096 = 3713


def test_label_and_omega_hand_values():
    assert label_id(0) == 4101
    assert label_id(9) == 4110
    assert omega_from_id(1024) == pytest.approx(1.0)
    assert omega_from_id(2023) == pytest.approx(2023 / 1024)
    assert omega_from_id(4101) == pytest.approx(5 / 1024)  # the seed's label: near 0


def test_center_hand_values():
    # id 1: x = 73856093 % 32 = 29 -> 1 + 29 % 30 = 30; y = 19349663 % 32 = 31 -> 1 + 1 = 2;
    # z = 83492791 % 32 = 23 -> 24
    assert center_from_id(1, (32, 32, 32)) == (30, 2, 24)
    assert center_from_id(0, (32, 32, 32)) == (1, 1, 1)


def test_vectorised_forms_match_scalar_formulas():
    tok = UniversalTokenizer(TokenizerConfig(label_band="seed"))
    data = bytes(range(0, 256, 7))
    ids = tok.hash_ids(data, 17)
    assert ids.tolist() == [hash_id(b, 17 + i) for i, b in enumerate(data)]
    assert tok.candidate_ids(40).tolist() == [hash_id(b, 40) for b in range(256)]
    om = tok.omegas(ids, torch.float64)
    assert om.tolist() == pytest.approx([omega_from_id(int(i)) for i in ids])
    centers = tok.centers(ids)
    assert [tuple(c) for c in centers.tolist()] == [center_from_id(int(i)) for i in ids]
    assert tok.omegas(tok.label_ids()).tolist() == pytest.approx(
        [omega_from_id(label_id(l)) for l in range(10)])


def test_label_band_is_separated_by_the_configured_gap():
    cfg = TokenizerConfig(label_gap=0.9)
    tok = UniversalTokenizer(cfg)
    labels = tok.omegas(tok.label_ids(), torch.float64)
    gaps = labels[1:] - labels[:-1]
    assert torch.allclose(gaps, torch.full_like(gaps, 0.9))
    all_bytes = tok.omegas(torch.arange(5, 5 + 4096), torch.float64)
    assert float(labels.min() - all_bytes.max()) >= 0.9 - 1e-9
    # The seed's mapping puts all ten labels within 0.009 of each other.
    seed = UniversalTokenizer(TokenizerConfig(label_band="seed"))
    seed_labels = seed.omegas(seed.label_ids(), torch.float64)
    assert float(seed_labels.max() - seed_labels.min()) < 0.01


@pytest.mark.parametrize("field,value", [("hash_vocab_size", 0), ("label_band", "x"),
                                         ("grid_size", (32, 32)), ("label_gap", -1.0),
                                         ("omega_range", 0)])
def test_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=field):
        TokenizerConfig(**{field: value})


def test_bad_bytes_and_labels_raise():
    tok = UniversalTokenizer()
    with pytest.raises(ValueError):
        tok.hash_ids([256], 0)
    with pytest.raises(ValueError):
        tok.label_ids([10])
