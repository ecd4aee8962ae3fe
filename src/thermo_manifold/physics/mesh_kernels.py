"""Compiled CPU loops (Numba) for particle <-> grid transfers, same results as `grid.py`.

`grid.CloudInCell` materialises every particle's eight node indices and weights, (N, 8) each,
and then moves them through memory on every scatter and gather. Here the stencil of a particle
is stored compactly instead: the flat index of its base node (int32) and its three fractional
offsets, 16 bytes for float32 states, computed once per step (all transfers of a step use the
positions the step started from) and read by every later pass. The eight corners follow from
fixed offsets, so a gather is eight loads and a few multiply-adds.

`NumbaCloudInCell` offers the methods the physics stages call on a `grid.CloudInCell`
(`scatter`, `gather`, `gather_with_gradient`), so the stage functions run unchanged on either.
Scatters deposit fixed chunks of particles into private grids in parallel and sum them in a
fixed order, so results do not depend on the thread count; gathers only read the grid.
Arithmetic runs in the state's dtype, as in the PyTorch path.
"""

from __future__ import annotations

import numpy as np
import torch

from thermo_manifold.physics.collision_kernels import AVAILABLE, _jit, _twin, prange

SCATTER_CHUNKS = 8
SCATTER_CHUNK_ROWS = 16_384


@_twin
def _stencil(positions, spacing, gx, gy, gz, base, fractions):
    """Base node (flat index) and offsets along x, y, z of every particle's stencil.

    Nodes sit at cell centres; the grid coordinate u = x / h - 1/2 is clamped to [0, g - 1] and
    the base node to g - 2, as in `grid.cloud_in_cell`."""
    zero, half, one = (positions.dtype.type(0), positions.dtype.type(0.5),
                       positions.dtype.type(1))
    ux_max = positions.dtype.type(gx - 1)
    uy_max = positions.dtype.type(gy - 1)
    uz_max = positions.dtype.type(gz - 1)
    for i in prange(positions.shape[0]):
        ux = min(max(positions[i, 0] / spacing - half, zero), ux_max)
        uy = min(max(positions[i, 1] / spacing - half, zero), uy_max)
        uz = min(max(positions[i, 2] / spacing - half, zero), uz_max)
        bx = min(np.floor(ux), ux_max - one)
        by = min(np.floor(uy), uy_max - one)
        bz = min(np.floor(uz), uz_max - one)
        fractions[i, 0] = ux - bx
        fractions[i, 1] = uy - by
        fractions[i, 2] = uz - bz
        base[i] = (int(bx) * gy + int(by)) * gz + int(bz)


@_jit(inline="always")
def _corners(field, node, step_x, step_y):
    """The eight node values of a stencil, in corner order c_abc (a, b, c along x, y, z)."""
    return (field[node], field[node + 1], field[node + step_y], field[node + step_y + 1],
            field[node + step_x], field[node + step_x + 1], field[node + step_x + step_y],
            field[node + step_x + step_y + 1])


@_jit(inline="always")
def _interpolate(c, rx, ry, rz, one):
    """Trilinear value of corner values `c` at offsets (rx, ry, rz)."""
    qx, qy, qz = one - rx, one - ry, one - rz
    return (qx * (qy * (qz * c[0] + rz * c[1]) + ry * (qz * c[2] + rz * c[3]))
            + rx * (qy * (qz * c[4] + rz * c[5]) + ry * (qz * c[6] + rz * c[7])))


@_jit(inline="always")
def _gradient(c, rx, ry, rz, one, spacing):
    """Exact gradient of the trilinear interpolant (differences of opposite faces)."""
    qx, qy, qz = one - rx, one - ry, one - rz
    gx = (qy * (qz * (c[4] - c[0]) + rz * (c[5] - c[1]))
          + ry * (qz * (c[6] - c[2]) + rz * (c[7] - c[3])))
    gy = (qx * (qz * (c[2] - c[0]) + rz * (c[3] - c[1]))
          + rx * (qz * (c[6] - c[4]) + rz * (c[7] - c[5])))
    gz = (qx * (qy * (c[1] - c[0]) + ry * (c[3] - c[2]))
          + rx * (qy * (c[5] - c[4]) + ry * (c[7] - c[6])))
    return gx / spacing, gy / spacing, gz / spacing


