"""Compiled CPU loops (Numba) for the kick-drift-kick step, same results as `verlet.py`,
`contacts.py` and `stages.exchange_heat`.

Why: at the sizes the sensorium runs (a few hundred to a few thousand particles) a step is
dozens of small PyTorch operations, and their fixed cost (dispatch, allocation, one pass over
memory each) sets the time, not N. Here each pass over the particles, the pairs or the grid is
one loop. Particle passes run in parallel above `collision_kernels.PARALLEL_MIN` rows and
serially below it (threads cost more than they save on small arrays); pair and grid loops run
serially. Energy totals are summed from per-row arrays in a fixed order, so no result depends on
the thread count, and they come back as plain floats.

Each public function has the signature and result type of its PyTorch twin and is selected by
`ManifoldPhysics(kernels="numba")`; tests hold the two to 1e-9.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np
import torch

from thermo_manifold.physics import collision_kernels, mesh_kernels
from thermo_manifold.physics.collision_kernels import _jit, _twin, prange
from thermo_manifold.physics.config import PhysicsConfig
from thermo_manifold.physics.contacts import DashpotResult, SpringForces, damping_ratio
from thermo_manifold.physics.stages import HeatExchange
from thermo_manifold.physics.verlet import Dissipation, Drift, Kick

def _np(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().contiguous().numpy()


@_jit()
def _column_totals(rows):
    """Sum of each column of a (N, k) float64 array, in row order (repeatable)."""
    totals = np.zeros(rows.shape[1])
    for i in range(rows.shape[0]):
        for j in range(rows.shape[1]):
            totals[j] += rows[i, j]
    return totals


# ---------------------------------------------------------------------------- kicks and drift
def _kick_rows(v, m, gravity, spring, gravity_dt, spring_dt, max_acceleration, out, work):
    """out = v + clamped gravity * gravity_dt + spring / m * spring_dt; work[i] = (gravity,
    spring, clamp) work."""
    if gravity_dt == 0:
        # The springs-only kicks between a step's first and last substep: the same numbers as
        # the general loop with a zero gravity term (no clamp, no gravity or clamp work), at
        # a third of its cost.
        for i in prange(v.shape[0]):
            mi = m[i]
            spring_work = 0.0
            for d in range(3):
                s_step = spring[i, d] / mi * spring_dt
                new = v[i, d] + s_step
                spring_work += float(mi * s_step * (0.5 * (v[i, d] + new)))
                out[i, d] = new
            work[i, 0], work[i, 1], work[i, 2] = 0.0, spring_work, 0.0
        return
    for i in prange(v.shape[0]):
        gx, gy, gz = gravity[i, 0], gravity[i, 1], gravity[i, 2]
        magnitude = math.sqrt(gx * gx + gy * gy + gz * gz)
        clamp = min(max_acceleration / max(magnitude, 1e-30), 1.0)
        mi = m[i]
        gravity_work = 0.0
        spring_work = 0.0
        clamp_work = 0.0
        for d in range(3):
            g_step = gravity[i, d] * clamp * gravity_dt
            s_step = spring[i, d] / mi * spring_dt
            new = v[i, d] + g_step + s_step
            middle = 0.5 * (v[i, d] + new)
            gravity_work += float(mi * g_step * middle)
            spring_work += float(mi * s_step * middle)
            unclamped = v[i, d] + gravity[i, d] * gravity_dt + s_step
            clamp_work += float(0.5 * mi * ((new - unclamped) * (new + unclamped)))
            out[i, d] = new
        work[i, 0], work[i, 1], work[i, 2] = gravity_work, spring_work, clamp_work


_kick = _twin(_kick_rows)


def half_kick(velocities: torch.Tensor, masses: torch.Tensor, gravity: torch.Tensor | None,
              spring: torch.Tensor, gravity_dt: float, spring_dt: float,
              max_acceleration: float) -> Kick:
    """Numba twin of `verlet.half_kick`."""
    v = _np(velocities)
    out = np.empty_like(v)
    work = np.empty((v.shape[0], 3))
    t = v.dtype.type
    if gravity is None:
        g, gravity_dt = np.zeros_like(v), 0.0
    else:
        g = _np(gravity)
    _kick(v.shape[0], v, _np(masses), g, _np(spring), t(gravity_dt), t(spring_dt),
          t(max_acceleration), out, work)
    totals = _column_totals(work)  # energy totals are plain floats in the Numba twins
    return Kick(torch.from_numpy(out), float(totals[0]), float(totals[1]), float(totals[2]))


def _drift_rows(x, v, m, dt, box, inside, wall_restitution, new_x, new_v, loss):
    """x + v dt with the walls' mirror; loss[i] is the kinetic energy a bounce removed."""
    for i in prange(x.shape[0]):
        change = 0.0
        for d in range(3):
            vd = v[i, d]
            xd, vn = mesh_kernels._bounce(x[i, d] + vd * dt, vd, box[d], inside[d],
                                          wall_restitution)
            new_x[i, d], new_v[i, d] = xd, vn
            change += (vn - vd) * (vn + vd)
        loss[i] = -0.5 * m[i] * change


