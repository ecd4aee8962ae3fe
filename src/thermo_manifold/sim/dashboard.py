"""The simulator dashboard: four matplotlib panels drawn directly on an Agg canvas.

The seed drew inside a `FuncAnimation` callback, which never runs under a headless backend, so
its saved PNGs were blank. Here `Dashboard.draw(frame)` redraws every panel synchronously on a
`FigureCanvasAgg` (no pyplot, no window, no global state), then `save` writes a PNG and `rgb`
returns the pixels for the video recorder.

Panels
- 3-D particles: every particle (up to `max_drawn`, an even subsample beyond), hot particles
  (temperature Q / (m c_v) above 15 % of the hottest, the seed's threshold) ringed by halos,
  velocity strokes for ~30 particles, carriers as squares at the tuning-weighted centroid of
  their oscillators (carriers live in frequency space, not in the box), dashed links from the
  strongest carriers to their best-tuned oscillators. Carrier colour is its state.
- Energy: kinetic, internal E, heat Q, gravitational and contact potential, the ledger's total
  and what it should be (initial + flows in - flows out) over the run, injections as dotted
  lines, and the ledger's closure residual on a log axis.
- Text: step, particles, carriers, ms/step, steps/s, files, evictions, residual.
- Wave space: the three strongest carriers, each with the waves of its coupled oscillators
  T_ik A_i cos(w_i t + theta_i), their tuning-weighted sum (bold) and the carrier's own wave
  (dashed); without carriers, the oscillator frequency spectrum.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

# Figure of 14 x 7 inches: at the video dpi of 80 that is 1120 x 560 pixels, both multiples of
# 16 as video encoders like.
FIGSIZE = (14.0, 7.0)
VIDEO_DPI = 80
PNG_DPI = 100
PANELS = {  # [left, bottom, width, height] in figure fractions
    "particles": (0.01, 0.03, 0.47, 0.92),
    "energy": (0.54, 0.57, 0.26, 0.36),
    "text": (0.85, 0.57, 0.14, 0.36),
    "waves": (0.54, 0.07, 0.45, 0.41),
}
STATE_COLOURS = ("#5b8db8", "#2e9e5b", "#8e44ad")  # volatile, stable, crystallized
STATE_NAMES = ("volatile", "stable", "crystallized")
WAVE_COLOURS = ("#27ae60", "#2980b9", "#c0392b")
HOT_FRACTION = 0.15
LINK_TUNING = 0.3


@dataclass
class DashboardFrame:
    """What one dashboard update shows (NumPy arrays, already on the host)."""

    step: int
    positions: np.ndarray  # (N, 3)
    velocities: np.ndarray  # (N, 3)
    energies: np.ndarray  # (N,)
    heats: np.ndarray  # (N,)
    masses: np.ndarray  # (N,)
    excitations: np.ndarray  # (N,)
    phases: np.ndarray  # (N,)
    box: tuple[float, float, float]
    specific_heat: float
    history: list[dict[str, float]] = field(default_factory=list)  # energy panel rows
    injection_steps: list[int] = field(default_factory=list)
    carrier_frequencies: np.ndarray | None = None  # (K,)
    carrier_gate_widths: np.ndarray | None = None
    carrier_amplitudes: np.ndarray | None = None
    carrier_phases: np.ndarray | None = None
    carrier_states: np.ndarray | None = None  # CarrierPhase codes
    carriers_note: str = ""  # shown when there are no carriers ("off", "unavailable", ...)
    ms_per_step: float = 0.0
    steps_per_second: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)  # extra text-box lines

    @property
    def num_carriers(self) -> int:
        return 0 if self.carrier_frequencies is None else int(len(self.carrier_frequencies))


def tuning_matrix(carrier_frequencies: np.ndarray, gate_widths: np.ndarray,
                  oscillator_frequencies: np.ndarray) -> np.ndarray:
    """T_ik = exp(-(w_i - w_k)^2 / sigma_k^2), shape (K, N)."""
    difference = carrier_frequencies[:, None] - oscillator_frequencies[None, :]
    sigma2 = np.maximum(gate_widths[:, None] ** 2, 1e-8)
    return np.exp(-(difference**2) / sigma2)


def carrier_positions(tuning: np.ndarray, positions: np.ndarray,
                      box: tuple[float, float, float]) -> np.ndarray:
    """Each carrier at the tuning-weighted centroid of the oscillators (K, 3).

    A carrier that couples to nothing sits at the box centre; one that couples strongly to a
    single oscillator is nudged half a unit aside so it does not hide that particle.
    """
    k = tuning.shape[0]
    if k == 0:
        return np.empty((0, 3))
    if len(positions) == 0:
        return np.tile(np.asarray(box) / 2.0, (k, 1))
    weight = tuning.sum(axis=1, keepdims=True)
    centroid = np.where(weight > 1e-12, tuning @ positions / np.maximum(weight, 1e-12),
                        np.asarray(box) / 2.0)
    single = (tuning > 0.1).sum(axis=1) == 1
    if single.any():
        index = np.arange(k)
        nudge = np.stack([np.sin(index), np.sin(1.7 * index), np.sin(2.3 * index)], axis=1)
        centroid[single] += 0.5 * nudge[single]
    return centroid


class Dashboard:
    """Redraws the four panels on demand; `save` and `rgb` read the canvas."""

    def __init__(self, max_drawn: int = 5000, strokes: int = 30, links_per_carrier: int = 5,
                 linked_carriers: int = 20):
        self.figure = Figure(figsize=FIGSIZE, dpi=VIDEO_DPI)
        self.canvas = FigureCanvasAgg(self.figure)
        self.axes = {
            "particles": self.figure.add_axes(PANELS["particles"], projection="3d"),
            "energy": self.figure.add_axes(PANELS["energy"]),
            "text": self.figure.add_axes(PANELS["text"]),
            "waves": self.figure.add_axes(PANELS["waves"]),
        }
        self._residual_axis = self.axes["energy"].twinx()
        self.max_drawn = max_drawn
        self.strokes = strokes
        self.links_per_carrier = links_per_carrier
        self.linked_carriers = linked_carriers
        self.frames_drawn = 0
        self._canvas_at_video_dpi = False

    # ------------------------------------------------------------------ public
    def draw(self, frame: DashboardFrame) -> None:
        tuning = None
        if frame.num_carriers:
            tuning = tuning_matrix(frame.carrier_frequencies, frame.carrier_gate_widths,
                                   frame.excitations)
        self._draw_particles(frame, tuning)
        self._draw_energy(frame)
        self._draw_text(frame)
        self._draw_waves(frame, tuning)
        self.canvas.draw()
        self._canvas_at_video_dpi = True
        self.frames_drawn += 1

    def rgb(self) -> np.ndarray:
        """The last drawn frame as an (H, W, 3) uint8 array at the video dpi (a copy)."""
        if not self._canvas_at_video_dpi:  # `save` rendered the canvas at the PNG dpi
            self.canvas.draw()
            self._canvas_at_video_dpi = True
        return np.asarray(self.canvas.buffer_rgba())[..., :3].copy()

    def save(self, path: str | Path, dpi: int | None = None) -> Path:
        """Write a PNG of the last drawn frame (temporary name, then rename).

        Without `dpi` the canvas already rendered at the video dpi is written as it is (cheap:
        used for the periodic updates); with a `dpi` the figure is rendered again at it.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.stem}.partial.png")
        if dpi is None or dpi == VIDEO_DPI:
            from PIL import Image

            Image.fromarray(self.rgb()).save(temporary, format="PNG")
        else:
            self.figure.savefig(temporary, dpi=dpi, format="png")
            self._canvas_at_video_dpi = False
        os.replace(temporary, path)
        return path

    def panel_boxes(self, width: int, height: int) -> dict[str, tuple[int, int, int, int]]:
        """Pixel boxes (left, top, right, bottom) of each panel in an image of this size."""
        boxes = {}
        for name, (left, bottom, w, h) in PANELS.items():
            boxes[name] = (int(left * width), int((1 - bottom - h) * height),
                           int((left + w) * width), int((1 - bottom) * height))
        return boxes

    def close(self) -> None:
        self.figure.clear()

    # ------------------------------------------------------------------ panels
    def _subsample(self, n: int) -> np.ndarray:
        if n <= self.max_drawn:
            return np.arange(n)
        return np.linspace(0, n - 1, self.max_drawn).astype(np.int64)

    def _draw_particles(self, frame: DashboardFrame, tuning: np.ndarray | None) -> None:
        from mpl_toolkits.mplot3d.art3d import Line3DCollection

        ax = self.axes["particles"]
        ax.clear()
        gx, gy, gz = frame.box
        ax.set_xlim(0, gx)
        ax.set_ylim(0, gy)
        ax.set_zlim(0, gz)
        ax.set_xlabel("x", fontsize=8)
        ax.set_ylabel("y", fontsize=8)
        ax.set_zlabel("z", fontsize=8)
        ax.tick_params(labelsize=6)
        for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
            axis.pane.set_facecolor("#f2f2f2")
        n = len(frame.positions)
        shown = self._subsample(n)
        pos = frame.positions[shown]
        if n:
            temperature = frame.heats / np.maximum(frame.masses * frame.specific_heat, 1e-12)
            ax.scatter(pos[:, 0], pos[:, 1], pos[:, 2], s=5, c="#7f7f7f", alpha=0.55,
                       edgecolors="k", linewidths=0.2, depthshade=False)
            hot_level = temperature[shown] / max(float(temperature.max()), 1e-12)
            hot = hot_level > HOT_FRACTION
            if hot.any():
                level = hot_level[hot]
                colours = np.stack([np.ones_like(level), 1.0 - 0.8 * level,
                                    np.zeros_like(level), 0.35 + 0.5 * level], axis=1)
                ax.scatter(pos[hot, 0], pos[hot, 1], pos[hot, 2], s=18 + 50 * level,
                           facecolors="none", edgecolors=colours, linewidths=1.2,
                           depthshade=False)
            self._draw_strokes(ax, frame, Line3DCollection)
        num_carriers = frame.num_carriers
        if num_carriers and tuning is not None:
            centres = carrier_positions(tuning, frame.positions, frame.box)
            self._draw_links(ax, frame, tuning, centres, Line3DCollection)
            states = (frame.carrier_states if frame.carrier_states is not None
                      else np.zeros(num_carriers, dtype=np.int64))
            amplitude = np.abs(frame.carrier_amplitudes)
            size = 25 + 90 * amplitude / max(float(amplitude.max()), 1e-12)
            for code, (colour, name) in enumerate(zip(STATE_COLOURS, STATE_NAMES)):
                mask = states == code
                if mask.any():
                    ax.scatter(centres[mask, 0], centres[mask, 1], centres[mask, 2], s=size[mask],
                               marker="s", c=colour, edgecolors="k", linewidths=0.5,
                               depthshade=False, label=f"{name} carriers ({int(mask.sum())})")
            ax.legend(loc="upper left", fontsize=7, framealpha=0.7)
        ax.set_title(f"step {frame.step:,} | {n:,} particles | {num_carriers} carriers",
                     fontsize=10)

    def _draw_strokes(self, ax, frame: DashboardFrame, collection) -> None:
        speed = np.linalg.norm(frame.velocities, axis=1)
        fastest = float(speed.max()) if len(speed) else 0.0
        if fastest <= 1e-6:
            return
        pick = np.linspace(0, len(speed) - 1, min(self.strokes, len(speed))).astype(np.int64)
        pick = pick[speed[pick] > 1e-6]
        if not len(pick):
            return
        # The fastest particle's stroke is 8 % of the box; the others scale with speed.
        scale = 0.08 * min(frame.box) / fastest
        start = frame.positions[pick]
        end = start + frame.velocities[pick] * scale
        level = speed[pick] / fastest
        colours = np.stack([level, 0.2 * np.ones_like(level), 1.0 - level,
                            0.8 * np.ones_like(level)], axis=1)
        ax.add_collection3d(collection(np.stack([start, end], axis=1), colors=colours,
                                       linewidths=1.0))

    def _draw_links(self, ax, frame: DashboardFrame, tuning: np.ndarray, centres: np.ndarray,
                    collection) -> None:
        amplitude = np.abs(frame.carrier_amplitudes)
        strength = amplitude / max(float(amplitude.max()), 1e-12)
        segments, widths, alphas = [], [], []
        for k in np.argsort(-amplitude)[: self.linked_carriers]:
            row = tuning[k]
            coupled = np.nonzero(row > LINK_TUNING)[0]
            if not len(coupled):
                continue
            best = coupled[np.argsort(-row[coupled])[: self.links_per_carrier]]
            for i in best:
                segments.append([frame.positions[i], centres[k]])
                widths.append(0.3 + 1.5 * row[i] * strength[k])
                alphas.append(0.2 + 0.5 * row[i])
        if segments:
            colours = np.zeros((len(segments), 4))
            colours[:, 3] = alphas
            ax.add_collection3d(collection(np.asarray(segments), colors=colours,
                                           linewidths=widths, linestyles="--"))

    def _draw_energy(self, frame: DashboardFrame) -> None:
        ax, twin = self.axes["energy"], self._residual_axis
        ax.clear()
        twin.clear()
        rows = frame.history
        if rows:
            steps = np.array([row["step"] for row in rows])
            for key, label, colour, style in (
                    ("kinetic", "kinetic", "#e67e22", "-"), ("internal", "E (internal)",
                                                             "#2980b9", "-"),
                    ("heat", "Q (heat)", "#c0392b", "-"), ("potential", "U gravity",
                                                           "#7f8c8d", "-"),
                    ("contact_potential", "U contact", "#27ae60", "-"),
                    ("total", "total", "#8e44ad", "--"),
                    ("expected", "initial + flows in - out", "#e84393", "-.")):
                if key not in rows[-1]:  # histories written before these were recorded
                    continue
                ax.plot(steps, [row[key] for row in rows], style, color=colour, lw=1.4,
                        label=label, marker="." if len(rows) < 3 else None)
            # Heat can outgrow the other terms by orders of magnitude, and the potential is
            # negative: a symmetric log axis keeps every curve readable.
            ax.set_yscale("symlog", linthresh=1.0)
            residual = np.maximum([row["residual"] for row in rows], 1e-16)
            twin.semilogy(steps, residual, ":", color="k", lw=1.2, label="ledger residual")
            twin.set_ylim(min(1e-12, float(residual.min()) / 2),
                          max(1e-2, float(residual.max()) * 2))
            for step in frame.injection_steps:
                if steps[0] <= step <= steps[-1]:
                    ax.axvline(step, color="#16a085", lw=0.8, ls=":", alpha=0.7)
            lines = ax.get_legend_handles_labels()
            twin_lines = twin.get_legend_handles_labels()
            ax.legend(lines[0] + twin_lines[0], lines[1] + twin_lines[1], fontsize=6,
                      loc="center right", ncol=2, framealpha=0.7)
        # clear() forgets twinx's right-hand placement; put the residual axis back there.
        twin.yaxis.tick_right()
        twin.yaxis.set_label_position("right")
        ax.set_title("energy (dotted green: injections)", fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.set_ylabel("energy (symlog)", fontsize=8)
        twin.set_ylabel("ledger residual", fontsize=8)
        ax.tick_params(labelsize=7)
        twin.tick_params(labelsize=7)
        ax.grid(alpha=0.3)

    def _draw_text(self, frame: DashboardFrame) -> None:
        ax = self.axes["text"]
        ax.clear()
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_facecolor("#fbfbf4")
        carriers = f"{frame.num_carriers}"
        if frame.num_carriers and frame.carrier_states is not None:
            carriers += f" ({int((frame.carrier_states == 2).sum())} cryst.)"
        elif not frame.num_carriers and frame.carriers_note:
            carriers += f" ({frame.carriers_note})"
        lines = [
            f"step       {frame.step:,}",
            f"particles  {len(frame.positions):,}",
            f"carriers   {carriers}",
            "",
            f"ms/step    {frame.ms_per_step:.2f}",
            f"steps/s    {frame.steps_per_second:.1f}",
            "",
        ] + [f"{key:<10} {value}" for key, value in frame.info.items()]
        ax.text(0.05, 0.95, "\n".join(lines), transform=ax.transAxes, va="top",
                family="monospace", fontsize=8)
        ax.set_title("run", fontsize=9)

    def _draw_waves(self, frame: DashboardFrame, tuning: np.ndarray | None) -> None:
        ax = self.axes["waves"]
        ax.clear()
        ax.tick_params(labelsize=7)
        if tuning is None or not frame.num_carriers:
            if len(frame.excitations):
                ax.hist(frame.excitations, bins=60, color="#5b8db8", alpha=0.8)
            note = frame.carriers_note or "no carriers yet"
            ax.set_title(f"wave space: oscillator spectrum (carriers: {note})", fontsize=9)
            ax.set_xlabel("oscillator frequency (excitation)", fontsize=8)
            ax.set_ylabel("oscillators", fontsize=8)
            return
        t = np.linspace(0.0, 4.0 * np.pi, 400)
        amplitude = np.abs(frame.carrier_amplitudes)
        oscillator_amplitude = np.sqrt(np.maximum(frame.energies, 1e-8))
        top = np.argsort(-amplitude)[:3]
        for slot, k in enumerate(top):
            colour = WAVE_COLOURS[slot]
            offset = 3.0 * (len(top) - 1 - slot)
            row = tuning[k]
            coupled = np.nonzero(row > LINK_TUNING)[0]
            count = len(coupled)
            coupled = coupled[np.argsort(-row[coupled])[:8]]
            total = np.zeros_like(t)
            weight = 0.0
            scale = max(float(oscillator_amplitude[coupled].max()), 1e-12) if len(coupled) else 1.0
            for i in coupled:
                wave = row[i] * oscillator_amplitude[i] / scale * np.cos(
                    frame.excitations[i] * t + frame.phases[i])
                ax.plot(t, 0.8 * wave + offset, color=colour, alpha=0.25, lw=0.8)
                total += wave
                weight += row[i]
            if weight > 0:
                ax.plot(t, 0.8 * total / weight + offset, color=colour, lw=2.2)
            phase = frame.carrier_phases[k] if frame.carrier_phases is not None else 0.0
            ax.plot(t, 0.8 * np.cos(frame.carrier_frequencies[k] * t + phase) + offset, "--",
                    color="k", lw=0.9, alpha=0.6)
            ax.text(t[-1] + 0.2, offset,
                    f"C{k}  w={frame.carrier_frequencies[k]:.2f}  "
                    f"s={frame.carrier_gate_widths[k]:.2f}\n|C|={amplitude[k]:.2f}  "
                    f"{count} osc coupled", fontsize=7, va="center", color=colour)
        ax.set_xlim(0, 4.0 * np.pi + 4.5)
        ax.set_ylim(-1.5, 3.0 * len(top) - 1.5)
        ax.set_yticks([])
        ax.set_xlabel("t (carrier dashed, coupled oscillators thin, their sum bold)", fontsize=8)
        ax.set_title("wave space: strongest carriers and their coupled oscillators", fontsize=9)


__all__ = ["Dashboard", "DashboardFrame", "PANELS", "carrier_positions", "tuning_matrix"]
