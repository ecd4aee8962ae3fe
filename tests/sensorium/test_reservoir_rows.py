"""The reservoir rows: ablation columns, online ranks, softmax rows and image features."""

from __future__ import annotations

import numpy as np
import pytest

from thermo_manifold.sensorium import reservoir_rows as rr
from thermo_manifold.sensorium.memory_features import EchoStateNetwork
from thermo_manifold.sensorium.reservoir import ManifoldReservoir, ReservoirConfig

SMALL = ReservoirConfig(vocab=4, taps=2, trail_step=1.0, identity_radius=0.25,
                        max_particles=64, pool=8, carrier_bins=4)


def test_the_column_subset_rows_are_what_switching_the_families_off_reads():
    """Independent oracle: a reservoir with a family switched off runs the same physics (the
    families are read, not fed back), so its features are the subset row's columns."""
    tokens = np.array([0, 1, 2, 3, 1, 0, 2, 2])
    sets = rr.stream_features(tokens, rr.RowsConfig(reservoir=SMALL), seed=3)
    full = sets.features[rr.MANIFOLD]
    off = {"reservoir, no carriers": SMALL.replace(carriers=False),
           "reservoir, fields only": SMALL.replace(excitations=False, carriers=False, taps=0)}
    for row, config in off.items():
        alone = ManifoldReservoir(config, seed=3).transform(tokens)
        np.testing.assert_array_equal(sets.features[row], alone)
    only = sets.features["reservoir, carriers only"]
    assert only.shape[1] == 3 * SMALL.carrier_bins
    assert full.shape[1] == sum(s.stop - s.start for s in SMALL.feature_slices().values())
    assert not np.array_equal(sets.features[rr.FROZEN], full)  # the physics moved something


def test_feature_slices_follow_the_switched_on_families():
    slices = SMALL.replace(excitations=False).feature_slices()
    assert list(slices) == ["fields", "carriers", "taps"]
    assert slices["fields"] == slice(0, 24)  # 2^3 blocks of 8^3 nodes, three fields
    assert slices["taps"].stop == SMALL.replace(excitations=False).n_features


def test_online_ranks_need_memory_where_the_next_token_depends_on_two_back():
    """Stream 0 1 0 2 0 1 0 2 ...: after 0 comes 1 or 2, decided by the token two back. No
    memory cannot do better than rank 2 half the time after a 0; a decaying bag can."""
    tokens = np.array([0, 1, 0, 2] * 60)
    config = rr.RowsConfig(reservoir=SMALL, rows=(rr.BAG, rr.NO_MEMORY), forgetting=1.0)
    sets = rr.stream_features(tokens[:-1], config, seed=0)
    ranks = rr.online_ranks(sets, tokens[1:], 4, config)
    assert ranks[rr.NO_MEMORY][0] == 4  # before any update every class ties: ranked last
    late = slice(120, None)
    after_zero = tokens[:-1][late] == 0
    assert np.all(ranks[rr.BAG][late] == 1)
    assert np.mean(ranks[rr.NO_MEMORY][late][after_zero] == 1) < 0.75
    assert np.all(ranks[rr.NO_MEMORY][late][~after_zero] == 1)  # 1 and 2 are always followed by 0


def test_fit_classifiers_chooses_the_bag_decay_on_the_training_tail():
    """Label = the previous token: the decay-0 bag is the current token alone and cannot know
    it; decay 0.5 can (its features minus the current input are 0.25 e_{t-1} + ...)."""
    generator = np.random.default_rng(0)
    tokens = generator.integers(0, 4, 600)
    labels = np.concatenate([[0], tokens[:-1]])
    config = rr.RowsConfig(reservoir=SMALL, rows=(rr.BAG, rr.NO_MEMORY), bag_decays=(0.0, 0.5))
    sets = rr.stream_features(tokens, config, seed=0)
    train, test = np.arange(1, 450), np.arange(450, 600)
    rows, predictions = rr.fit_classifiers(sets, labels, train, test, config, n_classes=4)
    bag, none = rows
    assert bag["decay"] == 0.5 and bag["accuracy"] == 1.0
    assert none["accuracy"] < 0.4  # chance is 0.25
    np.testing.assert_array_equal(predictions[rr.BAG], labels[test])