@_twin
def _scatter(base, fractions, values, step_x, step_y, partial):
    """Deposit into `partial` (chunks, cells): chunk c of the particles, in order, into row c.

    The chunks run in parallel without sharing a grid; the caller sums the rows in a fixed order,
    so the result depends on the number of chunks (fixed by the grid size), not on threads."""
    n, chunks = base.shape[0], partial.shape[0]
    one = fractions.dtype.type(1)
    for chunk in prange(chunks):
        out = partial[chunk]
        for i in range(chunk * n // chunks, (chunk + 1) * n // chunks):
            node = base[i]
            rx, ry, rz = fractions[i, 0], fractions[i, 1], fractions[i, 2]
            qx, qy, qz = one - rx, one - ry, one - rz
            value = values[i]
            w = qx * qy * value
            out[node] += w * qz
            out[node + 1] += w * rz
            w = qx * ry * value
            out[node + step_y] += w * qz
            out[node + step_y + 1] += w * rz
            w = rx * qy * value
            out[node + step_x] += w * qz
            out[node + step_x + 1] += w * rz
            w = rx * ry * value
            out[node + step_x + step_y] += w * qz
            out[node + step_x + step_y + 1] += w * rz


@_twin
def _gather(base, fractions, field, step_x, step_y, values):
    """Trilinear value of `field` at every particle."""
    one = fractions.dtype.type(1)
    for i in prange(base.shape[0]):
        c = _corners(field, base[i], step_x, step_y)
        values[i] = _interpolate(c, fractions[i, 0], fractions[i, 1], fractions[i, 2], one)


@_twin
def _gather_ratio(base, fractions, numerator, denominator, step_x, step_y, values):
    """Trilinear value of numerator / denominator (0 where denominator is not positive) at
    every particle, without forming the ratio over the whole grid: only the particles' corners
    are read, which at a few thousand particles on 32^3 is a small part of the grid."""
    one = fractions.dtype.type(1)
    zero = fractions.dtype.type(0)
    for i in prange(base.shape[0]):
        top = _corners(numerator, base[i], step_x, step_y)
        bottom = _corners(denominator, base[i], step_x, step_y)
        c = (top[0] / bottom[0] if bottom[0] > 0 else zero,
             top[1] / bottom[1] if bottom[1] > 0 else zero,
             top[2] / bottom[2] if bottom[2] > 0 else zero,
             top[3] / bottom[3] if bottom[3] > 0 else zero,
             top[4] / bottom[4] if bottom[4] > 0 else zero,
             top[5] / bottom[5] if bottom[5] > 0 else zero,
             top[6] / bottom[6] if bottom[6] > 0 else zero,
             top[7] / bottom[7] if bottom[7] > 0 else zero)
        values[i] = _interpolate(c, fractions[i, 0], fractions[i, 1], fractions[i, 2], one)


@_twin
def _gather_with_gradient(base, fractions, field, step_x, step_y, spacing, values, gradients):
    """Trilinear value and the exact gradient of the interpolant at every particle."""
    one = fractions.dtype.type(1)
    for i in prange(base.shape[0]):
        c = _corners(field, base[i], step_x, step_y)
        rx, ry, rz = fractions[i, 0], fractions[i, 1], fractions[i, 2]
        values[i] = _interpolate(c, rx, ry, rz, one)
        gradients[i, 0], gradients[i, 1], gradients[i, 2] = _gradient(c, rx, ry, rz, one,
                                                                      spacing)


@_jit()
def _interior_gravity(positions, masses, local_phi, gradients, spacing, gx, gy, gz, gravity):
    """gravity = -grad phi along every axis where the particle's grid coordinate
    x / h - 1/2 lies strictly inside (0, g - 1), 0 in the outer half-cells (the clamped
    interpolant is flat there); returns 1/2 sum m phi in float64."""
    half = positions.dtype.type(0.5)
    tops = (positions.dtype.type(gx - 1), positions.dtype.type(gy - 1),
            positions.dtype.type(gz - 1))
    potential = 0.0
    for i in range(positions.shape[0]):
        for axis in range(3):
            u = positions[i, axis] / spacing - half
            inside = u > 0 and u < tops[axis]
            gravity[i, axis] = -gradients[i, axis] if inside else 0
        potential += float(masses[i] * local_phi[i])
    return 0.5 * potential


class NumbaCloudInCell:
    """The cloud-in-cell stencil of N particles on one grid, stored compactly (CPU)."""

    def __init__(self, positions: torch.Tensor, grid_size: tuple[int, int, int],
                 spacing: float):
        if not AVAILABLE:
            raise RuntimeError("numba is not installed; use grid.cloud_in_cell")
        x = positions.detach().contiguous().numpy()
        self.grid_size = tuple(int(g) for g in grid_size)
        gx, gy, gz = self.grid_size
        self.spacing = x.dtype.type(spacing)
        self.steps = (gy * gz, gz)  # flat-index offsets of +1 along x and along y
        index_type = np.int32 if gx * gy * gz < 2**31 else np.int64
        self.base = np.empty(x.shape[0], index_type)
        self.fractions = np.empty_like(x)
        self.dtype = positions.dtype
        _stencil(x.shape[0], x, self.spacing, gx, gy, gz, self.base, self.fractions)

    @property
    def num_particles(self) -> int:
        return self.base.shape[0]

    def _flat(self, field: torch.Tensor) -> np.ndarray:
        """A grid field as a flat array of the particles' dtype."""
        return field.detach().to(self.dtype).contiguous().reshape(-1).numpy()

    def scatter_chunks(self) -> int:
        """How many private grids a scatter deposits into: up to 8 (at most 32 Mi cells in
        all), parallel without atomics; one grid per SCATTER_CHUNK_ROWS particles at least,
        since zeroing and summing private grids costs more than a small scatter itself. Fixed
        by the problem, not the threads."""
        cells = int(np.prod(self.grid_size))
        return max(1, min(SCATTER_CHUNKS, (1 << 25) // cells,
                          -(-self.num_particles // SCATTER_CHUNK_ROWS)))

    @torch.compiler.disable
    def scatter(self, values: torch.Tensor) -> torch.Tensor:
        """Deposit per-particle `values` (N,); the grid total equals values.sum()."""
        cells = int(np.prod(self.grid_size))
        chunks = self.scatter_chunks()
        partial = np.zeros((chunks, cells), dtype=self.fractions.dtype)
        _scatter(self.num_particles, self.base, self.fractions,
                 values.detach().contiguous().numpy(), *self.steps, partial)
        if chunks == 1:
            return torch.from_numpy(partial[0]).reshape(self.grid_size)
        return torch.from_numpy(partial).sum(dim=0).reshape(self.grid_size)

    @torch.compiler.disable
    def gather(self, field: torch.Tensor) -> torch.Tensor:
        values = np.empty(self.num_particles, dtype=self.fractions.dtype)
        _gather(self.num_particles, self.base, self.fractions, self._flat(field), *self.steps,
                values)
        return torch.from_numpy(values)

    @torch.compiler.disable
    def gravity(self, positions: torch.Tensor, masses: torch.Tensor, potential: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, float]:
        """The potential's value at every particle, the acceleration -grad phi (zero along
        an axis where the particle sits in an outer half-cell) and 1/2 sum m phi."""
        values, gradients = self.gather_with_gradient(potential)
        acceleration = np.empty_like(self.fractions)
        gx, gy, gz = self.grid_size
        energy = _interior_gravity(positions.detach().contiguous().numpy(),
                                   masses.detach().contiguous().numpy(), values.numpy(),
                                   gradients.numpy(), self.spacing, gx, gy, gz, acceleration)
        return values, torch.from_numpy(acceleration), float(energy)

    @torch.compiler.disable
    def gather_ratio(self, numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
        """gather(numerator / denominator where denominator > 0, else 0), same values."""
        values = np.empty(self.num_particles, dtype=self.fractions.dtype)
        _gather_ratio(self.num_particles, self.base, self.fractions, self._flat(numerator),
                      self._flat(denominator), *self.steps, values)
        return torch.from_numpy(values)

    @torch.compiler.disable
    def gather_with_gradient(self, field: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        values = np.empty(self.num_particles, dtype=self.fractions.dtype)
        gradients = np.empty_like(self.fractions)
        _gather_with_gradient(self.num_particles, self.base, self.fractions, self._flat(field),
                              *self.steps, self.spacing, values, gradients)
        return torch.from_numpy(values), torch.from_numpy(gradients)


# ----------------------------------------------------------------------------------------------
# Stage 4 (particle update). Same physics, in the same order, as `stages.update_particles`
# (read that first). The grid values come first, each field in its own gather pass; then three
# elementwise passes that read no grid, with a boundary wherever the torch version needs a
# grid-wide result: the conduction imbalance per cell, and the totals of the non-negativity
# limiter. Measured at N = 1e6, one pass doing the gathers and the arithmetic together took
# 40 ms; the split takes 9 + 17 ms. Energy totals are accumulated in float64.


@_twin
def _conduction_raw(local_temperature, heats, capacity, coefficient_dt, raw):
    """Pass 1: relaxation towards the local medium temperature, at most the whole gap."""
    one = heats.dtype.type(1)
    for i in prange(heats.shape[0]):
        fraction = min(coefficient_dt / capacity[i], one)
        raw[i] = fraction * capacity[i] * (local_temperature[i] - heats[i] / capacity[i])


@_jit(parallel=True)
def _conduction_balance(share, raw, heats, capacity, capped):
    """Pass 2: return each cell's net exchange to its particles by capacity (`share` is the
    gathered imbalance per unit capacity), cap every particle at the heat it holds; returns the
    capped surplus and the total gain."""
    surplus = 0.0
    total_gain = 0.0
    for i in prange(heats.shape[0]):
        balanced = raw[i] - capacity[i] * share[i]
        limited = max(balanced, -heats[i])
        capped[i] = limited
        surplus += float(limited) - float(balanced)
        total_gain += max(float(limited), 0.0)
    return surplus, total_gain


def balanced_conduction(stencil: NumbaCloudInCell, local_temperature: torch.Tensor,
                        capacity_field: torch.Tensor, heats: np.ndarray, capacity: np.ndarray,
                        config) -> tuple[np.ndarray, float]:
    """Passes 1 and 2 of conduction with the medium (`thermal.conduct`): each particle's
    relaxation, each cell's imbalance returned by capacity, capped at the heat a particle
    holds. Returns the capped changes and the scale the gains take (apply gains * scale)."""
    cfg = config
    raw = np.empty_like(heats)
    _conduction_raw(heats.shape[0], local_temperature.numpy(), heats, capacity,
                    heats.dtype.type(cfg.thermal_conductivity * cfg.particle_radius * cfg.dt),
                    raw)
    imbalance = stencil.scatter(torch.from_numpy(raw))
    per_capacity = stencil.gather_ratio(imbalance, capacity_field)
    capped = np.empty_like(heats)
    surplus, total_gain = _conduction_balance(per_capacity.numpy(), raw, heats, capacity,
                                              capped)
    return capped, (1.0 - surplus / total_gain if total_gain > 0 else 1.0)


@_jit(inline="always")
def _bounce(x, v, length, inside, wall_restitution):
    """Mirror a coordinate that left [0, length) and reverse (and damp) its velocity."""
    if x < 0.0:
        x, v = -x, -wall_restitution * v
    elif x >= length:
        x, v = 2.0 * length - x, -wall_restitution * v
    return min(max(x, 0.0), inside), v


@_jit(parallel=True)
def _move(temperature_gradient, potential, potential_gradient, positions, velocities, masses,
          energies, heats, capped, gain_scale, capacity, radiation_coefficient, thermalize_rate,
          k_b, max_acceleration, dt, drag_factor, max_speed, box, inside, wall_restitution,
          new_positions, new_velocities, new_energies, new_heats):
    """Pass 3: conduction, radiation, thermalization, kicks, drag, speed clamp, drift, walls,
    from the gathered potential and gradients. Returns the energy totals of the ledger
    (float64)."""
    gravity_work = 0.0
    pressure_work = 0.0
    radiated_total = 0.0
    dissipated = 0.0
    potential_total = 0.0
    for i in prange(positions.shape[0]):
        gtx, gty, gtz = (temperature_gradient[i, 0], temperature_gradient[i, 1],
                         temperature_gradient[i, 2])
        gpx, gpy, gpz = (potential_gradient[i, 0], potential_gradient[i, 1],
                         potential_gradient[i, 2])
        m = masses[i]
        potential_total += 0.5 * m * potential[i]

        change = capped[i] * gain_scale if capped[i] > 0 else capped[i]
        heat = heats[i] + change
        temperature = heat / capacity[i]
        squared = temperature * temperature
        radiated = min(radiation_coefficient * (squared * squared), heat)
        heat -= radiated
        radiated_total += radiated
        moved = min(energies[i] * thermalize_rate, energies[i])
        new_energies[i] = energies[i] - moved
        heat += moved

        agx, agy, agz = -gpx, -gpy, -gpz
        apx, apy, apz = -k_b * gtx, -k_b * gty, -k_b * gtz
        ax, ay, az = agx + apx, agy + apy, agz + apz
        magnitude = np.sqrt(ax * ax + ay * ay + az * az)
        clamp = min(max_acceleration / max(magnitude, 1e-30), 1.0)
        v0x, v0y, v0z = velocities[i, 0], velocities[i, 1], velocities[i, 2]
        v1x, v1y, v1z = (v0x + agx * clamp * dt, v0y + agy * clamp * dt,
                         v0z + agz * clamp * dt)
        v2x, v2y, v2z = (v1x + apx * clamp * dt, v1y + apy * clamp * dt,
                         v1z + apz * clamp * dt)
        gravity_work += 0.5 * m * ((v1x - v0x) * (v1x + v0x) + (v1y - v0y) * (v1y + v0y)
                                   + (v1z - v0z) * (v1z + v0z))
        pressure_work += 0.5 * m * ((v2x - v1x) * (v2x + v1x) + (v2y - v1y) * (v2y + v1y)
                                    + (v2z - v1z) * (v2z + v1z))

        v3x, v3y, v3z = v2x * drag_factor, v2y * drag_factor, v2z * drag_factor
        speed = np.sqrt(v3x * v3x + v3y * v3y + v3z * v3z)
        limit = min(max_speed / max(speed, 1e-30), 1.0)
        v3x, v3y, v3z = v3x * limit, v3y * limit, v3z * limit
        loss = -0.5 * m * ((v3x - v2x) * (v3x + v2x) + (v3y - v2y) * (v3y + v2y)
                           + (v3z - v2z) * (v3z + v2z))
        x, vx = _bounce(positions[i, 0] + v3x * dt, v3x, box[0], inside[0], wall_restitution)
        y, vy = _bounce(positions[i, 1] + v3y * dt, v3y, box[1], inside[1], wall_restitution)
        z, vz = _bounce(positions[i, 2] + v3z * dt, v3z, box[2], inside[2], wall_restitution)
        new_positions[i, 0], new_positions[i, 1], new_positions[i, 2] = x, y, z
        new_velocities[i, 0], new_velocities[i, 1], new_velocities[i, 2] = vx, vy, vz
        loss -= 0.5 * m * ((vx * vx + vy * vy + vz * vz) - (v3x * v3x + v3y * v3y + v3z * v3z))
        new_heats[i] = heat + loss
        dissipated += loss
    return gravity_work, pressure_work, radiated_total, dissipated, potential_total


def update_particles(stencil: NumbaCloudInCell, potential_field: torch.Tensor,
                     temperature_field: torch.Tensor, capacity_field: torch.Tensor,
                     positions: torch.Tensor, velocities: torch.Tensor, masses: torch.Tensor,
                     energies: torch.Tensor, heats: torch.Tensor, config
                     ) -> "stages.ParticleUpdate":
    """Numba twin of `stages.update_particles` (CPU tensors, same arguments and result)."""
    import math

    from thermo_manifold.physics.stages import ParticleUpdate

    cfg = config
    r, dt = cfg.particle_radius, cfg.dt
    x = positions.detach().contiguous().numpy()
    dtype = x.dtype
    capacity = masses.detach().contiguous().numpy() * dtype.type(cfg.specific_heat)
    heat_array = heats.detach().contiguous().numpy()
    local_temperature, temperature_gradient = stencil.gather_with_gradient(temperature_field)
    local_potential, potential_gradient = stencil.gather_with_gradient(potential_field)

    capped, gain_scale = balanced_conduction(stencil, local_temperature, capacity_field,
                                             heat_array, capacity, cfg)

    box_tensor = torch.tensor(cfg.domain_size, dtype=positions.dtype)
    inside = torch.nextafter(box_tensor, torch.zeros_like(box_tensor)).numpy()
    new_positions = np.empty_like(x)
    new_velocities = np.empty_like(x)
    new_energies = np.empty_like(heat_array)
    new_heats = np.empty_like(heat_array)
    totals = _move(
        temperature_gradient.numpy(), local_potential.numpy(), potential_gradient.numpy(), x,
        velocities.detach().contiguous().numpy(), masses.detach().contiguous().numpy(),
        energies.detach().contiguous().numpy(), heat_array, capped, gain_scale, capacity,
        cfg.emissivity * cfg.sigma_SB * r**2 * dt, dt / cfg.tau_thermalization, cfg.k_B,
        cfg.max_acceleration, dt, math.exp(-6.0 * math.pi * cfg.dynamic_viscosity * r * dt),
        cfg.max_speed, box_tensor.numpy(), inside, cfg.wall_restitution,
        new_positions, new_velocities, new_energies, new_heats)
    gravity_work, pressure_work, radiated, dissipated, potential = (
        torch.tensor(value, dtype=torch.float64) for value in totals)
    return ParticleUpdate(torch.from_numpy(new_positions), torch.from_numpy(new_velocities),
                          torch.from_numpy(new_energies), torch.from_numpy(new_heats),
                          gravity_work, pressure_work, radiated, dissipated, potential)


__all__ = ["AVAILABLE", "NumbaCloudInCell", "balanced_conduction", "update_particles"]
