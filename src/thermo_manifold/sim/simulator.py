"""`Simulator`: the run loop of `thermo-manifold simulate` (the seed's run.py + simulator.py).

One iteration, for physics step s (0-based) of the run:

1. inject  when the schedule says so: make room in the particle budget (evict the oldest,
           booked as `removed`), then add one generated "file" (booked as `injected`);
2. physics `ManifoldPhysics.step`;
3. carriers every `carrier_interval` steps (s % 10 == 0, as in the seed):
           tick = carriers.tick(state); state = physics.record_external(tick.particles,
           tick.energy_injected), so the carriers' energy is in the ledger too;
4. then, outside the timed part: the energy history, the dashboard every N steps, a console
   line every `log_every` steps, a periodic checkpoint when asked.

Stopping: a finite run stops after `steps` steps (counted over the whole run, across resumes),
any run after `max_seconds` of wall time, and Ctrl+C or SIGTERM (what `timeout` and schedulers
send) stops at the next step boundary. Every stop writes the checkpoint, the final dashboard PNG
and the summary, so `Simulator.resume(DIR)` continues bit-identically on the CPU: the checkpoint
holds the particles, the energy ledger, the run's random generator, the carriers (with their
generator) and the counters. Only a second signal aborts without a checkpoint.

Failing: an exception inside a step (the physics reporting non-finite values from an unstable
config, memory running out as injections grow) rewinds the run to the step boundary
before it, saves that last good step as the checkpoint and writes the summary with the error
(`stopped: "failed"`), so nothing computed is lost. Each final write is guarded on its own: a
dashboard that cannot be saved does not cost the checkpoint or the summary.

A run directory belongs to one run at a time (`sim/lock.py`), and a fresh run refuses a
directory that holds another run's checkpoint unless told to overwrite it.
"""

from __future__ import annotations

import dataclasses
import signal
import statistics
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.profiler import record_function
from tqdm import tqdm

from thermo_manifold.device import make_generator
from thermo_manifold.physics import (
    ManifoldPhysics,
    ParticleState,
    PhysicsConfig,
    random_state,
)
from thermo_manifold.physics.state import SCALAR_FIELDS, VECTOR_FIELDS, StateError
from thermo_manifold.reporting import RunDirectory
from thermo_manifold.sim.carriers import carrier_arrays, forget_evicted, load_carrier_engine
from thermo_manifold.sim.checkpoint import (
    CheckpointError,
    checkpoint_path,
    load_checkpoint,
    save_checkpoint,
)
from thermo_manifold.sim.config import SimulationConfig
from thermo_manifold.sim.history import Decimator
from thermo_manifold.sim.injection import (
    Injection,
    InjectionSchedule,
    choose_pattern,
    draw_file_size,
    generate_file,
    make_room,
)
from thermo_manifold.sim.lock import RunLock

PARTICLE_FIELDS = VECTOR_FIELDS + SCALAR_FIELDS
HISTORY_POINTS = 2000
TIMING_WINDOW = 50  # steps in the dashboard's ms/step
MEDIAN_WINDOW = 10_000  # the summary's median ms/step is over the last this-many steps
# The ledger watch (docs/simulator.md): total energy above this many times what came in from
# outside (initial + injected), or a residual above this, is reported once as a warning.
GROWTH_WARNING = 10.0
RESIDUAL_WARNING = 0.05
RESUME_CHANGES = {"steps", "max_seconds", "log_every"}


@dataclass(frozen=True)
class DashboardOptions:
    enabled: bool = True
    every: int = 50  # redraw (and rewrite DIR/dashboard.png) every N steps
    video: Path | None = None  # .gif or .mp4
    fps: int = 10
    max_video_frames: int = 300  # GIF frames kept in memory (see recorder.py)

    def __post_init__(self) -> None:
        if not (isinstance(self.every, int) and self.every >= 1):
            raise ValueError(f"dashboard_every must be an integer >= 1; got {self.every!r}")
        if not (isinstance(self.fps, int) and self.fps >= 1):
            raise ValueError(f"dashboard_fps must be an integer >= 1; got {self.fps!r}")
        if self.video is not None and not self.enabled:
            raise ValueError("dashboard_video needs the dashboard; drop --no-dashboard")