def test_image_features_read_each_image_and_its_pixels():
    generator = np.random.default_rng(1)
    images = generator.random((3, 4, 4)) * (generator.random((3, 4, 4)) > 0.4)
    config = rr.RowsConfig(reservoir=SMALL.replace(taps=0, placement="fixed", max_particles=16))
    sets = rr.image_features(images, config, seed=0, steps=2)
    np.testing.assert_array_equal(sets.inputs, images.reshape(3, -1))
    esn = EchoStateNetwork(config.reservoir.n_features, input_dim=1, lr=0.5, sr=0.9, seed=0)
    np.testing.assert_allclose(sets.features[rr.ESN][1],
                               esn.transform(images[1].reshape(-1, 1))[-1])
    # The decaying bag of the raster's intensity bands, by hand for decay 0.5.
    bands = np.round(images[2].reshape(-1) * 3).astype(int)
    h = np.zeros(4)
    for b in bands:
        h = 0.5 * h
        h[b] += 0.5
    np.testing.assert_allclose(sets.bag[0.5][2], h)


def test_a_frozen_image_keeps_its_pixels_as_mass_and_grey_levels():
    """Oracle from the picture alone: with no physics step the fields hold the total intensity
    as mass and the fresh-energy histogram sums the intensities of each grey band."""
    image = np.array([[0.0, 0.2, 1.0], [0.6, 0.0, 0.4]])
    config = SMALL.replace(taps=0, placement="fixed", max_particles=8, physics=False)
    reservoir = ManifoldReservoir(config, seed=0)
    features = reservoir.image(image, steps=5)
    assert reservoir.state.num_particles == 4  # dark pixels add nothing
    slices = config.feature_slices()
    mass = features[slices["fields"]][:8]  # the 2^3 blocks' mean mass per node
    assert mass.sum() * 8**3 == pytest.approx(image.sum())
    fresh = features[slices["excitations"]][:4]
    expected = np.zeros(4)
    for v in image[image > 0]:
        expected[int(np.round(v * 3))] += v
    np.testing.assert_allclose(fresh, expected, rtol=1e-6)


def test_a_driven_image_changes_with_the_physics():
    image = np.full((4, 4), 0.8)
    config = SMALL.replace(taps=0, placement="fixed", max_particles=16)
    moved = ManifoldReservoir(config, seed=0).image(image, steps=4)
    still = ManifoldReservoir(config, seed=0).image(image, steps=0)
    assert not np.allclose(moved, still)


def test_fit_regressors_recovers_a_linear_map_of_the_value_and_the_previous_token():
    """Target = 3 * value_t - 2 * [token_{t-1} == 1]. With frozen physics and three taps, tap 1
    holds exactly the previous token's particles (the last tap also collects older ones, see
    test_reservoir), so that row's ridge readout is exact;
    no memory sees the value and cannot know the previous token; the bag's decay is chosen by
    squared error on the training tail (0.5 remembers, 0.0 does not). One particle per token
    (none lies nearer the neighbouring tap than its own) and a budget of six, so the trail never
    passes near a particle still in the box."""
    generator = np.random.default_rng(1)
    tokens = generator.integers(0, 4, 300)
    values = generator.uniform(-1.0, 1.0, 300)
    previous_is_one = np.concatenate([[0.0], (tokens[:-1] == 1).astype(float)])
    targets = 3.0 * values - 2.0 * previous_is_one
    config = rr.RowsConfig(reservoir=SMALL.replace(particles_per_token=1, taps=3, max_particles=6),
                           rows=(rr.FROZEN, rr.BAG, rr.NO_MEMORY),
                           bag_decays=(0.0, 0.5), ridge_alphas=(1e-8, 10.0))
    sets = rr.stream_features(tokens, config, seed=0, values=values)
    assert sets.inputs.shape == (300, 5) and np.array_equal(sets.inputs[:, 0], values)
    train, test = np.arange(1, 240), np.arange(240, 300)
    rows, predictions = rr.fit_regressors(sets, targets, train, test, config)
    frozen, bag, none = rows
    assert frozen["alpha"] == 1e-8
    np.testing.assert_allclose(predictions[rr.FROZEN], targets[test], atol=1e-3)
    mse = {row: np.mean((predictions[row] - targets[test]) ** 2) for row in predictions}
    assert bag["decay"] == 0.5 and mse[rr.BAG] < 0.7 * mse[rr.NO_MEMORY]
    # no memory explains the value term and misses the previous token (variance 4 * 3/16)
    assert mse[rr.NO_MEMORY] > 0.3
    assert np.corrcoef(predictions[rr.NO_MEMORY], values[test])[0, 1] > 0.95


