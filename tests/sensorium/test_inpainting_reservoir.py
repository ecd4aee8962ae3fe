"""The reservoir readout of image_gen and audio_gen: every row in the table, no peeking at the
scored values, bad settings refused by name. Tiny reservoirs, so each test takes seconds."""

from __future__ import annotations

import numpy as np
import pytest

from thermo_manifold.sensorium.experiments import audio_gen, image_gen
from thermo_manifold.sensorium.harness import RunContext
from thermo_manifold.sensorium.report import Report
from thermo_manifold.sensorium.reservoir_rows import MANIFOLD, ROWS, RowsConfig

IMAGE_ROWS = RowsConfig(reservoir=image_gen.image_reservoir().replace(pool=4, carrier_bins=4))
AUDIO_ROWS = RowsConfig(reservoir=audio_gen.audio_reservoir(bands=4).replace(pool=8,
                                                                             carrier_bins=4))
SEED_ROW = "manifold, seed readout"


def table(module, cfg, tmp_path) -> list[dict]:
    name = module.__name__.rsplit(".", 1)[-1]
    report = Report(tmp_path / name, name)
    module.run(cfg, RunContext(), report)
    return report.metrics["tables"][name]["rows"]


def test_image_gen_table_holds_every_reservoir_row_the_seed_row_and_the_baselines(tmp_path):
    cfg = image_gen.Config(train_images=2, eval_images=1, max_images=12, train_masks=1,
                           physics_steps=1, datasets=("digits",), rows=IMAGE_ROWS)
    rows = table(image_gen, cfg, tmp_path)
    assert [r["method"] for r in rows] == [*ROWS, SEED_ROW, "zero fill", "mean fill",
                                           "neighbour interpolation"]
    assert all(np.isfinite(r["mse_masked"]) for r in rows)
    assert [r["test images"] for r in rows].count(3) == len(rows) - 1  # the seed row: 1


def test_audio_gen_table_holds_every_reservoir_row_the_seed_row_and_the_baselines(tmp_path):
    cfg = audio_gen.Config(length=200, segment=24, train_segments=3, test_segments=1,
                           rows=AUDIO_ROWS)
    rows = table(audio_gen, cfg, tmp_path)
    assert [r["method"] for r in rows] == [*ROWS, SEED_ROW, "mid-value fill",
                                           "linear interpolation"]
    assert {r["scored"] for r in rows} == {int(0.2 * 22)}
    assert all(np.isfinite(r["mse_masked"]) for r in rows)


def test_image_readout_never_sees_a_scored_pixel():
    """Changing the hidden pixels of the test images changes no prediction; changing one of
    their observed pixels does (so the check can fail)."""
    rng = np.random.default_rng(0)
    images = rng.uniform(0.0, 1.0, (12, 6, 6))
    hidden = image_gen.random_masks(12, 36, 7, rng)
    n_train = 9

    def predictions(data: np.ndarray) -> dict[str, np.ndarray]:
        _, fills = image_gen.reservoir_inpaint(data, hidden, n_train, IMAGE_ROWS, seed=0,
                                               steps=1)
        return {row: fill[hidden[n_train:]] for row, fill in fills.items()}

    before = predictions(images)
    assert set(before) == set(ROWS)
    changed = images.reshape(12, -1).copy()
    changed[n_train:][hidden[n_train:]] = rng.uniform(0.0, 1.0, int(hidden[n_train:].sum()))
    after = predictions(changed.reshape(images.shape))
    for row in ROWS:
        np.testing.assert_array_equal(before[row], after[row])
    seen = images.reshape(12, -1).copy()
    first = np.flatnonzero(~hidden[n_train])[0]
    seen[n_train, first] = 1.0 - seen[n_train, first]
    assert not np.array_equal(before[MANIFOLD], predictions(seen.reshape(images.shape))[MANIFOLD])


def test_audio_readout_never_sees_a_scored_sample():
    """Changing the hidden samples of the test segment changes no prediction, even where a
    hidden sample's neighbours are hidden too; changing an observed one next to a hidden one
    does."""
    rng = np.random.default_rng(1)
    waves = [rng.integers(0, 256, 16).astype(np.uint8) for _ in range(3)]
    hidden = audio_gen.inner_masks(3, 16, 0.2, rng)
    hidden[2] = False
    hidden[2][[3, 4, 5, 10]] = True  # a run: a hidden sample's neighbours are hidden too

    def predictions(data: list[np.ndarray]) -> dict[str, np.ndarray]:
        return audio_gen.reservoir_inpaint(data, hidden, 2, AUDIO_ROWS, seed=0)[1]

    before = predictions(waves)
    assert set(before) == set(ROWS)
    assert all(p.shape == (int(hidden[2].sum()),) for p in before.values())
    changed = [w.copy() for w in waves]
    changed[2][hidden[2]] = 255 - changed[2][hidden[2]]
    after = predictions(changed)
    for row in ROWS:
        np.testing.assert_array_equal(before[row], after[row])
    neighbour = np.flatnonzero(hidden[2])[0] - 1  # before the first hidden one: observed
    assert not hidden[2][neighbour]
    seen = [w.copy() for w in waves]
    seen[2][neighbour] = 255 - seen[2][neighbour]
    assert not np.array_equal(before[MANIFOLD], predictions(seen)[MANIFOLD])


@pytest.mark.parametrize("changes, field", [
    ({"mask_fraction": 0.0}, "mask_fraction"), ({"mask_fraction": 1.5}, "mask_fraction"),
    ({"test_fraction": 1.0}, "test_fraction"), ({"train_masks": 0}, "train_masks"),
    ({"physics_steps": -1}, "physics_steps"), ({"max_images": 2.5}, "max_images"),
    ({"datasets": ("digits", "faces")}, "datasets"), ({"datasets": ()}, "datasets"),
    ({"train_images": True}, "train_images"), ({"rows": "fast"}, "rows"),
    ({"patches_per_photo": 0}, "patches_per_photo")])
def test_image_gen_config_refuses_bad_values_by_name(changes, field):
    with pytest.raises(ValueError, match=field):
        image_gen.Config(**changes)


@pytest.mark.parametrize("changes, field", [
    ({"segment": 4}, "segment"), ({"segment": 5000}, "segment"),
    ({"mask_fraction": 0.001}, "mask_fraction"), ({"mask_fraction": -0.2}, "mask_fraction"),
    ({"train_segments": 0}, "train_segments"), ({"test_segments": "2"}, "test_segments"),
    ({"length": 1}, "length"), ({"engine": None}, "engine"),
    ({"rows": RowsConfig(reservoir=audio_gen.audio_reservoir(bands=1))}, "vocab")])
def test_audio_gen_config_refuses_bad_values_by_name(changes, field):
    with pytest.raises(ValueError, match=field):
        audio_gen.Config(**changes)


def test_quick_configs_are_valid_and_smaller():
    for module in (image_gen, audio_gen):
        assert module.Config.quick() != module.Config()
