from __future__ import annotations

import pytest

from thermo_manifold.spectral import SpectralCarrierConfig


def test_defaults_are_the_seeds():
    c = SpectralCarrierConfig()
    assert (c.max_carriers, c.coupling_scale, c.carrier_reg) == (64, 0.25, 0.15)
    assert c.temperature == 0.01
    assert (c.conflict_threshold, c.crystallize_age, c.repulsion_scale) == (0.35, 120, 0.05)
    assert (c.gate_width_min, c.gate_width_max, c.anchor_slots) == (0.08, 1.25, 8)


@pytest.mark.parametrize("field, value", [
    ("max_carriers", 0), ("temperature", -1.0), ("ema_alpha", 1.5), ("coupling", "sparse"),
    ("gate_width_init", 2.0), ("recycle_ticks", 0), ("anchor_slots", 4), ("dt", 0.0),
    ("band_sigmas", 0.5), ("crystallize_age", 2.5),
])
def test_bad_values_name_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        SpectralCarrierConfig(**{field: value})


def test_dict_round_trip_and_replace():
    c = SpectralCarrierConfig(max_carriers=8, coupling="dense")
    assert SpectralCarrierConfig.from_dict(c.to_dict()) == c
    assert c.replace(temperature=0.0).temperature == 0.0
    with pytest.raises(ValueError, match="temperature"):
        c.replace(temperature=float("nan"))
    with pytest.raises(ValueError, match="unknown"):
        SpectralCarrierConfig.from_dict({"max_carrier": 3})


def test_from_toml(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[spectral]\nmax_carriers = 12\ncoupling = \"dense\"\n")
    c = SpectralCarrierConfig.from_toml(path)
    assert (c.max_carriers, c.coupling) == (12, "dense")