def test_bad_values_are_refused_with_the_field_named():
    for values in (np.zeros(3), np.array([0.0, np.nan])):
        with pytest.raises(ValueError, match="values"):
            rr.stream_features([0, 1], rr.RowsConfig(reservoir=SMALL), seed=0, values=values)


@pytest.mark.parametrize("image, steps, message", [
    (np.zeros(4), 1, "2-D"), (np.full((2, 2), 1.5), 1, r"\[0, 1\]"),
    (np.full((2, 2), np.nan), 1, r"\[0, 1\]"), (np.zeros((2, 2)), -1, "steps"),
    (np.zeros((9, 9)), 1, "max_particles")])
def test_bad_images_are_refused_with_the_field_named(image, steps, message):
    with pytest.raises(ValueError, match=message):
        ManifoldReservoir(SMALL, seed=0).image(image, steps)


@pytest.mark.parametrize("changes, message", [
    ({"rows": ("nope",)}, "rows"), ({"rows": ()}, "rows"), ({"bag_decays": (1.0,)}, "bag_decays"),
    ({"esn_leak": 0.0}, "esn_leak"), ({"forgetting": 1.5}, "forgetting"),
    ({"softmax_max_iter": 0}, "softmax_max_iter"), ({"reservoir": None}, "reservoir"),
    ({"ridge_alphas": ()}, "ridge_alphas"), ({"ridge_alphas": (1.0, 0.0)}, "ridge_alphas"),
    ({"choose_bag_decay": 1}, "choose_bag_decay")])
def test_bad_rows_configs_name_the_field(changes, message):
    with pytest.raises(ValueError, match=message):
        rr.RowsConfig(**changes)


@pytest.mark.parametrize("tokens", [[], [0, 4], [0.5, 1.0], [[0, 1]]])
def test_bad_streams_are_refused_before_any_reservoir_runs(tokens):
    with pytest.raises(ValueError, match="tokens"):
        rr.stream_features(tokens, rr.RowsConfig(reservoir=SMALL), seed=0)


def test_a_subset_row_without_its_families_is_a_clear_error():
    config = rr.RowsConfig(reservoir=SMALL.replace(carriers=False))
    with pytest.raises(ValueError, match="carriers only"):
        rr.stream_features([0, 1], config, seed=0)


def test_without_choosing_a_decay_the_bag_keeps_every_decay():
    generator = np.random.default_rng(2)
    tokens = generator.integers(0, 4, 120)
    targets = generator.uniform(size=120)
    train, test = np.arange(0, 100), np.arange(100, 120)
    for choose, features, has_decay in ((True, 4 + 4, True), (False, 3 * 4 + 4, False)):
        config = rr.RowsConfig(reservoir=SMALL, rows=(rr.BAG,), bag_decays=(0.2, 0.5, 0.9),
                               choose_bag_decay=choose)
        sets = rr.stream_features(tokens, config, seed=0)
        (row,), _ = rr.fit_regressors(sets, targets, train, test, config)
        assert row["features"] == features and ("decay" in row) == has_decay