class _StopSignals:
    """Turns the first Ctrl+C (SIGINT) or SIGTERM into a flag the loop checks between steps;
    a second one raises KeyboardInterrupt (abort without a checkpoint). The handlers stay
    installed until the run's last file is written, so one signal during the final writes does
    not cut them off. Handlers can only be set from the main thread; elsewhere this does nothing
    (Python delivers signals to the main thread anyway)."""

    NAMES = {signal.SIGINT: "Ctrl+C", signal.SIGTERM: "SIGTERM"}

    def __init__(self, notify: Callable[[str], None]):
        self.received: str | None = None
        self._notify = notify
        self._previous: dict[int, Any] = {}

    @property
    def raised(self) -> bool:
        return self.received is not None

    def __enter__(self) -> "_StopSignals":
        if threading.current_thread() is threading.main_thread():
            for number in self.NAMES:
                self._previous[number] = signal.getsignal(number)
                signal.signal(number, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.raised:
            raise KeyboardInterrupt
        self.received = self.NAMES.get(signum, f"signal {signum}")
        self._notify(f"{self.received}: stopping after this step and saving a checkpoint "
                     "(send it again to abort without one)")

    def __exit__(self, *exc) -> None:
        for number, previous in self._previous.items():
            signal.signal(number, previous)
        self._previous.clear()


@dataclass
class _Boundary:
    """What a step may change, as it was before the step: enough to rewind a failed step so
    the checkpoint holds the last good one. Carriers and injections are kept only on steps that
    touch them (a carrier copy is the expensive part)."""

    step: int
    state: ParticleState
    physics: dict
    generator: torch.Tensor
    counters: dict[str, float]
    order_parameter: float | None
    carriers: dict | None
    injections: list | None


class Simulator:
    """A run: physics + optional carriers + injections + budget + dashboard + checkpoints."""

    def __init__(self, config: SimulationConfig, physics_config: PhysicsConfig, out: str | Path,
                 device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32,
                 dashboard: DashboardOptions | None = None, profile_steps: int | None = None,
                 checkpoint_every: int | None = None, progress: bool = False,
                 console: Callable[[str], None] | None = None, overwrite: bool = False,
                 _restore: tuple | None = None):
        self.config = config
        self.physics_config = physics_config
        self.device = torch.device(device)
        self.dtype = dtype
        self.dashboard_options = dashboard if dashboard is not None else DashboardOptions()
        if profile_steps is not None and profile_steps < 1:
            raise ValueError(f"profile_steps must be >= 1; got {profile_steps}")
        if checkpoint_every is not None and checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be >= 1; got {checkpoint_every}")
        self.profile_steps = profile_steps
        self.checkpoint_every = checkpoint_every
        self.progress = progress
        self._console = console if console is not None else print
        self.lock = RunLock(out)
        self.lock.check()
        existing = checkpoint_path(out)
        resuming_here = _restore is not None and Path(_restore[2]).resolve() == Path(
            out).resolve()
        if existing.is_file() and not (overwrite or resuming_here):
            raise ValueError(f"--out {out} holds another run's checkpoint; pass --overwrite to "
                             f"replace that run, or --resume {out} to continue it")
        self.overwrite = overwrite
        self.run_dir = RunDirectory(out)

        self.physics = ManifoldPhysics(physics_config, device=self.device, dtype=dtype)
        self.generator = make_generator(config.seed, self.device)
        self.schedule = InjectionSchedule(config.injection, self.generator)
        self.carrier_engine = None
        if config.carriers:
            self.carrier_engine = load_carrier_engine(self.device, dtype, config.seed)
        self.carriers_status = ("off" if not config.carriers
                                else "on" if self.carrier_engine is not None else "unavailable")
        self.counters: dict[str, float] = {
            "files_injected": 0, "particles_injected": 0, "particles_evicted": 0,
            "energy_evicted": 0.0, "carrier_ticks": 0, "carrier_energy_injected": 0.0,
            "carriers_spawned": 0, "carriers_recycled": 0, "wall_seconds": 0.0,
        }
        self.order_parameter: float | None = None
        self.injections: deque[Injection] = deque(maxlen=50)
        self.history: Decimator = Decimator(HISTORY_POINTS)
        self.resumed_from: int | None = None
        self.warnings: dict[str, str] = {}  # once each: see _watch_ledger
        self.step = 0
        self._last_step = None  # the last StepResult (its Poisson residual is computed lazily)
        self.collision_pairs: int | None = None
        if _restore is None:
            self.state = random_state(config.particles, physics_config, self.generator,
                                      dtype=dtype, device=self.device)
            self.physics.start_ledger(self.state)
            self._record_history()
        else:
            self._restore(*_restore[:2])
        self._dashboard = None
        self._recorder = None
        self._last_drawn_step: int | None = None
        self._step_times: deque[float] = deque(maxlen=MEDIAN_WINDOW)
        self._session_steps = 0  # every step of this session (the deque keeps the last ones)
        self._session_step_seconds = 0.0
        self._session_seconds = 0.0
        self._run_started: float | None = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def resume(cls, directory: str | Path, out: str | Path | None = None,
               device: torch.device | str | None = None, changes: dict[str, Any] | None = None,
               **options: Any) -> "Simulator":
        """Continue the run saved in `directory` (its checkpoint.pt).

        The checkpoint fixes the physics, the seed, the injections and the budget; `changes`
        may replace only `steps` (a new total, or None for continuous), `max_seconds` and
        `log_every`. `options` are the constructor's presentation options (dashboard, ...).
        """
        changes = dict(changes or {})
        unknown = sorted(set(changes) - RESUME_CHANGES)
        if unknown:
            raise ValueError(f"a resumed run can only change {sorted(RESUME_CHANGES)}; got "
                             f"{unknown}")
        meta, payload = load_checkpoint(directory, "cpu")
        try:
            config = SimulationConfig.from_dict(meta["sim"]).replace(**changes)
            physics_config = PhysicsConfig.from_dict(meta["physics"])
            dtype = {"float32": torch.float32, "float64": torch.float64}[meta["dtype"]]
            saved_device = meta["device_type"]
        except (KeyError, TypeError) as error:
            raise CheckpointError(f"{directory}: checkpoint metadata is not usable "
                                  f"(missing {error})") from None
        at = meta.get("step")
        if config.steps is not None and isinstance(at, int) and config.steps <= at:
            raise ValueError(f"the run in {directory} is already at step {at} and its target "
                             f"of {config.steps} steps is reached: nothing to do (give --steps "
                             f"above {at} as the new total, or --continuous)")
        device = torch.device(device if device is not None else meta.get("device", "cpu"))
        if device.type != saved_device:
            raise CheckpointError(
                f"{directory}: the checkpoint was written on {saved_device}; its random "
                f"streams only continue there (resume with --device {saved_device})")
        return cls(config, physics_config, out if out is not None else directory, device=device,
                   dtype=dtype, _restore=(meta, payload, directory), **options)

    def _restore(self, meta: dict[str, Any], payload: dict[str, Any]) -> None:
        try:
            particles = payload["particles"]
            self.state = ParticleState(**{name: particles[name].to(self.device, self.dtype)
                                          for name in PARTICLE_FIELDS})
            self.state.validate(self.physics_config, device=self.device, dtype=self.dtype)
            self.generator.set_state(payload["generator"])
            self.physics.load_state_dict({"ledger": meta["ledger"],
                                          "warm_potential": payload.get("warm_potential"),
                                          "mechanics": payload.get("mechanics")})
            self.step = int(meta["step"])
            self.counters.update(meta["counters"])
            self.order_parameter = meta.get("order_parameter")
            self.history = Decimator.from_state(meta["history"])
            self.injections.extend(Injection(**item) for item in meta["injections"])
        except (KeyError, TypeError, ValueError, RuntimeError) as error:
            raise CheckpointError(f"checkpoint content is not usable ({type(error).__name__}: "
                                  f"{error})") from None
        carriers = payload.get("carriers")
        if carriers is not None:
            if self.carrier_engine is None:
                raise CheckpointError("the checkpoint holds spectral carriers but "
                                      "thermo_manifold.spectral is not available in this build")
            try:
                self.carrier_engine.load_state_dict(carriers)
            except (KeyError, TypeError, ValueError, RuntimeError) as error:
                raise CheckpointError(f"checkpoint carriers are not usable ({error})") from None
        self.resumed_from = self.step

    # ------------------------------------------------------------------ the loop
    def run(self, stop_at_step: int | None = None,
            on_step: Callable[["Simulator"], None] | None = None) -> dict[str, Any]:
        """Run until done, out of time, stopped by a signal, or failed; then write the
        checkpoint, dashboard and summary (on failure: of the last good step, with the error).

        `stop_at_step` behaves like Ctrl+C once `step` reaches it (for tests and scripts);
        `on_step(simulator)` is called after every step. Raises `RunDirectoryBusy` when another
        live run owns the run directory.
        """
        self.lock.acquire()
        try:
            if self.overwrite:  # the replaced run's results go before this run writes any
                for name in ("checkpoint.pt", "summary.json", "metrics.json"):
                    (self.run_dir.root / name).unlink(missing_ok=True)
            with _StopSignals(self._say) as signals:
                return self._run_locked(signals, stop_at_step, on_step)
        finally:
            self.lock.release()

    def _run_locked(self, signals: _StopSignals, stop_at_step: int | None,
                    on_step: Callable[["Simulator"], None] | None) -> dict[str, Any]:
        options = self.dashboard_options
        if options.enabled:
            from thermo_manifold.sim.dashboard import Dashboard
            from thermo_manifold.sim.recorder import open_recorder

            self._dashboard = Dashboard()
            if options.video is not None:
                self._recorder = open_recorder(options.video, fps=options.fps,
                                               max_frames=options.max_video_frames)
        profiler = None
        if self.profile_steps is not None:
            from thermo_manifold.sim.profiler import StepProfiler

            profiler = StepProfiler(self.run_dir, self.device, self.profile_steps)
        self.run_dir.write_json("config.json", self._config_record())
        self._announce()

        started = self._run_started = time.perf_counter()
        stopped, aborted, failure = "completed", False, None
        total = self.config.steps
        bar = tqdm(total=total, initial=min(self.step, total or 0), desc="simulate",
                   unit="step", disable=not self.progress, leave=False)
        try:
            while True:
                if total is not None and self.step >= total:
                    break
                limit = self.config.max_seconds
                if limit is not None and time.perf_counter() - started >= limit:
                    stopped = "max_seconds"
                    break
                if signals.raised or (stop_at_step is not None and self.step >= stop_at_step):
                    stopped = "interrupted"
                    break
                boundary = self._boundary()
                try:
                    self._advance()
                except Exception:
                    self._rewind(boundary)
                    raise
                bar.update(1)
                if profiler is not None:
                    profiler.step()
                if on_step is not None:
                    on_step(self)
                self._after_step()
        except KeyboardInterrupt:
            stopped, aborted = "aborted", True
        except Exception as error:  # keep what was computed: checkpoint and summary below
            stopped, failure = "failed", error
        finally:
            bar.close()
            self._session_seconds = time.perf_counter() - started
            self._run_started = None
            self.counters["wall_seconds"] += self._session_seconds
        return self._finish(stopped, aborted, profiler, failure, signals.received)

    def _boundary(self) -> _Boundary:
        """The run as it is before the next step (see `_Boundary`)."""
        step = self.step
        touches_carriers = self.carrier_engine is not None and (
            step % self.config.carrier_interval == 0
            or (self.schedule.enabled and self.schedule.due(step)))
        return _Boundary(
            step=step, state=self.state, physics=self.physics.state_dict(),
            generator=self.generator.get_state(), counters=dict(self.counters),
            order_parameter=self.order_parameter,
            carriers=self.carrier_engine.state_dict() if touches_carriers else None,
            injections=list(self.injections) if self.schedule.enabled else None)

    def _rewind(self, boundary: _Boundary) -> None:
        """Put the run back at `boundary` after a step failed part-way."""
        self.step = boundary.step
        self.state = boundary.state
        self.physics.load_state_dict(boundary.physics)
        self.generator.set_state(boundary.generator)
        self.counters = boundary.counters
        self.order_parameter = boundary.order_parameter
        if boundary.carriers is not None:
            self.carrier_engine.load_state_dict(boundary.carriers)
        if boundary.injections is not None:
            self.injections.clear()
            self.injections.extend(boundary.injections)

    def _advance(self) -> None:
        """One physics step with its injection and carrier tick (the timed part). The physics
        checks what its step produced and raises `StateError` for non-finite values (an
        unstable config), and `record_external` validates the carriers' output."""
        step = self.step
        begin = time.perf_counter()
        if self.schedule.enabled and self.schedule.due(step):
            with record_function("sim.inject"):
                self._inject(step)
        with record_function("sim.physics"):
            result = self.physics.step(self.state)
            self.state = result.state
        if self.carrier_engine is not None and step % self.config.carrier_interval == 0:
            with record_function("sim.carriers"):
                tick = self.carrier_engine.tick(self.state)
                self.state = self.physics.record_external(tick.particles,
                                                          float(tick.energy_injected))
                self.counters["carrier_ticks"] += 1
                self.counters["carrier_energy_injected"] += float(tick.energy_injected)
                self.counters["carriers_spawned"] += int(tick.spawned)
                self.counters["carriers_recycled"] += int(tick.recycled)
                self.order_parameter = float(tick.order_parameter)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        seconds = time.perf_counter() - begin
        self._step_times.append(seconds)
        self._session_steps += 1
        self._session_step_seconds += seconds
        self._last_step = result
        self.collision_pairs = result.collision_pairs
        self.step = step + 1
        self._record_history()

    def _inject(self, step: int) -> None:
        cfg = self.config
        size = draw_file_size(cfg.injection, self.generator)
        if cfg.max_particles is not None:
            size = min(size, cfg.max_particles)
        pattern = choose_pattern(cfg.injection.pattern, self.generator)
        new = generate_file(size, pattern, self.physics_config, self.generator,
                            dtype=self.dtype, device=self.device)
        self.state, evicted, evicted_energy = make_room(self.physics, self.state, size,
                                                        cfg.max_particles)
        forget_evicted(self.carrier_engine, evicted)
        injected_before = self.physics.ledger.injected
        self.state = self.physics.add_particles(self.state, new)
        self.counters["files_injected"] += 1
        self.counters["particles_injected"] += size
        self.counters["particles_evicted"] += evicted
        self.counters["energy_evicted"] += evicted_energy
        record = Injection(step=step, file_id=int(self.counters["files_injected"]),
                           pattern=pattern, particles=size,
                           energy=self.physics.ledger.injected - injected_before,
                           evicted=evicted, evicted_energy=evicted_energy)
        self.injections.append(record)
        message = (f"inject #{record.file_id} at step {step}: +{size} particles ({pattern}, "
                   f"energy {record.energy:.1f})")
        if evicted:
            message += f", evicted the {evicted} oldest (energy {evicted_energy:.1f})"
        message += f" -> {self.state.num_particles} particles"
        wait = self.schedule.seconds_until_next()
        if wait is not None:
            message += f"; next in {wait:.0f} s"
        self._say(message)

    def _after_step(self) -> None:
        self._watch_ledger()
        if self._dashboard is not None and self.step % self.dashboard_options.every == 0:
            with record_function("sim.dashboard"):
                self._draw_dashboard()
        if self.step % self.config.log_every == 0:
            self._say(self._console_line())
        if self.checkpoint_every is not None and self.step % self.checkpoint_every == 0:
            self.save_checkpoint()

    def _watch_ledger(self) -> None:
        """Warn once (console and summary) when the physics stops conserving: the total energy
        grows past GROWTH_WARNING times what came in from outside, or the ledger's residual
        passes RESIDUAL_WARNING. A ledger can close while energy explodes (the seed's contact
        push books its own energy source as `contact_work`), so growth is watched beside the
        residual, and the warning names the internal flow that supplied the most energy."""
        ledger = self.physics.ledger
        if ledger is None:
            return
        came_in = ledger.initial_total + ledger.injected
        if ("growth" not in self.warnings and came_in > 0
                and ledger.total > GROWTH_WARNING * came_in):
            flows = {"contact_work": ledger.contact_work, "pressure_work": ledger.pressure_work,
                     "clamp_work": ledger.clamp_work,
                     ("potential_edits" if ledger.conservative else "gravity_work"):
                     ledger.potential_edits if ledger.conservative else ledger.gravity_work}
            source, amount = max(flows.items(), key=lambda item: item[1])
            self._warn("growth", f"step {self.step}: the total energy {ledger.total:.4g} is "
                       f"{ledger.total / came_in:.0f}x what came in ({came_in:.4g}); the "
                       f"physics is not conserving, mostly through {source} ({amount:+.4g})")
        if "residual" not in self.warnings and ledger.residual > RESIDUAL_WARNING:
            self._warn("residual", f"step {self.step}: the energy ledger's residual "
                       f"{ledger.residual:.2e} passed {RESIDUAL_WARNING:g}: the integrator's "
                       "energy error at these settings (a smaller dt closes it)")

    def _warn(self, key: str, message: str) -> None:
        self.warnings[key] = message
        self._say(f"warning: {message}")

    # ------------------------------------------------------------------ records
    def _record_history(self) -> None:
        ledger = self.physics.ledger
        self.history.offer({
            "step": self.step, "kinetic": ledger.kinetic, "internal": ledger.internal,
            "heat": ledger.heat, "potential": ledger.potential,
            "contact_potential": ledger.contact_potential, "total": ledger.total,
            "expected": ledger.expected_total, "residual": ledger.residual, "particles": self.state.num_particles,
            "carriers": self.num_carriers,
        })

    @property
    def num_carriers(self) -> int:
        if self.carrier_engine is None:
            return 0
        return int(self.carrier_engine.carriers.num_carriers)

    def _ms_per_step(self, window: int | None = None) -> float:
        times = list(self._step_times)[-window:] if window else list(self._step_times)
        return 1000.0 * sum(times) / len(times) if times else 0.0

    def _console_line(self) -> str:
        ledger = self.physics.ledger
        minutes = (self.counters["wall_seconds"] + self._elapsed_session()) / 60.0
        return (f"step {self.step:7d} | {minutes:5.1f} min | {self.state.num_particles:6d} p | "
                f"{self.num_carriers:3d} c | K={ledger.kinetic:.1f} E={ledger.internal:.1f} "
                f"Q={ledger.heat:.1f} | residual {ledger.residual:.1e} | "
                f"{self._ms_per_step(TIMING_WINDOW):.2f} ms/step")

    def _elapsed_session(self) -> float:
        return time.perf_counter() - self._run_started if self._run_started else 0.0

    def _say(self, message: str) -> None:
        if self.progress:
            tqdm.write(message, file=sys.stdout)
        else:
            self._console(message)

    def _announce(self) -> None:
        cfg = self.config
        length = "continuous" if cfg.continuous else f"{cfg.steps} steps"
        if cfg.max_seconds is not None:
            length += f", at most {cfg.max_seconds:g} s"
        inject = cfg.injection
        if inject.schedule == "steps":
            schedule = f"every {inject.every_steps} steps"
        elif inject.schedule == "seconds":
            schedule = f"every {inject.min_seconds:g}-{inject.max_seconds:g} s"
        else:
            schedule = "none"
        start = (f"resuming at step {self.resumed_from}" if self.resumed_from is not None
                 else f"{cfg.particles} particles, seed {cfg.seed}")
        grid = "x".join(str(g) for g in self.physics_config.grid_size)
        self._say(f"simulate: {start}, grid {grid}, {length}, device {self.device}, "
                  f"carriers {self.carriers_status}, injections {schedule}"
                  + (f" ({inject.particles_min}-{inject.particles_max} particles, "
                     f"{inject.pattern})" if inject.schedule != "none" else "")
                  + (f", budget {cfg.max_particles} (evict oldest)" if cfg.max_particles else "")
                  + "; Ctrl+C stops and saves a checkpoint")

    def _config_record(self) -> dict[str, Any]:
        return {
            "physics": self.physics_config.to_dict(),
            "simulation": self.config.to_dict(),
            "particles": self.config.particles,
            "steps": self.config.steps,
            "device": str(self.device),
            "dtype": str(self.dtype).removeprefix("torch."),
            "seed": self.config.seed,
            "carriers": self.carriers_status,
            "resumed_from_step": self.resumed_from,
            "dashboard": dataclasses.asdict(self.dashboard_options),
            "profile_steps": self.profile_steps,
        }

    # ------------------------------------------------------------------ dashboard
    def dashboard_frame(self):
        from thermo_manifold.sim.dashboard import DashboardFrame

        def host(tensor: torch.Tensor) -> np.ndarray:
            return tensor.detach().to("cpu", torch.float64).numpy()

        s = self.state
        carriers = carrier_arrays(self.carrier_engine)
        ms = self._ms_per_step(TIMING_WINDOW)
        ledger = self.physics.ledger
        info = {
            "files": f"{int(self.counters['files_injected'])}",
            "evicted": f"{int(self.counters['particles_evicted'])}",
            "residual": f"{ledger.residual:.1e}",
        }
        if self.order_parameter is not None:
            info["order R"] = f"{self.order_parameter:.3f}"
        return DashboardFrame(
            step=self.step, positions=host(s.positions), velocities=host(s.velocities),
            energies=host(s.energies), heats=host(s.heats), masses=host(s.masses),
            excitations=host(s.excitations), phases=host(s.phases),
            box=self.physics_config.domain_size,
            specific_heat=self.physics_config.specific_heat,
            history=list(self.history.items),
            injection_steps=[item.step for item in self.injections],
            carrier_frequencies=carriers["frequencies"],
            carrier_gate_widths=carriers["gate_widths"],
            carrier_amplitudes=carriers["amplitudes"], carrier_phases=carriers["phases"],
            carrier_states=carriers["states"],
            carriers_note=self.carriers_status if self.carriers_status != "on" else "",
            ms_per_step=ms, steps_per_second=1000.0 / ms if ms > 0 else 0.0, info=info)

    def _draw_dashboard(self, final: bool = False) -> Path:
        """Redraw (once per step), feed the video, rewrite DIR/dashboard.png; the final PNG is
        rendered again at a higher dpi."""
        from thermo_manifold.sim.dashboard import PNG_DPI

        assert self._dashboard is not None
        if self._last_drawn_step != self.step:
            self._dashboard.draw(self.dashboard_frame())
            self._last_drawn_step = self.step
            if self._recorder is not None:
                self._recorder.add(self._dashboard.rgb())
        return self._dashboard.save(self.run_dir.root / "dashboard.png",
                                    dpi=PNG_DPI if final else None)

    # ------------------------------------------------------------------ checkpoint
    def save_checkpoint(self) -> Path:
        """Write DIR/checkpoint.pt (atomically) with everything the run needs to continue."""
        meta = {
            "sim": self.config.to_dict(),
            "physics": self.physics_config.to_dict(),
            "dtype": str(self.dtype).removeprefix("torch."),
            "device": str(self.device),
            "device_type": self.device.type,
            "step": self.step,
            "counters": self.counters,
            "ledger": self.physics.state_dict()["ledger"],
            "order_parameter": self.order_parameter,
            "history": self.history.state(),
            "injections": [dataclasses.asdict(item) for item in self.injections],
        }
        tensors: dict[str, Any] = {
            "particles": {name: getattr(self.state, name) for name in PARTICLE_FIELDS},
            "generator": self.generator.get_state(),
            "carriers": (self.carrier_engine.state_dict() if self.carrier_engine is not None
                         else None),
            "warm_potential": self.physics.state_dict()["warm_potential"],
            # The forces at the saved positions: the resumed first half kick uses these, not a
            # re-solve (Jacobi's answer depends on its warm start).
            "mechanics": self.physics.state_dict()["mechanics"],
        }
        return save_checkpoint(self.run_dir.root, meta, tensors)

    # ------------------------------------------------------------------ the end
    def _finish(self, stopped: str, aborted: bool, profiler, failure: BaseException | None,
                signal_name: str | None) -> dict[str, Any]:
        """The final writes, each guarded on its own so one that fails (a full disk, a video
        path gone) costs only itself; what failed is listed under `write_errors`."""
        paths: dict[str, Any] = {}
        write_errors: list[str] = []

        def attempt(what: str, action: Callable[[], Any]) -> Any:
            try:
                return action()
            except Exception as error:  # noqa: BLE001 - reported in the summary
                write_errors.append(f"{what}: {_one_line(error)}")
                return None

        if profiler is not None:
            files = attempt("profile", profiler.finish)
            if files is not None:
                paths["profile"] = {key: str(value) for key, value in files.items()}
        if not aborted:
            # A second signal may have landed mid-step: no checkpoint from a torn state.
            saved = attempt("checkpoint", self.save_checkpoint)
            if saved is not None:
                paths["checkpoint"] = str(saved)
        if self._dashboard is not None:
            drawn = attempt("dashboard", lambda: self._draw_dashboard(final=True))
            if drawn is not None:
                paths["dashboard"] = str(drawn)
            if self._recorder is not None:
                video = attempt("video", self._recorder.close)
                paths["video"] = str(video) if video is not None else None
            attempt("dashboard", self._dashboard.close)
        summary = self.summary(stopped)
        summary.update(paths)
        if signal_name is not None:
            summary["signal"] = signal_name
        if failure is not None:
            summary["error"] = _one_line(failure)
            summary["error_type"] = type(failure).__name__
            # the physics reports an unstable config's first bad step as a StateError
            summary["user_error"] = isinstance(failure, (StateError, MemoryError)) or (
                isinstance(failure, RuntimeError) and "alloc" in str(failure).lower())
        summary["write_errors"] = write_errors  # a failed summary.json shows in the return
        for name in ("summary.json", "metrics.json"):
            attempt(name, lambda name=name: self.run_dir.write_json(name, summary))
        self._say(self._summary_text(summary))
        return summary

    def summary(self, stopped: str = "completed") -> dict[str, Any]:
        times = list(self._step_times)
        session_steps = self._session_steps
        ledger = self.physics.ledger
        carriers: dict[str, Any] = {"status": self.carriers_status}
        if self.carrier_engine is not None:
            arrays = carrier_arrays(self.carrier_engine)
            states = arrays["states"]
            carriers.update({
                "count": self.num_carriers,
                "crystallized": int((states == 2).sum()) if states is not None else 0,
                "ticks": int(self.counters["carrier_ticks"]),
                "spawned": int(self.counters["carriers_spawned"]),
                "recycled": int(self.counters["carriers_recycled"]),
                "energy_injected": self.counters["carrier_energy_injected"],
                "order_parameter": self.order_parameter,
            })
        mean_ms = 1000.0 * self._session_step_seconds / session_steps if session_steps else None
        return {
            "steps": self.step,
            "session_steps": session_steps,
            "target_steps": self.config.steps,
            "stopped": stopped,
            "resumed_from_step": self.resumed_from,
            "particles": self.config.particles,
            "final_particles": self.state.num_particles,
            "grid_size": list(self.physics_config.grid_size),
            "device": str(self.device),
            "dtype": str(self.dtype).removeprefix("torch."),
            "seed": self.config.seed,
            "wall_seconds_session": self._session_seconds,
            "wall_seconds_total": self.counters["wall_seconds"],
            "ms_per_step_mean": mean_ms,
            # over the last MEDIAN_WINDOW steps of the session (the mean is over all of them)
            "ms_per_step_median": 1000.0 * statistics.median(times) if times else None,
            "particle_steps_per_second": (self.state.num_particles * 1000.0 / mean_ms
                                          if mean_ms else None),
            "final_ledger": ledger.to_dict(),
            "ledger_residual": ledger.residual,
            "ledger_residual_of_largest": residual_of_largest(ledger),
            "poisson_residual": (None if self._last_step is None
                                 else self._last_step.poisson_residual),
            "collision_pairs_last_step": self.collision_pairs,
            "files_injected": int(self.counters["files_injected"]),
            "particles_injected": int(self.counters["particles_injected"]),
            "particles_evicted": int(self.counters["particles_evicted"]),
            "energy_evicted": self.counters["energy_evicted"],
            "carriers": carriers,
            "warnings": list(self.warnings.values()),
        }

    def _summary_text(self, s: dict[str, Any]) -> str:
        ledger = s["final_ledger"]
        ms = s["ms_per_step_median"]
        stopped = s["stopped"] + (f" by {s['signal']}" if s.get("signal") else "")
        lines = [
            "=" * 64,
            f"SIMULATION SUMMARY ({stopped})",
            f"steps            {s['steps']:,} ({s['session_steps']:,} this session"
            + (f", resumed at {s['resumed_from_step']:,}" if s["resumed_from_step"] is not None
               else "") + ")",
            f"time             {s['wall_seconds_session']:.1f} s this session, "
            f"{'n/a' if ms is None else f'{ms:.2f}'} ms/step (median)",
            f"particles        {s['particles']:,} -> {s['final_particles']:,} "
            f"({s['files_injected']} files, +{s['particles_injected']:,}, "
            f"-{s['particles_evicted']:,} evicted)",
            f"carriers         {s['carriers']['status']}"
            + (f", {s['carriers']['count']} live" if "count" in s["carriers"] else ""),
            f"energy           K={ledger['kinetic']:.2f} E={ledger['internal']:.2f} "
            f"Q={ledger['heat']:.2f} total={ledger['total']:.2f} potential="
            f"{ledger['potential']:.3g}",
            f"ledger           injected {ledger['injected']:.2f}, removed "
            f"{ledger['removed']:.2f}, radiated {ledger['radiated']:.3g}, residual "
            f"{s['ledger_residual']:.2e} ({s['ledger_residual_of_largest']:.2e} of the largest "
            "energy booked)",
            f"run directory    {self.run_dir.root}"
            + (" (checkpoint.pt: continue with --resume)" if "checkpoint" in s else ""),
        ]
        if s.get("dashboard"):
            lines.append(f"dashboard        {s['dashboard']}"
                         + (f", video {s['video']}" if s.get("video") else ""))
        if s.get("profile"):
            lines.append(f"profile          {s['profile']['trace']}, {s['profile']['table']}")
        for warning in s.get("warnings") or ():
            lines.append(f"warning          {warning}")
        if s.get("error"):
            lines.append(f"error            {s['error']}")
        for problem in s.get("write_errors") or ():
            lines.append(f"not written      {problem}")
        lines.append("=" * 64)
        return "\n".join(lines)


def residual_of_largest(ledger) -> float:
    """|total - expected| over the largest energy the ledger holds or has booked (the initial
    total, the current total, or any flow). `residual` divides by the initial total alone, so a
    run whose energy grows a hundredfold shows a hundredfold rounding error; against the largest
    magnitude involved, a float32 run's rounding stays near float32's epsilon however the
    energy grows, and what exceeds that is a real leak."""
    flows = (ledger.gravity_work, ledger.pressure_work, ledger.contact_work, ledger.radiated,
             ledger.injected, ledger.removed, ledger.clamp_work, ledger.potential_edits)
    scale = max([abs(ledger.initial_total), abs(ledger.total)] + [abs(f) for f in flows])
    return abs(ledger.total - ledger.expected_total) / scale if scale > 0 else 0.0


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:300]}" if text else type(error).__name__


__all__ = ["DashboardOptions", "PARTICLE_FIELDS", "Simulator"]
