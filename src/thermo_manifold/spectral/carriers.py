"""`SpectralCarrierPhysics`: one tick of the spectral carriers, in the seed's order.

Oscillators are the particles: z_i = A_i exp(i theta_i) with A_i = sqrt(max(E_i, 1e-8)),
frequency w_i = excitation. Carriers C_k = R_k exp(i psi_k) bind the oscillators near their
frequency w_k through the tuning T_ik = exp(-(w_i - w_k)^2 / sigma_k^2), the gradient flow of the
resonance potential U = -sum_ik T_ik Re(z_i conj C_k) + lambda/2 sum_k |C_k|^2 plus Langevin noise.

A tick (the seed's `step`, Metal kernels `spectral_*`):
 1. energy statistics (mean |E| sets the adaptive decay, cost of living and noise scale);
 2. genesis: with no carrier, oscillator 0 creates the first one;
 3. update every carrier: decay, tuned weights w = T A above the floor, coherence and conflict
    EMA, frequency recentring, offender (largest phase stress), mean-field force, metabolic
    shrink, Langevin step, repulsion (disambiguate mode), state machine, anchor refresh;
 4. free dead volatile carriers (PHYSICS.md: recycling), then split conflicted carriers into
    free slots (child born from the offender);
 5. top-down energy bias from crystallized carriers into their anchored oscillators;
 6. oscillator phase update: Kuramoto torque, crystallized boost, anchor pull, noise;
 7. spawn one carrier per frequency cluster of still-uncoupled oscillators.

The differences from the seed are listed in docs/spectral.md.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass, fields

import torch

from thermo_manifold.device import make_generator, resolve_device, resolve_dtype
from thermo_manifold.physics.state import ParticleState
from thermo_manifold.spectral.config import ANCHOR_SLOTS, SpectralCarrierConfig
from thermo_manifold.spectral.coupling import (
    Coupling,
    carrier_sums,
    offenders,
    oscillator_drive,
    tuning,
    wrap_pi,
    wrap_two_pi,
)
from thermo_manifold.spectral.modes import MODES, ModeParams, mode_params
from thermo_manifold.spectral.state import CarrierPhase, CarrierState

VOLATILE = int(CarrierPhase.VOLATILE)
STABLE = int(CarrierPhase.STABLE)
CRYSTALLIZED = int(CarrierPhase.CRYSTALLIZED)
MIN_ENERGY = 1e-8  # A = sqrt(max(E, 1e-8)), as in the seed
TINY = 1e-8


@dataclass
class SpectralTick:
    """What one tick produced. `particles` is a new object: its `phases` and `energies` are new
    tensors; every other field is the caller's tensor, shared and never written."""

    particles: ParticleState
    carriers: CarrierState
    energy_injected: float  # sum of the energy the carriers added to the particles this tick
    spawned: int  # carriers born this tick (genesis + splits + uncoupled spawns)
    recycled: int  # dead volatile carriers freed this tick
    order_parameter: float  # Kuramoto R = |mean exp(i theta)| after the phase update
    splits: int = 0  # of `spawned`, children of conflict splits
    mode: str = "normal"


@dataclass
class _Update:
    carriers: CarrierState
    offender_score: torch.Tensor  # (K,) 0 = no offender
    offender_index: torch.Tensor  # (K,) oscillator index


