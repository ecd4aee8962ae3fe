from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from thermo_manifold.reporting import image_is_blank
from thermo_manifold.sim import DashboardOptions
from thermo_manifold.sim.dashboard import (
    PANELS,
    Dashboard,
    DashboardFrame,
    carrier_positions,
    tuning_matrix,
)
from thermo_manifold.sim.recorder import GifRecorder, RecorderError, open_recorder


def panel_spread(path, dashboard: Dashboard) -> dict[str, float]:
    """Largest per-channel pixel standard deviation inside each panel of a saved PNG."""
    pixels = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)
    height, width = pixels.shape[:2]
    out = {}
    for name, (left, top, right, bottom) in dashboard.panel_boxes(width, height).items():
        crop = pixels[top:bottom, left:right].reshape(-1, 3)
        out[name] = float(crop.std(axis=0).max())
    return out


def synthetic_frame(rng: np.random.Generator, carriers: bool) -> DashboardFrame:
    n = 400
    heats = rng.uniform(0, 1, n) ** 4
    history = [{"step": s, "kinetic": 5 + np.sin(s / 5), "internal": 300 - s, "heat": 10 + s,
                "potential": -2.0, "total": 315 + np.sin(s / 5), "residual": 1e-7 * (1 + s)}
               for s in range(0, 60, 2)]
    frame = DashboardFrame(
        step=60, positions=rng.uniform(1, 15, (n, 3)), velocities=rng.normal(0, 0.1, (n, 3)),
        energies=rng.uniform(0.5, 1, n), heats=heats, masses=np.ones(n),
        excitations=rng.uniform(0, 2, n), phases=rng.uniform(0, 2 * np.pi, n),
        box=(16.0, 16.0, 16.0), specific_heat=10.0, history=history, injection_steps=[20, 40],
        ms_per_step=4.2, steps_per_second=238.0, info={"files": "2"},
        carriers_note="" if carriers else "off")
    if carriers:
        frame.carrier_frequencies = np.array([0.3, 0.9, 1.5, 1.9])
        frame.carrier_gate_widths = np.full(4, 0.2)
        frame.carrier_amplitudes = np.array([0.5, 1.2, 0.8, 0.1])
        frame.carrier_phases = np.array([0.0, 1.0, 2.0, 3.0])
        frame.carrier_states = np.array([0, 1, 2, 1])
    return frame


@pytest.mark.parametrize("carriers", [True, False])
def test_every_panel_of_a_saved_dashboard_shows_something(tmp_path, carriers):
    dashboard = Dashboard()
    dashboard.draw(synthetic_frame(np.random.default_rng(0), carriers))
    path = dashboard.save(tmp_path / "dashboard.png")
    assert not image_is_blank(path)
    spread = panel_spread(path, dashboard)
    assert set(spread) == set(PANELS)
    assert all(value > 10.0 for value in spread.values()), spread
    # The video frame is the same canvas at the video resolution, sized for encoders.
    frame = dashboard.rgb()
    assert frame.dtype == np.uint8 and frame.shape == (560, 1120, 3)
    assert not image_is_blank(path)


def test_carriers_sit_at_the_tuning_weighted_centroid():
    positions = np.array([[1.0, 1.0, 1.0], [3.0, 1.0, 1.0], [9.0, 9.0, 9.0]])
    excitations = np.array([0.5, 0.5, 1.9])
    tuning = tuning_matrix(np.array([0.5]), np.array([0.05]), excitations)
    assert tuning.shape == (1, 3)
    assert np.allclose(carrier_positions(tuning, positions, (10, 10, 10)), [[2.0, 1.0, 1.0]])
    # A carrier tuned to nothing sits at the box centre.
    nothing = tuning_matrix(np.array([5.0]), np.array([0.05]), excitations)
    assert np.allclose(carrier_positions(nothing, positions, (10, 10, 10)), [[5, 5, 5]])


def test_run_writes_dashboard_png_and_a_gif_with_one_frame_per_update(make_simulator,
                                                                       tmp_path):
    video = tmp_path / "run" / "dash.gif"
    sim = make_simulator(steps=20, dashboard=DashboardOptions(every=5, video=video, fps=5))
    summary = sim.run()
    png = tmp_path / "run" / "dashboard.png"
    assert summary["dashboard"] == str(png) and not image_is_blank(png)
    assert all(value > 10.0 for value in panel_spread(png, Dashboard()).values())
    with Image.open(video) as gif:
        assert gif.n_frames == 4  # steps 5, 10, 15, 20
    assert not any(p.name.startswith(".") for p in (tmp_path / "run").iterdir())


def test_gif_memory_stays_bounded_over_a_long_run(tmp_path):
    recorder = GifRecorder(tmp_path / "long.gif", fps=10, max_frames=8)
    rng = np.random.default_rng(1)
    for _ in range(40):
        recorder.add(rng.integers(0, 255, (32, 48, 3), dtype=np.uint8))
    assert recorder.frames_kept <= 8
    recorder.close()
    with Image.open(tmp_path / "long.gif") as gif:
        assert 4 <= gif.n_frames <= 8


def test_video_suffix_and_missing_mp4_support_are_clear_errors(tmp_path):
    with pytest.raises(RecorderError, match=".gif or .mp4"):
        open_recorder(tmp_path / "x.avi")
    try:
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        with pytest.raises(RecorderError, match="pip install imageio-ffmpeg"):
            open_recorder(tmp_path / "x.mp4")
    else:
        recorder = open_recorder(tmp_path / "x.mp4", fps=5)
        for value in (0, 128, 255):
            recorder.add(np.full((64, 96, 3), value, dtype=np.uint8))
        assert recorder.close().stat().st_size > 0