_drift = _twin(_drift_rows)


@functools.lru_cache(maxsize=8)
def _walls(domain: tuple[float, float, float], dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """The box edges and the largest coordinates strictly inside them, in the state's dtype."""
    box = np.asarray(domain, dtype=dtype)
    return box, np.nextafter(box, np.zeros_like(box))


def drift(positions: torch.Tensor, velocities: torch.Tensor, masses: torch.Tensor, dt: float,
          config: PhysicsConfig) -> Drift:
    """Numba twin of `verlet.drift`."""
    x, v, m = _np(positions), _np(velocities), _np(masses)
    box, inside = _walls(config.domain_size, x.dtype)
    new_x, new_v = np.empty_like(x), np.empty_like(v)
    loss = np.empty_like(m)
    _drift(x.shape[0], x, v, m, x.dtype.type(dt), box, inside,
           x.dtype.type(config.wall_restitution), new_x, new_v, loss)
    return Drift(torch.from_numpy(new_x), torch.from_numpy(new_v), torch.from_numpy(loss))


# ---------------------------------------------------------------------------- contacts
@_jit()
def _springs(left, right, pos, radius, k, forces):
    """forces += k delta n per touching pair (serial, pair order); returns U_c (float64) and
    the number of touching pairs."""
    potential = 0.0
    touching = 0
    for p in range(left.shape[0]):
        i, j = left[p], right[p]
        dx, dy, dz = pos[i, 0] - pos[j, 0], pos[i, 1] - pos[j, 1], pos[i, 2] - pos[j, 2]
        distance = np.sqrt(dx * dx + dy * dy + dz * dz)
        if not (distance > 1e-9 * radius and distance < 2.0 * radius):
            continue
        overlap = 2.0 * radius - distance
        push = k * overlap
        fx, fy, fz = push * (dx / distance), push * (dy / distance), push * (dz / distance)
        forces[i, 0] += fx
        forces[i, 1] += fy
        forces[i, 2] += fz
        forces[j, 0] -= fx
        forces[j, 1] -= fy
        forces[j, 2] -= fz
        potential += 0.5 * k * float(overlap) ** 2
        touching += 1
    return potential, touching


def spring_forces(left: torch.Tensor, right: torch.Tensor, positions: torch.Tensor,
                  radius: float, young_modulus: float) -> SpringForces:
    x = _np(positions)
    forces = np.zeros_like(x)
    potential, touching = _springs(_np(left), _np(right), x, x.dtype.type(radius),
                                   x.dtype.type(young_modulus), forces)
    return SpringForces(torch.from_numpy(forces), float(potential), int(touching))


@_jit()
def _dashpot(left, right, pos, vel, heats, masses, radius, k, zeta, dt, conductivity,
             conduction_dt, cv, headroom, new_vel, new_heats):
    """Exact exponential damping of every touching pair's normal velocity (simultaneous: read
    `vel`, accumulate into `new_vel`) and contact conduction with the donor limiter.
    Returns (pair losses, kinetic change) in float64."""
    pairs = left.shape[0]
    flow = np.zeros(pairs, heats.dtype)
    loss = np.zeros(pairs, heats.dtype)
    donor = np.full(pairs, -1, np.int64)
    given = np.zeros_like(heats)
    for p in range(pairs):
        i, j = left[p], right[p]
        dx, dy, dz = pos[i, 0] - pos[j, 0], pos[i, 1] - pos[j, 1], pos[i, 2] - pos[j, 2]
        distance = np.sqrt(dx * dx + dy * dy + dz * dz)
        if not (distance > 1e-9 * radius and distance < 2.0 * radius):
            continue
        nx, ny, nz = dx / distance, dy / distance, dz / distance
        overlap = 2.0 * radius - distance
        mi, mj = masses[i], masses[j]
        m_eff = mi * mj / (mi + mj)
        v_n = ((vel[i, 0] - vel[j, 0]) * nx + (vel[i, 1] - vel[j, 1]) * ny
               + (vel[i, 2] - vel[j, 2]) * nz)
        decay = np.exp(-2.0 * zeta * dt * np.sqrt(k / m_eff))
        impulse = m_eff * v_n * (1 - decay)
        new_vel[i, 0] -= nx * impulse / mi
        new_vel[i, 1] -= ny * impulse / mi
        new_vel[i, 2] -= nz * impulse / mi
        new_vel[j, 0] += nx * impulse / mj
        new_vel[j, 1] += ny * impulse / mj
        new_vel[j, 2] += nz * impulse / mj
        loss[p] = 0.5 * m_eff * v_n * v_n * (1 - decay * decay)
        donor[p] = i  # touching; a zero flow below when conduction is skipped
        if conduction_dt == 0:
            continue
        f = collision_kernels._pair_flow(heats[i], heats[j], mi, mj, cv, conductivity, overlap,
                                         conduction_dt)
        flow[p] = f
        donor[p] = j if f > 0 else i
        given[donor[p]] += abs(f)
    dissipated = 0.0
    for p in range(pairs):
        d = donor[p]
        if d < 0:
            continue
        f = collision_kernels._donor_limited(flow[p], heats[d], given[d], headroom)
        new_heats[left[p]] += 0.5 * loss[p] + f
        new_heats[right[p]] += 0.5 * loss[p] - f
        dissipated += float(loss[p])
    ke_change = 0.0
    for i in range(masses.shape[0]):
        for d in range(3):
            ke_change += float(0.5 * masses[i] * ((new_vel[i, d] - vel[i, d])
                                                  * (new_vel[i, d] + vel[i, d])))
    return dissipated, ke_change


def dashpot(left: torch.Tensor, right: torch.Tensor, positions: torch.Tensor,
            velocities: torch.Tensor, heats: torch.Tensor, masses: torch.Tensor, *,
            radius: float, young_modulus: float, restitution: float,
            thermal_conductivity: float, specific_heat: float, dt: float,
            conduction_dt: float | None = None) -> DashpotResult:
    """Numba twin of `contacts.dashpot`."""
    conduction_dt = dt if conduction_dt is None else conduction_dt
    x, v, q = _np(positions), _np(velocities), _np(heats)
    t = x.dtype.type
    new_v, new_q = v.copy(), q.copy()
    headroom = 1.0 - 64.0 * float(torch.finfo(heats.dtype).eps)
    dissipated, ke_change = _dashpot(
        _np(left), _np(right), x, v, q, _np(masses), t(radius), t(young_modulus),
        t(damping_ratio(restitution)), t(dt), t(thermal_conductivity), t(conduction_dt),
        t(specific_heat), t(headroom), new_v, new_q)
    return DashpotResult(torch.from_numpy(new_v), torch.from_numpy(new_q), float(dissipated),
                         float(ke_change + dissipated))


# ---------------------------------------------------------------------------- heat on the grid
@_jit()
def _diffuse(heat, capacity, number, diffused, gain, loss, temperature):
    """One conservative diffusion step (flux min(C_a, C_b) (T_a - T_b) across every interior
    face, none into empty cells or through walls) and what `distribute_to_particles` reads:
    gain per unit capacity, loss per unit heat, and the medium temperature after diffusion.

    Each cell sums the fluxes through its own six faces; both cells of a face compute the
    same flux with opposite signs (min is symmetric and a - b = -(b - a) exactly), so the heat
    one loses is exactly what the other gains. An empty cell exchanges nothing and is passed
    through in one comparison (most cells are empty at a few thousand particles)."""
    gx, gy, gz = heat.shape
    zero = heat.dtype.type(0)
    t = np.empty_like(heat)
    for a in range(gx):
        for b in range(gy):
            for c in range(gz):
                ca = capacity[a, b, c]
                t[a, b, c] = heat[a, b, c] / ca if ca > 0 else zero
    for a in range(gx):
        for b in range(gy):
            for c in range(gz):
                ca, qa = capacity[a, b, c], heat[a, b, c]
                if not ca > 0:
                    diffused[a, b, c] = qa
                    gain[a, b, c] = zero
                    loss[a, b, c] = zero
                    temperature[a, b, c] = zero
                    continue
                ta = t[a, b, c]
                change = zero
                if a > 0:
                    change += number * min(capacity[a - 1, b, c], ca) * (t[a - 1, b, c] - ta)
                if a + 1 < gx:
                    change -= number * min(ca, capacity[a + 1, b, c]) * (ta - t[a + 1, b, c])
                if b > 0:
                    change += number * min(capacity[a, b - 1, c], ca) * (t[a, b - 1, c] - ta)
                if b + 1 < gy:
                    change -= number * min(ca, capacity[a, b + 1, c]) * (ta - t[a, b + 1, c])
                if c > 0:
                    change += number * min(capacity[a, b, c - 1], ca) * (t[a, b, c - 1] - ta)
                if c + 1 < gz:
                    change -= number * min(ca, capacity[a, b, c + 1]) * (ta - t[a, b, c + 1])
                new = qa + change
                diffused[a, b, c] = new
                d = new - qa
                gain[a, b, c] = max(d, zero) / ca
                loss[a, b, c] = min(d, zero) / qa if qa > 0 else zero
                temperature[a, b, c] = new / ca


@_twin
def _hand_back(base, fractions, gain, loss, step_x, step_y, masses, cv, heats, new_heats):
    """Each particle's share of its cells' diffusion change: gains by heat capacity, losses by
    heat content (`thermal.distribute_to_particles`), both fields gathered in one pass."""
    one = fractions.dtype.type(1)
    for i in prange(base.shape[0]):
        rx, ry, rz = fractions[i, 0], fractions[i, 1], fractions[i, 2]
        gained = mesh_kernels._interpolate(mesh_kernels._corners(gain, base[i], step_x, step_y),
                                           rx, ry, rz, one)
        lost = mesh_kernels._interpolate(mesh_kernels._corners(loss, base[i], step_x, step_y),
                                         rx, ry, rz, one)
        new_heats[i] = heats[i] + (masses[i] * cv * gained + heats[i] * lost)


def exchange_heat(stencil: mesh_kernels.NumbaCloudInCell, heat_field: torch.Tensor,
                  capacity_field: torch.Tensor, heats: torch.Tensor, masses: torch.Tensor,
                  config: PhysicsConfig) -> HeatExchange:
    """Numba twin of `stages.exchange_heat`."""
    heat, capacity = _np(heat_field), _np(capacity_field)
    diffused, gain, loss, temperature = (np.empty_like(heat) for _ in range(4))
    _diffuse(heat, capacity, heat.dtype.type(config.diffusion_number), diffused, gain, loss,
             temperature)
    q = _np(heats)
    new_heats = np.empty_like(q)
    _hand_back(q.shape[0], stencil.base, stencil.fractions, gain.reshape(-1), loss.reshape(-1),
               *stencil.steps, _np(masses), q.dtype.type(config.specific_heat), q, new_heats)
    return HeatExchange(torch.from_numpy(new_heats), torch.from_numpy(diffused),
                        torch.from_numpy(temperature))


# ---------------------------------------------------------------------------- dissipation
def _dissipate_rows(temperature_gradient, heats, capped, gain_scale, capacity, energies, v, m,
                    radiation_coefficient, thermalize_rate, k_b, max_acceleration, dt,
                    drag_factor, max_speed, new_v, new_energies, new_heats, flows):
    """Conduction (already balanced and capped), radiation, thermalization, the pressure kick,
    drag and the speed limit; flows[i] = (pressure work, radiated, kinetic loss)."""
    for i in prange(v.shape[0]):
        change = capped[i] * gain_scale if capped[i] > 0 else capped[i]
        heat = heats[i] + change
        temperature = heat / capacity[i]
        squared = temperature * temperature
        radiated = min(radiation_coefficient * (squared * squared), heat)
        heat -= radiated
        moved = min(energies[i] * thermalize_rate, energies[i])
        new_energies[i] = energies[i] - moved
        heat += moved
        px = -k_b * temperature_gradient[i, 0]
        py = -k_b * temperature_gradient[i, 1]
        pz = -k_b * temperature_gradient[i, 2]
        magnitude = np.sqrt(px * px + py * py + pz * pz)
        clamp = min(max_acceleration / max(magnitude, 1e-30), 1.0)
        v0x, v0y, v0z = v[i, 0], v[i, 1], v[i, 2]
        v1x, v1y, v1z = v0x + px * clamp * dt, v0y + py * clamp * dt, v0z + pz * clamp * dt
        mi = m[i]
        pressure_work = 0.5 * mi * ((v1x - v0x) * (v1x + v0x) + (v1y - v0y) * (v1y + v0y)
                                    + (v1z - v0z) * (v1z + v0z))
        v2x, v2y, v2z = v1x * drag_factor, v1y * drag_factor, v1z * drag_factor
        speed = np.sqrt(v2x * v2x + v2y * v2y + v2z * v2z)
        limit = min(max_speed / max(speed, 1e-30), 1.0)
        v2x, v2y, v2z = v2x * limit, v2y * limit, v2z * limit
        lost = -0.5 * mi * ((v2x - v1x) * (v2x + v1x) + (v2y - v1y) * (v2y + v1y)
                            + (v2z - v1z) * (v2z + v1z))
        new_v[i, 0], new_v[i, 1], new_v[i, 2] = v2x, v2y, v2z
        new_heats[i] = heat + lost
        flows[i, 0], flows[i, 1], flows[i, 2] = pressure_work, radiated, lost


_dissipate = _twin(_dissipate_rows)


def dissipate(stencil: mesh_kernels.NumbaCloudInCell, temperature_field: torch.Tensor,
              capacity_field: torch.Tensor, velocities: torch.Tensor, masses: torch.Tensor,
              energies: torch.Tensor, heats: torch.Tensor, config: PhysicsConfig
              ) -> Dissipation:
    """Numba twin of `verlet.dissipate`."""
    cfg = config
    r, dt = cfg.particle_radius, cfg.dt
    q = _np(heats)
    t = q.dtype.type
    capacity = _np(masses) * t(cfg.specific_heat)
    local_temperature, temperature_gradient = stencil.gather_with_gradient(temperature_field)
    capped, gain_scale = mesh_kernels.balanced_conduction(stencil, local_temperature,
                                                          capacity_field, q, capacity, cfg)
    v = _np(velocities)
    new_v, new_e, new_q = np.empty_like(v), np.empty_like(q), np.empty_like(q)
    flows = np.empty((q.shape[0], 3))
    _dissipate(q.shape[0], temperature_gradient.numpy(), q, capped, gain_scale, capacity,
               _np(energies), v, _np(masses), t(cfg.emissivity * cfg.sigma_SB * r**2 * dt),
               t(dt / cfg.tau_thermalization), t(cfg.k_B), t(cfg.max_acceleration), t(dt),
               t(math.exp(-6.0 * math.pi * cfg.dynamic_viscosity * r * dt)), t(cfg.max_speed),
               new_v, new_e, new_q, flows)
    totals = _column_totals(flows)
    return Dissipation(torch.from_numpy(new_v), torch.from_numpy(new_e), torch.from_numpy(new_q),
                       float(totals[0]), float(totals[1]), float(totals[2]))


# ---------------------------------------------------------------------------- fused thermal part
# Below PARALLEL_MIN rows the thermal part of a step (heat field, diffusion, hand-back,
# conduction with the medium, radiation, thermalization, pressure kick, drag, speed limit) runs
# as one compiled call: the same passes as `exchange_heat` and `dissipate` above, in the same
# order and precision, without a trip through Python and PyTorch between them.
_scatter_serial = mesh_kernels._scatter.serial
_hand_back_serial = _hand_back.serial
_gather_with_gradient_serial = mesh_kernels._gather_with_gradient.serial
_conduction_raw_serial = mesh_kernels._conduction_raw.serial
_gather_ratio_serial = mesh_kernels._gather_ratio.serial
_dissipate_serial = _dissipate.serial
_conduction_balance_serial = _jit()(getattr(mesh_kernels._conduction_balance, "py_func",
                                            mesh_kernels._conduction_balance))


@_jit()
def _scatter_field(base, fractions, values, step_x, step_y, cells, chunks):
    """`NumbaCloudInCell.scatter` as a flat field: `chunks` private grids, summed in order."""
    partial = np.zeros((chunks, cells), fractions.dtype)
    _scatter_serial(base, fractions, values, step_x, step_y, partial)
    field = partial[0]
    for chunk in range(1, chunks):
        field += partial[chunk]
    return field


@_jit()
def _thermal_part(base, fractions, step_x, step_y, grid, chunks, spacing, mass_field, heats,
                  masses, energies, velocities, cv, diffusion_number, coefficient_dt,
                  radiation_coefficient, thermalize_rate, k_b, max_acceleration, dt,
                  drag_factor, max_speed, new_v, new_e, new_q, flows):
    """Heat exchange with the grid, then the dissipative part. Returns the capacity, diffused
    heat and temperature fields (flat)."""
    n = heats.shape[0]
    cells = mass_field.shape[0]
    heat_field = _scatter_field(base, fractions, heats, step_x, step_y, cells, chunks)
    capacity_field = mass_field * cv
    diffused, gain, loss, temperature = (np.empty_like(heat_field), np.empty_like(heat_field),
                                         np.empty_like(heat_field), np.empty_like(heat_field))
    _diffuse(heat_field.reshape(grid), capacity_field.reshape(grid), diffusion_number,
             diffused.reshape(grid), gain.reshape(grid), loss.reshape(grid),
             temperature.reshape(grid))
    exchanged = np.empty_like(heats)
    _hand_back_serial(base, fractions, gain, loss, step_x, step_y, masses, cv, heats, exchanged)

    capacity = masses * cv
    local_temperature, gradient = np.empty_like(heats), np.empty((n, 3), heats.dtype)
    _gather_with_gradient_serial(base, fractions, temperature, step_x, step_y, spacing,
                                 local_temperature, gradient)
    raw = np.empty_like(heats)
    _conduction_raw_serial(local_temperature, exchanged, capacity, coefficient_dt, raw)
    imbalance = _scatter_field(base, fractions, raw, step_x, step_y, cells, chunks)
    share = np.empty_like(heats)
    _gather_ratio_serial(base, fractions, imbalance, capacity_field, step_x, step_y,
                         share)
    capped = np.empty_like(heats)
    surplus, total_gain = _conduction_balance_serial(share, raw, exchanged, capacity, capped)
    gain_scale = 1.0 - surplus / total_gain if total_gain > 0 else 1.0
    _dissipate_serial(gradient, exchanged, capped, gain_scale, capacity, energies, velocities,
                      masses, radiation_coefficient, thermalize_rate, k_b, max_acceleration, dt,
                      drag_factor, max_speed, new_v, new_e, new_q, flows)
    return capacity_field, diffused, temperature


class ThermalPart(NamedTuple):
    velocities: torch.Tensor
    energies: torch.Tensor
    heats: torch.Tensor
    pressure_work: float
    radiated: float
    dissipated: float
    capacity_field: torch.Tensor
    diffused: torch.Tensor  # heat field after diffusion
    temperature: torch.Tensor


def thermal_part(stencil: mesh_kernels.NumbaCloudInCell, mass_field: torch.Tensor,
                 velocities: torch.Tensor, masses: torch.Tensor, energies: torch.Tensor,
                 heats: torch.Tensor, config: PhysicsConfig) -> ThermalPart:
    """`exchange_heat` then `dissipate` in one compiled call (serial: for small N)."""
    cfg = config
    r, dt = cfg.particle_radius, cfg.dt
    q = _np(heats)
    t = q.dtype.type
    v = _np(velocities)
    new_v, new_e, new_q = np.empty_like(v), np.empty_like(q), np.empty_like(q)
    flows = np.empty((q.shape[0], 3))
    capacity_field, diffused, temperature = _thermal_part(
        stencil.base, stencil.fractions, *stencil.steps, stencil.grid_size,
        stencil.scatter_chunks(), stencil.spacing, stencil._flat(mass_field), q, _np(masses),
        _np(energies), v, t(cfg.specific_heat), t(cfg.diffusion_number),
        t(cfg.thermal_conductivity * r * dt), t(cfg.emissivity * cfg.sigma_SB * r**2 * dt),
        t(dt / cfg.tau_thermalization), t(cfg.k_B), t(cfg.max_acceleration), t(dt),
        t(math.exp(-6.0 * math.pi * cfg.dynamic_viscosity * r * dt)), t(cfg.max_speed),
        new_v, new_e, new_q, flows)
    totals = _column_totals(flows)
    grid = stencil.grid_size
    return ThermalPart(torch.from_numpy(new_v), torch.from_numpy(new_e), torch.from_numpy(new_q),
                       float(totals[0]), float(totals[1]), float(totals[2]),
                       torch.from_numpy(capacity_field).reshape(grid),
                       torch.from_numpy(diffused).reshape(grid),
                       torch.from_numpy(temperature).reshape(grid))


__all__ = ["ThermalPart", "dashpot", "dissipate", "drift", "exchange_heat", "half_kick",
           "spring_forces", "thermal_part"]


# ---------------------------------------------------------------------------- fused substeps
# Below PARALLEL_MIN rows the engine runs a step's contact substeps in one compiled call instead
# of five calls per substep: the per-call cost (argument checks, allocations, small tensors) is
# what a substep of a few thousand particles spent most of its time on. Same arithmetic as the
# separate passes.
_kick_serial = _kick.serial
_drift_serial = _drift.serial


@_jit()
def _substep_head(v, m, gravity, spring, gravity_dt, spring_dt, max_acceleration, x, h, box,
                  inside, wall_restitution, origin, heats, kicked, work, new_x, new_v, loss,
                  new_heats):
    """Half kick, drift with the walls, wall losses into the heats. Returns the gravity and
    clamp work, the wall loss and the largest squared displacement from `origin`."""
    _kick_serial(v, m, gravity, spring, gravity_dt, spring_dt, max_acceleration, kicked, work)
    _drift_serial(x, kicked, m, h, box, inside, wall_restitution, new_x, new_v, loss)
    gravity_work = 0.0
    clamp_work = 0.0
    lost = 0.0
    moved = 0.0
    for i in range(x.shape[0]):
        gravity_work += work[i, 0]
        clamp_work += work[i, 2]
        lost += float(loss[i])
        new_heats[i] = heats[i] + loss[i]
        d = 0.0
        for axis in range(3):
            step = float(new_x[i, axis] - origin[i, axis])
            d += step * step
        moved = max(moved, d)
    return gravity_work, clamp_work, lost, moved


@_jit()
def _substep_tail(left, right, x, radius, k, springs_too, spring, v, m, gravity, gravity_dt,
                  spring_dt, max_acceleration, heats, zeta, h, conductivity, conduction_dt, cv,
                  headroom, kicked, work, new_v, new_heats):
    """Springs at x (unless given), half kick, dashpots over h. Returns U_c, touching pairs,
    gravity and clamp work, the dashpots' loss and the kinetic change."""
    potential, touching = 0.0, 0
    if springs_too:
        spring[:] = 0
        potential, touching = _springs(left, right, x, radius, k, spring)
    _kick_serial(v, m, gravity, spring, gravity_dt, spring_dt, max_acceleration, kicked, work)
    gravity_work = 0.0
    clamp_work = 0.0
    for i in range(v.shape[0]):
        gravity_work += work[i, 0]
        clamp_work += work[i, 2]
    new_v[:] = kicked
    new_heats[:] = heats
    dissipated, ke_change = _dashpot(left, right, x, kicked, heats, m, radius, k, zeta, h,
                                     conductivity, conduction_dt, cv, headroom, new_v,
                                     new_heats)
    return potential, touching, gravity_work, clamp_work, dissipated, ke_change


@_jit()
def _substep_run(index, substeps, x, v, q, m, gravity, spring, gravity_dt, spring_dt,
                 max_acceleration, h, box, inside, wall_restitution, origin, limit, left, right,
                 radius, k, zeta, conductivity, cv, headroom, sums):
    """Substeps `index`, `index` + 1, ... in one call: each a head, then (except the last) a
    tail with fresh springs, no gravity and no conduction. Stops after the head of the last
    substep (its tail needs the forces at the new positions) or after a head that moved some
    particle more than sqrt(limit) from `origin` (the pair list must be rebuilt before the
    tail). Adds gravity work, clamp work, losses and contact work to `sums` in the order the
    separate calls would. Returns the substep it stopped at, whether the list ran out, and
    the arrays it ended with."""
    n = x.shape[0]
    kicked, work, loss = np.empty_like(v), np.empty((n, 3)), np.empty_like(m)
    zeros = np.zeros_like(x)
    zero = x.dtype.type(0)
    while True:
        first = index == 0
        new_x, new_v, new_q = np.empty_like(x), np.empty_like(v), np.empty_like(q)
        gravity_work, clamp_work, lost, moved = _substep_head(
            v, m, gravity if first else zeros, spring, gravity_dt if first else zero, spring_dt,
            max_acceleration, x, h, box, inside, wall_restitution, origin, q, kicked, work,
            new_x, new_v, loss, new_q)
        x, v, q = new_x, new_v, new_q
        sums[0] += gravity_work
        sums[1] += clamp_work
        sums[2] += lost
        ran_out = moved > limit
        if ran_out or index == substeps - 1:
            return index, ran_out, x, v, q, spring
        new_spring, new_v, new_q = np.empty_like(x), np.empty_like(v), np.empty_like(q)
        _, _, gravity_work, clamp_work, lost, kinetic = _substep_tail(
            left, right, x, radius, k, True, new_spring, v, m, zeros, zero, spring_dt,
            max_acceleration, q, zeta, h, conductivity, zero, cv, headroom, kicked, work, new_v,
            new_q)
        spring, v, q = new_spring, new_v, new_q
        sums[0] += gravity_work
        sums[1] += clamp_work
        sums[2] += lost
        sums[3] += kinetic + lost
        index += 1


class FusedSubsteps:
    """The engine's contact substeps for one step (CPU, fewer than PARALLEL_MIN particles):
    `run` does every substep up to the last one's tail in one compiled call (two when the pair
    list runs out), `tail` the last tail. Same arithmetic as the engine's generic loop."""

    def __init__(self, positions: torch.Tensor, velocities: torch.Tensor, heats: torch.Tensor,
                 masses: torch.Tensor, config: PhysicsConfig, h: float):
        cfg = config
        self.x, self.v, self.q = _np(positions), _np(velocities), _np(heats)
        self.m = _np(masses)
        t = self.x.dtype.type
        self.t, self.cfg, self.h = t, cfg, h
        self.box, self.inside = _walls(cfg.domain_size, self.x.dtype)
        self.zeros = np.zeros_like(self.x)
        self.kicked = np.empty_like(self.v)
        self.work = np.empty((self.x.shape[0], 3))
        self.zeta = t(damping_ratio(cfg.restitution))
        self.headroom = t(1.0 - 64.0 * float(torch.finfo(heats.dtype).eps))
        # gravity work, clamp work, losses, contact work of the substeps so far (float64)
        self.sums = np.zeros(4)

    def run(self, index: int, substeps: int, gravity: torch.Tensor, spring: torch.Tensor,
            origin: np.ndarray, limit: float, pairs: tuple[torch.Tensor, torch.Tensor]
            ) -> tuple[int, bool, torch.Tensor]:
        """Heads and tails from substep `index` on, in one compiled call (`_substep_run`):
        returns the substep it stopped at, whether the pair list must be rebuilt before that
        substep's tail, and the springs it ended with. The last tail is `tail`'s."""
        cfg, t = self.cfg, self.t
        index, ran_out, self.x, self.v, self.q, forces = _substep_run(
            index, substeps, self.x, self.v, self.q, self.m, _np(gravity), _np(spring),
            t(0.5 * cfg.dt), t(0.5 * self.h), t(cfg.max_acceleration), t(self.h), self.box,
            self.inside, t(cfg.wall_restitution), origin, float(limit), _np(pairs[0]),
            _np(pairs[1]), t(cfg.particle_radius), t(cfg.young_modulus), self.zeta,
            t(cfg.thermal_conductivity), t(cfg.specific_heat), self.headroom, self.sums)
        return index, ran_out, torch.from_numpy(forces)

    def tail(self, pairs: tuple[torch.Tensor, torch.Tensor], gravity: torch.Tensor | None,
             spring: torch.Tensor | None, conduction_dt: float) -> torch.Tensor:
        """The tail of one substep: springs at the current positions (unless `spring` is
        given), the half kick (with `gravity` on the last substep), the dashpots, and contact
        conduction over `conduction_dt`. Adds to `sums`; returns the springs."""
        cfg, t = self.cfg, self.t
        own = spring is None
        forces = np.empty_like(self.x) if own else _np(spring)
        new_v, new_q = np.empty_like(self.v), np.empty_like(self.q)
        g = self.zeros if gravity is None else _np(gravity)
        result = _substep_tail(
            _np(pairs[0]), _np(pairs[1]), self.x, t(cfg.particle_radius), t(cfg.young_modulus),
            own, forces, self.v, self.m, g, t(0.5 * cfg.dt if gravity is not None else 0.0),
            t(0.5 * self.h), t(cfg.max_acceleration), self.q, self.zeta, t(self.h),
            t(cfg.thermal_conductivity), t(conduction_dt), t(cfg.specific_heat), self.headroom,
            self.kicked, self.work, new_v, new_q)
        self.v, self.q = new_v, new_q
        _, _, gravity_work, clamp_work, lost, kinetic = result
        self.sums += (gravity_work, clamp_work, lost, kinetic + lost)
        return torch.from_numpy(forces)