class SpectralCarrierPhysics:
    """The carrier layer; owns the carriers and the random generator.

    `tick` never writes into the caller's tensors and only replaces the engine's carriers once
    the whole tick has been computed.
    """

    def __init__(self, config: SpectralCarrierConfig | None = None,
                 device: torch.device | str = "cpu", dtype: torch.dtype | str = torch.float32,
                 seed: int = 0) -> None:
        if config is None:
            config = SpectralCarrierConfig()
        if not isinstance(config, SpectralCarrierConfig):
            raise ValueError(f"config must be a SpectralCarrierConfig; got {type(config).__name__}")
        self.config = config
        self.device = device if isinstance(device, torch.device) else resolve_device(device)
        self.dtype = resolve_dtype(dtype)
        self.seed = seed
        self.generator = make_generator(seed, self.device)
        self._carriers = CarrierState.empty(self.device, self.dtype)
        self._next_uid = 0
        self._sorted_frequencies: tuple | None = None
        self.ticks = 0

    # ------------------------------------------------------------------ public API
    @property
    def carriers(self) -> CarrierState:
        """The live carriers (the engine never writes into these tensors; treat as read-only)."""
        return self._carriers

    @carriers.setter
    def carriers(self, value: CarrierState) -> None:
        """Replace the carriers (validated; copied to the engine's device and dtype)."""
        if not isinstance(value, CarrierState):
            raise ValueError(f"carriers must be a CarrierState; got {type(value).__name__}")
        value.validate(self.config.max_carriers)
        value = value.to(self.device, self.dtype).clone()
        value = value.select(torch.argsort(value.slot))
        self._carriers = value
        if value.num_carriers:
            self._next_uid = max(self._next_uid, int(value.uid.max()) + 1)

    def tick(self, particles: ParticleState, mode: str = "normal") -> SpectralTick:
        """One carrier tick; see the module docstring for the stages."""
        params = mode_params(self.config, mode)
        self._check_particles(particles)
        n = particles.num_particles
        if n == 0:
            # Nothing to bind: leave the carriers alone (the seed would zero them).
            empty = particles.replace(phases=particles.phases.clone(),
                                      energies=particles.energies.clone())
            return SpectralTick(empty, self._carriers, 0.0, 0, 0, 0.0, 0, mode)

        cfg = self.config
        phase = particles.phases.to(self.dtype)
        freq = particles.excitations.to(self.dtype)
        energy = particles.energies.to(self.dtype)
        amp = torch.sqrt(energy.clamp(min=MIN_ENERGY))
        # 1. energy statistics.
        e_scale = max(float(energy.abs().mean()), TINY)
        coupling = Coupling(freq, cfg.coupling, cfg.band_sigmas,
                            dense_fraction=cfg.band_dense_fraction,
                            presorted=self._frequency_sort_of(particles.excitations))
        if coupling.order is not None:
            self._remember_frequency_sort(particles.excitations, coupling)
        next_uid = self._next_uid

        # 2. genesis.
        carriers = self._carriers
        spawned = 0
        if carriers.num_carriers == 0:
            carriers = self._born(
                carriers, next_uid, freq[:1], torch.full((1,), cfg.gate_width_init,
                                                         dtype=self.dtype, device=self.device),
                amp[:1], wrap_two_pi(phase[:1]), torch.zeros(1, dtype=torch.int64,
                                                             device=self.device),
                torch.zeros(1, dtype=self.dtype, device=self.device), amp[:1])
            next_uid += 1
            spawned += 1

        # 3. update every carrier.
        z_re, z_im = amp * torch.cos(phase), amp * torch.sin(phase)
        update = self._update(carriers, coupling, freq, amp, phase, z_re, z_im, e_scale, params)
        carriers = update.carriers

        # 4. recycle dead volatile carriers, then split conflicted ones into free slots.
        rotations = self._rand(carriers.num_carriers)
        dead = (carriers.state == VOLATILE) & (carriers.low_amp_ticks >= cfg.recycle_ticks)
        parents = ((carriers.state != CRYSTALLIZED) & (update.offender_score > 0) & ~dead)
        # The seed resets the parent's conflict after a split request, room or not.
        carriers.conflict = torch.where(parents, torch.zeros_like(carriers.conflict),
                                        carriers.conflict)
        recycled = int(dead.sum())
        keep = ~dead
        survivors = carriers.select(keep)
        parent_rows = torch.nonzero(parents[keep]).squeeze(1)
        room = cfg.max_carriers - survivors.num_carriers
        parent_rows = parent_rows[:max(room, 0)]
        splits = int(parent_rows.numel())
        if splits:
            # Rows of `keep`-filtered tensors map back to the update's rows.
            orig_rows = torch.nonzero(keep).squeeze(1)[parent_rows]
            src = update.offender_index[orig_rows]
            angle = wrap_two_pi(phase[src] + rotations[orig_rows] * (2.0 * math.pi))
            # Anchor offset measured against the child's phase after its random rotation.
            offset = wrap_pi(phase[src] - angle)
            survivors = self._born(
                survivors, next_uid, freq[src], survivors.gate_widths[parent_rows],
                cfg.split_init_scale * amp[src], angle, src, offset, amp[src])
            next_uid += splits
            spawned += splits
        carriers = survivors

        # 5. top-down energy bias from crystallized carriers.
        delta_energy = self._topdown_energy(carriers, amp, n, params)
        energy_after = energy + delta_energy
        amp_after = torch.sqrt(energy_after.clamp(min=MIN_ENERGY))

        # 6. oscillator phase update.
        new_phase, total_tuning = self._phase_update(carriers, coupling, freq, amp_after, phase,
                                                     e_scale, params)

        # 7. spawn carriers for uncoupled oscillators, one per frequency cluster.
        carriers, count = self._spawn_uncoupled(carriers, next_uid, freq, amp_after, new_phase,
                                                total_tuning, coupling)
        next_uid += count
        spawned += count

        carriers = carriers.select(torch.argsort(carriers.slot))
        new_energies = particles.energies + delta_energy.to(particles.dtype)
        injected = float((new_energies.double() - particles.energies.double()).sum())
        out = particles.replace(phases=new_phase.to(particles.dtype), energies=new_energies)
        order = float(torch.hypot(torch.cos(new_phase.double()).mean(),
                                  torch.sin(new_phase.double()).mean()))
        # Commit only now: a failure above leaves the engine as it was (but for the generator).
        self._carriers = carriers
        self._next_uid = next_uid
        self.ticks += 1
        return SpectralTick(out, carriers, injected, spawned, recycled, order, splits, mode)

    def idle(self, particles: ParticleState, steps: int = 1, mode: str = "explore"
             ) -> SpectralTick:
        """`steps` ticks in an idle mode (the seed's `idle_compute`); counts are summed."""
        if not (isinstance(steps, int) and steps >= 1):
            raise ValueError(f"steps must be an integer >= 1; got {steps!r}")
        mode_params(self.config, mode)
        injected, spawned, recycled, splits = 0.0, 0, 0, 0
        result = None
        for _ in range(steps):
            result = self.tick(particles, mode)
            particles = result.particles
            injected += result.energy_injected
            spawned += result.spawned
            recycled += result.recycled
            splits += result.splits
        assert result is not None
        return SpectralTick(result.particles, result.carriers, injected, spawned, recycled,
                            result.order_parameter, splits, mode)

    def score(self, frequencies: torch.Tensor) -> torch.Tensor:
        """sum_k R_k exp(-(w_k - w)^2 / sigma_k^2) for each entry of `frequencies`."""
        c = self._carriers
        w = frequencies.to(device=self.device, dtype=self.dtype).reshape(-1)
        if c.num_carriers == 0:
            return torch.zeros(frequencies.shape, dtype=self.dtype, device=self.device)
        out = torch.zeros_like(w)
        sigma = self._gate(c.gate_widths)
        step = max(1, (1 << 22) // max(c.num_carriers, 1))
        for start in range(0, w.shape[0], step):
            chunk = w[start:start + step]
            t = tuning(chunk[None, :], c.frequencies[:, None], sigma[:, None])
            out[start:start + step] = (c.amplitudes[:, None] * t).sum(dim=0)
        return out.reshape(frequencies.shape)

    def tuning(self, excitations: torch.Tensor) -> torch.Tensor:
        """Dense (K, N) tuning matrix T_ik of the live carriers against `excitations`."""
        c = self._carriers
        w = excitations.to(device=self.device, dtype=self.dtype).reshape(-1)
        return tuning(w[None, :], c.frequencies[:, None], self._gate(c.gate_widths)[:, None])

    def state_dict(self) -> dict:
        """Tensors and plain Python scalars: the carriers, counters and the generator state."""
        out: dict = {
            "ticks": int(self.ticks),
            "next_uid": int(self._next_uid),
            "max_carriers": int(self.config.max_carriers),
            "generator_state": self.generator.get_state().clone(),
        }
        for f in fields(CarrierState):
            out[f"carriers.{f.name}"] = getattr(self._carriers, f.name).detach().cpu().clone()
        return out

    def load_state_dict(self, state: dict) -> None:
        """Restore `state_dict()` output; validated fully before anything changes."""
        if not isinstance(state, dict):
            raise ValueError(f"state must be a dict; got {type(state).__name__}")
        needed = ["ticks", "next_uid", "generator_state"] + [
            f"carriers.{f.name}" for f in fields(CarrierState)]
        missing = [key for key in needed if key not in state]
        if missing:
            raise ValueError(f"spectral state_dict is missing {missing}")
        carriers = CarrierState(**{f.name: state[f"carriers.{f.name}"]
                                   for f in fields(CarrierState)})
        carriers.validate(self.config.max_carriers)
        ticks, next_uid = state["ticks"], state["next_uid"]
        for name, value in (("ticks", ticks), ("next_uid", next_uid)):
            if not (isinstance(value, int) and value >= 0):
                raise ValueError(f"{name} must be a non-negative integer; got {value!r}")
        generator_state = state["generator_state"]
        if not (isinstance(generator_state, torch.Tensor)
                and generator_state.dtype == torch.uint8):
            raise ValueError("generator_state must be a uint8 tensor from Generator.get_state()")
        probe = torch.Generator(device=self.device)
        probe.set_state(generator_state)  # raises on a malformed state before we commit
        self.generator.set_state(generator_state)
        self.carriers = carriers
        self._next_uid = max(next_uid, self._next_uid)
        self.ticks = ticks

    # ------------------------------------------------------------------ stages
    def _update(self, c: CarrierState, coupling: Coupling, freq: torch.Tensor,
                amp: torch.Tensor, phase: torch.Tensor, z_re: torch.Tensor, z_im: torch.Tensor,
                e_scale: float, p: ModeParams) -> _Update:
        """Stage 3 for every carrier at once (the seed's spectral_carrier_update_and_split)."""
        cfg = self.config
        dt = cfg.dt
        k = c.num_carriers
        cr0, ci0 = c.complex_parts()
        omega = c.frequencies
        gate = self._gate(c.gate_widths)
        state = c.state
        cryst = state == CRYSTALLIZED
        one = torch.ones_like(omega)

        # Decay; crystallized carriers do not decay (PHYSICS.md).
        multiplier = torch.where(state == VOLATILE, one * cfg.volatile_decay_mul,
                                 one * cfg.stable_decay_mul)
        decay = torch.where(cryst, one, multiplier * math.exp(-dt / e_scale))
        cr, ci = cr0 * decay, ci0 * decay

        sums = carrier_sums(coupling, omega, gate, freq, amp, z_re, z_im, p.offender_floor)
        bound = sums.weight > TINY
        mean_omega = torch.where(bound, sums.weight_freq / sums.weight.clamp(min=TINY), omega)
        coherence = (torch.hypot(sums.force_re, sums.force_im)
                     / sums.weight_amp.clamp(min=TINY)).clamp(0.0, 1.0)
        conflict = c.conflict * (1.0 - cfg.ema_alpha) + (1.0 - coherence) * cfg.ema_alpha
        recentred = omega * (1.0 - cfg.recenter_alpha) + mean_omega * cfg.recenter_alpha
        omega_new = torch.where(cryst, omega, recentred)

        # Offender: largest w (1 - cos(theta_i - psi_target)) under the recentred tuning.
        target = torch.atan2(sums.force_im, sums.force_re)
        score = torch.zeros_like(omega)
        offender = torch.zeros(k, dtype=torch.int64, device=self.device)
        conflicted = torch.nonzero(bound & (conflict > cfg.conflict_threshold)).squeeze(1)
        if conflicted.numel():
            s, i = offenders(coupling, omega_new[conflicted], gate[conflicted], freq, amp, phase,
                             target[conflicted], p.offender_floor)
            score = score.index_copy(0, conflicted, s)
            offender = offender.index_copy(0, conflicted, i)

        # Mean-field force and metabolic shrink (income below the cost of living).
        inv_weight = 1.0 / sums.weight.clamp(min=TINY)
        force_re, force_im = sums.force_re * inv_weight, sums.force_im * inv_weight
        income = torch.hypot(force_re, force_im)
        shrink = torch.exp(-dt * (e_scale - income) / (e_scale + TINY))
        shrink = torch.where(~cryst & (income < e_scale), shrink, one)
        cr, ci = cr * shrink, ci * shrink

        # Langevin step dC = (F - lambda C) dt + sqrt(2 T dt) eta; no pull on crystallized.
        noise = self._randn((k, 2))
        temp_factor = e_scale / (e_scale + 1.0)
        noise_scale = math.sqrt(max(2.0 * p.temperature * temp_factor * dt, 0.0))
        reg = torch.where(cryst, torch.zeros_like(omega), one * cfg.carrier_reg)
        cr = cr + (force_re - reg * cr) * dt + noise_scale * noise[:, 0]
        ci = ci + (force_im - reg * ci) * dt + noise_scale * noise[:, 1]

        # Disambiguate: frequency repulsion from the other carriers (start-of-tick positions).
        if p.repulsion > 0.0 and k > 1:
            d = omega_new[:, None] - omega[None, :]
            s = (gate[:, None] + gate[None, :]).clamp(min=1e-3)
            term = d * torch.exp(-(d * d) / (s * s))
            term = term * (1.0 - torch.eye(k, dtype=term.dtype, device=term.device))
            omega_new = torch.where(cryst, omega_new,
                                    omega_new + dt * p.repulsion * term.sum(dim=1))

        # State machine VOLATILE -> STABLE -> CRYSTALLIZED (never backwards).
        amplitude = torch.hypot(cr, ci)
        promote = (state == VOLATILE) & (amplitude >= cfg.stable_amp_threshold)
        new_state = torch.where(promote, torch.full_like(state, STABLE), state)
        age = torch.where(promote, torch.zeros_like(c.age), c.age)
        stable = new_state == STABLE
        qualifies = ((amplitude >= cfg.crystallize_amp_threshold)
                     & (conflict <= cfg.crystallize_conflict_threshold))
        age = torch.where(stable, torch.where(qualifies, age + 1, torch.zeros_like(age)), age)
        crystallize = stable & qualifies & (age >= cfg.crystallize_age)
        new_state = torch.where(crystallize, torch.full_like(state, CRYSTALLIZED), new_state)
        age = torch.where(crystallize, torch.full_like(age, cfg.crystallize_age), age)

        # Anchor refresh (epsilon-greedy random oscillator, else the offender).
        n = int(freq.shape[0])
        u = self._rand(k)
        slot = self._randint(ANCHOR_SLOTS, k)
        candidate = self._randint(n, k)
        open_anchor = new_state != CRYSTALLIZED
        random_pick = open_anchor & (u <= p.anchor_eps)
        offender_pick = open_anchor & ~random_pick & (score > 0)
        pick = torch.where(random_pick, candidate, offender)
        psi = torch.atan2(ci, cr)
        pick_offset = wrap_pi(phase[pick] - psi)
        pick_weight = tuning(freq[pick], omega_new, gate) * amp[pick]
        hit = ((torch.arange(ANCHOR_SLOTS, device=self.device)[None, :] == slot[:, None])
               & (random_pick | offender_pick)[:, None])
        anchor_index = torch.where(hit, pick[:, None], c.anchor_index)
        anchor_offset = torch.where(hit, pick_offset[:, None], c.anchor_offset)
        anchor_weight = torch.where(hit, pick_weight[:, None], c.anchor_weight)

        # Keep the stored polar form bit-exact for a carrier whose C did not change at all.
        unchanged = (cr == cr0) & (ci == ci0)
        low = amplitude < cfg.recycle_amp_floor
        updated = CarrierState(
            frequencies=omega_new,
            gate_widths=gate,
            amplitudes=torch.where(unchanged, c.amplitudes, amplitude),
            phases=torch.where(unchanged, c.phases, wrap_two_pi(psi)),
            conflict=conflict,
            coherence=coherence,
            state=new_state,
            age=age,
            anchor_index=anchor_index,
            anchor_offset=anchor_offset,
            anchor_weight=anchor_weight,
            slot=c.slot,
            uid=c.uid,
            low_amp_ticks=torch.where(low, c.low_amp_ticks + 1, torch.zeros_like(c.low_amp_ticks)),
        )
        return _Update(updated, score, offender)

    def _topdown_energy(self, c: CarrierState, amp: torch.Tensor, n: int, p: ModeParams
                        ) -> torch.Tensor:
        """Stage 5: energy each oscillator receives from crystallized carriers (a new tensor)."""
        cfg = self.config
        k = c.num_carriers
        delta = torch.zeros(n, dtype=self.dtype, device=self.device)
        u = self._rand(k)
        lucky = self._randint(n, k)
        if k == 0 or cfg.topdown_energy_scale <= 0.0:
            return delta
        index = c.anchor_index
        valid = (index >= 0) & (index < n) & (c.state == CRYSTALLIZED)[:, None]
        safe = torch.where(valid, index, torch.zeros_like(index))
        weight = torch.where(valid, c.anchor_weight, torch.zeros_like(c.anchor_weight))
        weight_sum = weight.sum(dim=1)
        active = weight_sum > TINY
        activation = (weight * amp[safe]).sum(dim=1) / weight_sum.clamp(min=TINY)
        # Quiet anchored oscillators receive more: need = 1 / (1 + A).
        share = weight / weight_sum.clamp(min=TINY)[:, None]
        gain = cfg.dt * cfg.topdown_energy_scale * activation[:, None] * share / (1.0 + amp[safe])
        gain = torch.where(valid & active[:, None], gain, torch.zeros_like(gain))
        delta.index_add_(0, safe.reshape(-1), gain.reshape(-1))
        # Exploration: a random oscillator gets lucky.
        nudge = active & (u <= p.random_energy_eps)
        bonus = torch.where(nudge, cfg.dt * 0.25 * cfg.topdown_energy_scale * activation,
                            torch.zeros_like(activation))
        delta.index_add_(0, lucky, bonus)
        return delta

    def _phase_update(self, c: CarrierState, coupling: Coupling, freq: torch.Tensor,
                      amp: torch.Tensor, phase: torch.Tensor, e_scale: float, p: ModeParams
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """Stage 6. Returns the new phases in [0, 2 pi) and each oscillator's summed tuning."""
        cfg = self.config
        n = int(freq.shape[0])
        cryst = c.state == CRYSTALLIZED
        cr, ci = c.complex_parts()
        boost = 1.0 + torch.where(cryst, torch.full_like(cr, cfg.crystallized_coupling_boost),
                                  torch.zeros_like(cr))
        gate = self._gate(c.gate_widths)
        drive_re, drive_im, total = oscillator_drive(coupling, c.frequencies, gate, boost * cr,
                                                     boost * ci, freq)
        # sum_k b T R sin(psi - theta) = Im(exp(-i theta) sum_k b T C_k).
        torque = amp * (drive_im * torch.cos(phase) - drive_re * torch.sin(phase))
        if cfg.topdown_phase_scale > 0.0 and bool(cryst.any()):
            index = c.anchor_index
            valid = (index >= 0) & (index < n) & cryst[:, None]
            safe = torch.where(valid, index, torch.zeros_like(index))
            psi = torch.atan2(ci, cr)
            pull = torch.sin(wrap_pi(psi[:, None] + c.anchor_offset - phase[safe]))
            pull = torch.where(valid, cfg.topdown_phase_scale * c.anchor_weight * pull,
                               torch.zeros_like(pull))
            torque = torque.index_add(0, safe.reshape(-1), pull.reshape(-1))
        noise = self._randn((n,))
        temp_factor = e_scale / (e_scale + 1.0)
        noise_scale = math.sqrt(max(2.0 * p.temperature * temp_factor * cfg.dt, 0.0))
        new_phase = phase + (freq + cfg.coupling_scale * torque) * cfg.dt + noise_scale * noise
        return wrap_two_pi(new_phase), total

    def _spawn_uncoupled(self, c: CarrierState, next_uid: int, freq: torch.Tensor,
                         amp: torch.Tensor, phase: torch.Tensor, total_tuning: torch.Tensor,
                         coupling: Coupling) -> tuple[CarrierState, int]:
        """Stage 7: one carrier per cluster of uncoupled oscillators, in frequency order.

        Walking the uncoupled oscillators by frequency, each cluster's leader is the first one
        more than gate_width_init above the previous leader; the carrier is born from the
        leader. Every member lies within one gate width of its leader (tuning >= e^-1, above any
        sensible uncoupled threshold) and leaders are more than one gate width apart.
        """
        cfg = self.config
        room = cfg.max_carriers - c.num_carriers
        is_uncoupled = total_tuning < cfg.uncoupled_threshold
        if room <= 0 or not bool(is_uncoupled.any()):
            return c, 0
        if coupling.order is not None:
            # The banded coupling already sorted every oscillator by frequency (stably); keeping
            # the uncoupled ones in that order equals a stable sort of their frequencies.
            by_frequency = coupling.order[is_uncoupled.index_select(0, coupling.order)]
        else:
            uncoupled = torch.nonzero(is_uncoupled).squeeze(1)
            by_frequency = uncoupled[torch.sort(freq[uncoupled], stable=True).indices]
        ordered_freq = freq.index_select(0, by_frequency)
        leaders = []
        position, count = 0, int(ordered_freq.numel())
        while position < count and len(leaders) < room:
            leaders.append(position)
            bound = ordered_freq[position] + cfg.gate_width_init
            position = int(torch.searchsorted(ordered_freq, bound.reshape(1), right=True))
        src = by_frequency[torch.tensor(leaders, dtype=torch.int64, device=self.device)]
        m = int(src.numel())
        born = self._born(
            c, next_uid, freq[src], torch.full((m,), cfg.gate_width_init, dtype=self.dtype,
                                               device=self.device),
            amp[src], phase[src], src, torch.zeros(m, dtype=self.dtype, device=self.device),
            amp[src])
        return born, m

    # Physics never changes excitations, so between injections the oscillators' frequencies are
    # the same tensor tick after tick; the banded coupling's sort of a million of them is reused
    # while that tensor is the same object, unwritten (tensors count in-place writes).
    def _frequency_sort_of(self, excitations: torch.Tensor):
        cached = self._sorted_frequencies
        if cached is None:
            return None
        reference, version, dtype, result = cached
        if (reference() is excitations and excitations._version == version
                and dtype == self.dtype):
            return result
        return None

    def _remember_frequency_sort(self, excitations: torch.Tensor, coupling: Coupling) -> None:
        self._sorted_frequencies = (weakref.ref(excitations), excitations._version, self.dtype,
                                    (coupling.sorted_freq, coupling.order))

    # ------------------------------------------------------------------ helpers
    def _born(self, c: CarrierState, next_uid: int, frequencies: torch.Tensor,
              gate_widths: torch.Tensor, amplitudes: torch.Tensor, phases: torch.Tensor,
              anchor: torch.Tensor, anchor_offset: torch.Tensor, anchor_weight: torch.Tensor
              ) -> CarrierState:
        """`c` plus m new volatile carriers in the lowest free slots, first anchor filled."""
        m = int(frequencies.shape[0])
        used = set(c.slot.tolist())
        free = [s for s in range(self.config.max_carriers) if s not in used][:m]
        if len(free) < m:
            raise RuntimeError("carrier capacity exceeded (internal error)")
        index = torch.full((m, ANCHOR_SLOTS), -1, dtype=torch.int64, device=self.device)
        offsets = torch.zeros((m, ANCHOR_SLOTS), dtype=self.dtype, device=self.device)
        weights = torch.zeros((m, ANCHOR_SLOTS), dtype=self.dtype, device=self.device)
        index[:, 0] = anchor
        offsets[:, 0] = anchor_offset
        weights[:, 0] = anchor_weight
        zeros = torch.zeros(m, dtype=self.dtype, device=self.device)
        izeros = torch.zeros(m, dtype=torch.int64, device=self.device)
        new = CarrierState(
            frequencies=frequencies.clone(), gate_widths=gate_widths.clone(),
            amplitudes=amplitudes.clone(), phases=phases.clone(), conflict=zeros,
            coherence=zeros.clone(), state=izeros, age=izeros.clone(), anchor_index=index,
            anchor_offset=offsets, anchor_weight=weights,
            slot=torch.tensor(free, dtype=torch.int64, device=self.device),
            uid=torch.arange(next_uid, next_uid + m, dtype=torch.int64, device=self.device),
            low_amp_ticks=izeros.clone(),
        )
        return CarrierState.concatenate(c, new)

    def _gate(self, widths: torch.Tensor) -> torch.Tensor:
        return widths.clamp(self.config.gate_width_min, self.config.gate_width_max)

    def _rand(self, count: int) -> torch.Tensor:
        return torch.rand(count, generator=self.generator, dtype=self.dtype, device=self.device)

    def _randn(self, shape: tuple[int, ...]) -> torch.Tensor:
        return torch.randn(shape, generator=self.generator, dtype=self.dtype, device=self.device)

    def _randint(self, high: int, count: int) -> torch.Tensor:
        return torch.randint(0, max(high, 1), (count,), generator=self.generator,
                             device=self.device)

    def _check_particles(self, particles: ParticleState) -> None:
        if not isinstance(particles, ParticleState):
            raise ValueError(f"particles must be a ParticleState; got {type(particles).__name__}")
        n = particles.num_particles
        for name in ("phases", "excitations", "energies"):
            value = getattr(particles, name)
            if not isinstance(value, torch.Tensor) or tuple(value.shape) != (n,):
                raise ValueError(f"particles.{name} must be a tensor of shape ({n},)")
            if not value.is_floating_point():
                raise ValueError(f"particles.{name} must be floating point; got {value.dtype}")
            if value.device.type != self.device.type:
                raise ValueError(f"particles.{name} is on {value.device}; the carrier engine "
                                 f"runs on {self.device}")
            if n and not bool(torch.isfinite(value).all()):
                raise ValueError(f"particles.{name} contains NaN or inf")


__all__ = ["MODES", "SpectralCarrierPhysics", "SpectralTick"]
