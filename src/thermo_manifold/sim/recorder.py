"""Dashboard video: GIF through Pillow, MP4 through imageio-ffmpeg.

Frames are RGB uint8 arrays of one size (the dashboard's canvas). Files are written to a
temporary name and renamed when complete, so an interrupted run never leaves a broken video.

GIF: Pillow writes a GIF in one go, so frames are kept in memory as palette images (one byte
per pixel). To bound memory in continuous runs, at most `max_frames` are kept: when full, every
other frame is dropped and only every second later frame is kept (the `Decimator` rule), so the
video still spans the whole run at a coarser time step.
MP4: frames stream to ffmpeg (from the `imageio-ffmpeg` package, which ships the binary) as
they come; memory stays constant. Without that package `open_recorder` raises `RecorderError`
saying how to install it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from thermo_manifold.sim.history import Decimator

SUFFIXES = (".gif", ".mp4")


class RecorderError(ValueError):
    """A video that cannot be recorded (unknown suffix, missing optional dependency)."""


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.stem}.partial{path.suffix}")


class GifRecorder:
    def __init__(self, path: str | Path, fps: int = 10, max_frames: int = 300):
        self.path = Path(path)
        self.fps = fps
        self._frames: Decimator = Decimator(max_frames)
        self._size: tuple[int, int] | None = None

    @property
    def frames_kept(self) -> int:
        return len(self._frames)

    def add(self, frame: np.ndarray) -> None:
        from PIL import Image

        size = (frame.shape[1], frame.shape[0])
        if self._size is None:
            self._size = size
        elif size != self._size:
            raise RecorderError(f"frame size {size} differs from the first frame's {self._size}")
        # Offer first so a frame that would be dropped is never quantized.
        if self._frames.offer(None):
            image = Image.fromarray(np.ascontiguousarray(frame[..., :3]), "RGB")
            self._frames.items[-1] = image.quantize(colors=256, method=Image.Quantize.FASTOCTREE)

    def close(self) -> Path | None:
        frames = [frame for frame in self._frames.items if frame is not None]
        if not frames:
            return None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = _temporary(self.path)
        duration = max(20, round(1000 / self.fps))
        frames[0].save(temporary, format="GIF", save_all=True, append_images=frames[1:],
                       duration=duration, loop=0, optimize=False, disposal=1)
        os.replace(temporary, self.path)
        self._frames.items.clear()
        return self.path


class Mp4Recorder:
    def __init__(self, path: str | Path, fps: int = 10):
        try:
            import imageio_ffmpeg
        except ImportError:
            raise RecorderError(
                f"recording {path} needs the optional package imageio-ffmpeg: "
                "pip install imageio-ffmpeg (or record a .gif, which needs only Pillow)") from None
        self._ffmpeg = imageio_ffmpeg
        self.path = Path(path)
        self.fps = fps
        self._writer = None
        self._size: tuple[int, int] | None = None
        self.frames_written = 0

    def add(self, frame: np.ndarray) -> None:
        size = (frame.shape[1], frame.shape[0])
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._size = size
            # libx264 with yuv420p needs even sides; the dashboard canvas is sized in
            # multiples of 16, and macro_block_size=1 stops imageio-ffmpeg from resizing.
            self._writer = self._ffmpeg.write_frames(
                str(_temporary(self.path)), size, fps=self.fps, codec="libx264",
                pix_fmt_in="rgb24", pix_fmt_out="yuv420p", macro_block_size=1,
                output_params=["-movflags", "+faststart"])
            self._writer.send(None)
        elif size != self._size:
            raise RecorderError(f"frame size {size} differs from the first frame's {self._size}")
        self._writer.send(np.ascontiguousarray(frame[..., :3]).tobytes())
        self.frames_written += 1

    def close(self) -> Path | None:
        if self._writer is None:
            return None
        self._writer.close()
        self._writer = None
        os.replace(_temporary(self.path), self.path)
        return self.path


def open_recorder(path: str | Path, fps: int = 10, max_frames: int = 300):
    """A recorder for `path` chosen by its suffix (.gif or .mp4)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".gif":
        return GifRecorder(path, fps=fps, max_frames=max_frames)
    if suffix == ".mp4":
        return Mp4Recorder(path, fps=fps)
    raise RecorderError(f"dashboard video must end in {' or '.join(SUFFIXES)}; got {path.name!r}")


__all__ = ["GifRecorder", "Mp4Recorder", "RecorderError", "SUFFIXES", "open_recorder"]
