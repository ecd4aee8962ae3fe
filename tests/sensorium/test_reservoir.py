"""ManifoldReservoir: fixed-size, deterministic features whose families and placement do what
the docstring says."""

import math

import numpy as np
import pytest

from thermo_manifold.sensorium.reservoir import (
    ManifoldReservoir,
    ReservoirConfig,
    reservoir_physics,
)
from thermo_manifold.spectral import SpectralCarrierConfig

SMALL = reservoir_physics((8, 8, 8))
TOKENS = np.frombuffer(b"the cat sat on the mat", dtype=np.uint8)


def _config(**changes):
    base = ReservoirConfig(physics_config=SMALL, pool=2, carrier_bins=8, max_particles=64)
    return base.replace(**changes)


def test_same_seed_same_features_and_another_seed_differs():
    first = ManifoldReservoir(_config(), seed=3).transform(TOKENS)
    again = ManifoldReservoir(_config(), seed=3).transform(TOKENS)
    other = ManifoldReservoir(_config(), seed=4).transform(TOKENS)
    assert np.array_equal(first, again)
    assert not np.allclose(first, other)
    # transform resets: a second pass over the same stream repeats the first
    reservoir = ManifoldReservoir(_config(), seed=3)
    reservoir.transform(TOKENS[::-1])
    assert np.array_equal(reservoir.transform(TOKENS), first)


