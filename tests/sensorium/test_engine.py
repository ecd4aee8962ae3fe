from __future__ import annotations

import pytest
import torch

from thermo_manifold.sensorium.engine import (
    EngineConfig,
    SoftmaxCalibrator,
    TokenEngine,
    carrier_scores,
)
from thermo_manifold.sensorium.tokenizer import TokenizerConfig

TEXT = b"the cat sat on the mat. "


def small_engine(seed: int = 0, **kw) -> TokenEngine:
    cfg = EngineConfig(tokenizer=TokenizerConfig(grid_size=(16, 16, 16)), **kw)
    return TokenEngine(cfg, seed=seed)


def stream(engine: TokenEngine) -> list[torch.Tensor]:
    engine.observe(TEXT, 0, step_every=1)
    return [engine.byte_scores(len(TEXT)), engine.score_ids(engine.tokenizer.label_ids())]


def test_prediction_is_deterministic_for_a_seed():
    a, b = small_engine(3), small_engine(3)
    for x, y in zip(stream(a), stream(b)):
        assert torch.equal(x, y)
    assert a.predict_byte(len(TEXT))[0] == b.predict_byte(len(TEXT))[0]
    assert torch.equal(a.state.positions, b.state.positions)
    assert a.carriers.carriers.num_carriers > 0
    c = small_engine(4)
    stream(c)
    assert not torch.equal(a.state.positions, c.state.positions)


def test_injection_follows_the_seed_burst_and_budget_evicts_oldest():
    engine = small_engine(max_particles=40)
    engine.inject_ids([100])
    assert engine.num_particles == 8
    centre = engine.tokenizer.centers([100])[0].to(torch.float32)
    assert float((engine.state.positions.mean(0) - centre).abs().max()) < 1.0
    omega = float(engine.tokenizer.omegas([100])[0])
    assert float((engine.state.excitations - omega).abs().max()) < 0.06
    assert torch.equal(engine.state.masses, engine.state.energies)
    engine.inject_ids(list(range(200, 206)))  # 8 + 48 = 56 > 40
    assert engine.num_particles == 40
    assert engine.evicted == 16
    # The newest burst survives intact; the ledger counts the evicted energy as removed.
    # 16 internal energies of 1 plus their small kinetic energies (speed ~0.05).
    assert 16.0 < engine.physics.ledger.removed < 16.2
    assert engine.physics.ledger.residual < 1e-6


def test_label_scores_use_their_own_band_and_masks_match_full_scores():
    engine = small_engine()
    stream(engine)
    k = engine.carriers.carriers.num_carriers
    ids = engine.tokenizer.candidate_ids(5)
    full = engine.score_ids(ids)
    masked = engine.score_ids(ids, carrier_mask=torch.ones(k, dtype=torch.bool))
    assert torch.allclose(full, masked, rtol=1e-5, atol=1e-6)
    none = engine.score_ids(ids, carrier_mask=torch.zeros(k, dtype=torch.bool))
    assert float(none.abs().max()) == 0.0
    with pytest.raises(ValueError, match="carrier_mask"):
        engine.score_ids(ids, carrier_mask=torch.ones(k + 1, dtype=torch.bool))


def test_carrier_scores_formula():
    freq = torch.tensor([1.0, 2.0])
    width = torch.tensor([0.5, 0.25])
    amp = torch.tensor([2.0, 1.0])
    om = torch.tensor([1.0, 2.25])
    expected = torch.tensor([2.0 + torch.exp(torch.tensor(-16.0)),
                             2.0 * torch.exp(torch.tensor(-1.5625 / 0.25)) + torch.exp(
                                 torch.tensor(-1.0))])
    assert torch.allclose(carrier_scores(freq, width, amp, om), expected)


def test_scores_are_zero_before_any_tick():
    engine = small_engine()
    engine.inject_ids([7, 8])
    assert float(engine.byte_scores(3).abs().max()) == 0.0


def test_calibrator_fits_a_temperature_and_never_beats_uniform_on_noise():
    g = torch.Generator().manual_seed(0)
    targets = torch.randint(0, 256, (400,), generator=g)
    informative = torch.randn(400, 256, generator=g)
    informative[torch.arange(400), targets] += 3.0
    cal = SoftmaxCalibrator().fit(informative, targets)
    assert float(cal.bits(informative, targets).mean()) < 8.0
    noise = torch.randn(400, 256, generator=g)
    cal_noise = SoftmaxCalibrator().fit(noise, targets)
    assert float(cal_noise.bits(noise, targets).mean()) <= 8.0 + 1e-3
    flat = SoftmaxCalibrator().fit(torch.zeros(5, 256), targets[:5])
    assert float(flat.bits(torch.zeros(5, 256), targets[:5]).mean()) == pytest.approx(8.0)
    with pytest.raises(ValueError):
        SoftmaxCalibrator().fit(torch.zeros(3, 256), targets[:2])


@pytest.mark.parametrize("field,value", [("dt", 0.0), ("particles_per_token", 0),
                                         ("max_particles", 4), ("carrier_every", 0)])
def test_engine_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=field):
        EngineConfig(**{field: value})