@pytest.mark.parametrize("budget", [8, 64])
def test_feature_count_is_fixed_by_the_config_not_the_particles(budget):
    config = _config(max_particles=budget)
    blocks = (8 // 2) ** 3
    assert config.n_features == 3 * blocks + 2 * 256 + 3 * 8
    reservoir = ManifoldReservoir(config)
    features = reservoir.transform(TOKENS)
    assert features.shape == (TOKENS.size, config.n_features)
    assert np.isfinite(features).all()
    assert reservoir.state.num_particles <= budget  # the budget holds


def test_each_family_switch_removes_exactly_its_block():
    full = ManifoldReservoir(_config(), seed=1).transform(TOKENS[:8])
    blocks = 3 * (8 // 2) ** 3
    slices = {"fields": slice(0, blocks), "excitations": slice(blocks, blocks + 512),
              "carriers": slice(blocks + 512, blocks + 512 + 24)}
    for family, part in slices.items():
        alone = ManifoldReservoir(
            _config(**{other: other == family for other in slices}), seed=1
        ).transform(TOKENS[:8])
        # reading does not feed back into the dynamics, so one family alone is that slice
        assert np.array_equal(alone, full[:, part]), family
        assert np.abs(alone).sum() > 0, family
    with pytest.raises(ValueError, match="every feature family is off"):
        _config(fields=False, excitations=False, carriers=False)


def test_frozen_physics_keeps_the_injected_energy_per_token():
    # No step runs, so nothing thermalises: the fresh-energy histogram counts the tokens.
    config = _config(physics=False, max_particles=1000, particles_per_token=3, token_energy=2.0)
    reservoir = ManifoldReservoir(config)
    last = reservoir.transform(TOKENS)[-1]
    blocks = 3 * (8 // 2) ** 3
    fresh, heat = last[blocks:blocks + 256], last[blocks + 256:blocks + 512]
    expected = np.bincount(TOKENS, minlength=256) * 3 * 2.0
    assert np.allclose(fresh, expected)
    assert np.all(heat == 0)
    driven = ManifoldReservoir(config.replace(physics=True)).transform(TOKENS)[-1]
    assert driven[blocks + 256:blocks + 512].sum() > 0  # with physics, E thermalises into Q
    assert not np.allclose(driven, last)


def test_fields_conserve_mass_and_a_cold_medium_has_no_temperature():
    # Frozen physics: nothing heats, so the temperature blocks are zero, and the pooled mass
    # (block averages) adds up to the injected mass.
    config = _config(physics=False, max_particles=1000, token_energy=2.0)
    last = ManifoldReservoir(config).transform(TOKENS)[-1]
    blocks = (8 // 2) ** 3
    mass, temperature = last[:blocks], last[blocks:2 * blocks]
    assert mass.sum() * 2**3 == pytest.approx(TOKENS.size * 4 * 2.0)
    assert np.all(temperature == 0)
    hot = ManifoldReservoir(config.replace(physics=True)).transform(TOKENS)[-1]
    assert hot[blocks:2 * blocks].max() > 0


def test_the_carriers_act_on_the_particles():
    # The carriers' tick moves the oscillators' phases; with frozen physics the first burst
    # keeps the phases it was injected with (same generator, same draws).
    driven, frozen = ManifoldReservoir(_config()), ManifoldReservoir(_config(physics=False))
    driven.transform(TOKENS[:3])
    frozen.transform(TOKENS[:3])
    assert not np.allclose(driven.state.phases[:4].numpy(), frozen.state.phases[:4].numpy())
    assert driven.physics.ledger.residual < 1e-2  # the carriers' energy is booked


def test_a_burst_starts_without_overlap():
    config = _config(particles_per_token=6, injection_spread=0.0, physics=False)
    reservoir = ManifoldReservoir(config)
    reservoir.step(5)
    gaps = np.linalg.norm(reservoir.state.positions[:, None] - reservoir.state.positions[None],
                          axis=-1)[np.triu_indices(6, 1)]
    assert gaps.min() >= 2 * config.physics_config.particle_radius


def test_token_frequencies_are_resolvable_by_the_narrowest_carrier():
    config = ReservoirConfig()
    omegas = config.frequencies().numpy()
    assert np.allclose(np.diff(omegas), config.frequency_spacing)
    assert config.frequency_spacing >= 2 * SpectralCarrierConfig().gate_width_min


def test_fixed_placement_is_identity_and_the_trail_moves_by_its_step():
    fixed = ManifoldReservoir(_config(placement="fixed"))
    assert np.array_equal(fixed.landing_place(7, 0).numpy(), fixed.landing_place(7, 500).numpy())
    assert not np.allclose(fixed.landing_place(7, 0).numpy(), fixed.landing_place(8, 0).numpy())
    trail = ManifoldReservoir(ReservoirConfig(trail_step=0.5))
    steps = np.array([np.linalg.norm((trail.landing_place(7, i + 1)
                                      - trail.landing_place(7, i)).numpy())
                      for i in range(200)])
    assert steps.mean() == pytest.approx(0.5, rel=0.1)  # trail_step cells per token on average
    box = np.array(ReservoirConfig().physics_config.domain_size)
    places = np.stack([trail.landing_place(b, i).numpy() for i in range(300) for b in (0, 255)])
    assert (places >= 0).all() and (places <= box).all()
    # the same token lands identity_radius from the trail point, in its own direction
    gap = np.linalg.norm((trail.landing_place(0, 10) - trail.landing_place(255, 10)).numpy())
    assert 0 < gap <= 2 * ReservoirConfig().identity_radius + 1e-9


def test_a_closed_trail_returns_after_its_period_and_not_before():
    closed = ManifoldReservoir(ReservoirConfig(trail_period=12))
    start = closed.landing_place(5, 3).numpy()
    np.testing.assert_allclose(closed.landing_place(5, 3 + 12).numpy(), start, atol=1e-9)
    np.testing.assert_allclose(closed.landing_place(5, 3 + 36).numpy(), start, atol=1e-9)
    gaps = [np.linalg.norm(closed.landing_place(5, 3 + k).numpy() - start) for k in range(1, 12)]
    assert min(gaps) > 0.5  # the lap visits 12 distinct places
    box = np.array(ReservoirConfig().physics_config.domain_size)
    places = np.stack([closed.landing_place(0, i).numpy() for i in range(12)])
    assert (places >= 0).all() and (places <= box).all()
    opened = ManifoldReservoir(ReservoirConfig())
    assert np.linalg.norm((opened.landing_place(5, 15) - opened.landing_place(5, 3)).numpy()) > 0.5


def test_bad_input_is_refused_with_the_field_named():
    reservoir = ManifoldReservoir(_config())
    for token in (-1, 256, 3.0, True, "a"):
        with pytest.raises(ValueError, match="token"):
            reservoir.step(token)
    assert reservoir.tokens_seen == 0 and reservoir.state.num_particles == 0
    with pytest.raises(ValueError, match="tokens must be a non-empty"):
        reservoir.transform([])
    for field, value, message in (("vocab", 1, "vocab"), ("placement", "spiral", "placement"),
                                  ("pool", 3, "pool"), ("max_particles", 2, "max_particles"),
                                  ("frequency_spacing", 0.0, "frequency_spacing"),
                                  ("physics", 1, "physics"),
                                  ("trail_period", -1, "trail_period"),
                                  ("trail_period", 2.5, "trail_period")):
        with pytest.raises(ValueError, match=message):
            _config(**{field: value})
    assert math.isfinite(ReservoirConfig().n_features)


def _taps_config(**changes):
    base = ReservoirConfig(vocab=4, taps=3, identity_radius=0.25, trail_step=1.0,
                           carrier_bins=4, max_particles=256)
    return base.replace(**changes)


def test_taps_read_the_recent_tokens_in_the_frame_of_the_injection_point():
    # Frozen physics: tap j holds exactly the particles of the token injected j steps ago.
    config = _taps_config(physics=False, particles_per_token=3, token_energy=2.0)
    reservoir = ManifoldReservoir(config)
    last = reservoir.transform([2, 0, 3])[-1]
    taps = last[-2 * 3 * 4:]
    fresh, heat = taps[:12].reshape(3, 4), taps[12:].reshape(3, 4)
    expected = np.zeros((3, 4))
    expected[0, 3] = expected[1, 0] = expected[2, 2] = 3 * 2.0
    assert np.array_equal(fresh, expected)
    assert np.all(heat == 0)
    with pytest.raises(ValueError, match="taps need placement='trail'"):
        _taps_config(placement="fixed")


def test_the_reservoir_remembers_past_tokens_where_no_memory_cannot():
    # Jaeger's memory capacity: recall the token k steps back with a linear readout.
    from thermo_manifold.sensorium.memory_features import NoMemory, memory_capacity

    # Four taps (delays 0-3) and the excitation histograms only: 40 features, 266 training rows.
    kwargs = dict(delays=(1, 2, 3), n_steps=400, washout=20, vocab=4)
    config = _taps_config(taps=4, fields=False, carriers=False)
    manifold = memory_capacity(ManifoldReservoir(config), **kwargs)
    floor = memory_capacity(NoMemory(vocab=4), **kwargs)
    for k in (1, 2, 3):
        assert manifold.score(k) > 0.25 + 0.4, (k, manifold.scores)
        assert manifold.score(k) > floor.score(k) + 0.3, (k, floor.scores)
