"""Compiled CPU loops (Numba) for particle <-> grid transfers, same results as `grid.py`.

`grid.CloudInCell` materialises every particle's eight node indices and weights, (N, 8) each,
and then moves them through memory on every scatter and gather. These loops recompute the
stencil from the position instead (a few flops) and touch only the particle's own row and the
grid, so a transfer of a million particles reads a few megabytes instead of a hundred.

`NumbaCloudInCell` offers the methods the physics stages call on a `grid.CloudInCell`
(`scatter`, `gather`, `gather_with_gradient`), so the stage functions run unchanged on either.
Scatters deposit fixed chunks of particles into private grids in parallel and sum them in a
fixed order, so results do not depend on the thread count; gathers only read the grid.
"""

from __future__ import annotations

import numpy as np
import torch

from thermo_manifold.physics.collision_kernels import AVAILABLE, _jit, prange

SCATTER_CHUNKS = 8


@_jit(inline="always")
def _axis(coordinate, spacing, cells):
    """Base node and fractional offset along one axis (nodes at cell centres, clamped)."""
    u = min(max(coordinate / spacing - 0.5, 0.0), cells - 1.0)
    base = min(np.floor(u), cells - 2.0)
    return int(base), u - base


@_jit(inline="always")
def _cell_of(positions, i, spacing, gx, gy, gz):
    """Base node (bx, by, bz) and offsets (rx, ry, rz) of particle i's stencil."""
    bx, rx = _axis(positions[i, 0], spacing, gx)
    by, ry = _axis(positions[i, 1], spacing, gy)
    bz, rz = _axis(positions[i, 2], spacing, gz)
    return bx, by, bz, rx, ry, rz


@_jit(inline="always")
def _value_and_gradient(field, gy, gz, bx, by, bz, rx, ry, rz, spacing):
    total = 0.0
    grad_x = 0.0
    grad_y = 0.0
    grad_z = 0.0
    for a in range(2):
        wx = rx if a else 1.0 - rx
        sx = 1.0 if a else -1.0
        for b in range(2):
            wy = ry if b else 1.0 - ry
            sy = 1.0 if b else -1.0
            row = ((bx + a) * gy + by + b) * gz + bz
            along_z = (1.0 - rz) * field[row] + rz * field[row + 1]
            total += wx * wy * along_z
            grad_x += sx * wy * along_z
            grad_y += sy * wx * along_z
            grad_z += wx * wy * (field[row + 1] - field[row])
    return total, grad_x / spacing, grad_y / spacing, grad_z / spacing


@_jit(inline="always")
def _two_values_and_gradients(fields, gy, gz, bx, by, bz, rx, ry, rz, spacing):
    """`_value_and_gradient` of both columns of a (cells, 2) array: the two fields of a node
    share a cache line, so a particle's eight corners cost four misses instead of eight."""
    v0 = g0x = g0y = g0z = 0.0
    v1 = g1x = g1y = g1z = 0.0
    for a in range(2):
        wx = rx if a else 1.0 - rx
        sx = 1.0 if a else -1.0
        for b in range(2):
            wy = ry if b else 1.0 - ry
            sy = 1.0 if b else -1.0
            row = ((bx + a) * gy + by + b) * gz + bz
            z0 = (1.0 - rz) * fields[row, 0] + rz * fields[row + 1, 0]
            z1 = (1.0 - rz) * fields[row, 1] + rz * fields[row + 1, 1]
            v0 += wx * wy * z0
            v1 += wx * wy * z1
            g0x += sx * wy * z0
            g1x += sx * wy * z1
            g0y += sy * wx * z0
            g1y += sy * wx * z1
            g0z += wx * wy * (fields[row + 1, 0] - fields[row, 0])
            g1z += wx * wy * (fields[row + 1, 1] - fields[row, 1])
    return (v0, g0x / spacing, g0y / spacing, g0z / spacing,
            v1, g1x / spacing, g1y / spacing, g1z / spacing)


@_jit(parallel=True)
def _scatter(positions, values, gx, gy, gz, spacing, partial):
    """Deposit into `partial` (chunks, cells): chunk c of the particles, in order, into row c.

    The chunks run in parallel without sharing a grid; the caller sums the rows in a fixed order,
    so the result depends on the number of chunks (fixed by the grid size), not on threads."""
    n, chunks = positions.shape[0], partial.shape[0]
    for chunk in prange(chunks):
        out = partial[chunk]
        for i in range(chunk * n // chunks, (chunk + 1) * n // chunks):
            bx, by, bz, rx, ry, rz = _cell_of(positions, i, spacing, gx, gy, gz)
            value = values[i]
            for a in range(2):
                wx = rx if a else 1.0 - rx
                for b in range(2):
                    wxy = wx * (ry if b else 1.0 - ry)
                    row = ((bx + a) * gy + by + b) * gz + bz
                    out[row] += wxy * (1.0 - rz) * value
                    out[row + 1] += wxy * rz * value


@_jit(parallel=True)
def _gather(positions, field, gx, gy, gz, spacing, with_gradient, values, gradients):
    """Trilinear value (and the exact gradient of the interpolant) of `field` at particles."""
    for i in prange(positions.shape[0]):
        bx, by, bz, rx, ry, rz = _cell_of(positions, i, spacing, gx, gy, gz)
        value, grad_x, grad_y, grad_z = _value_and_gradient(field, gy, gz, bx, by, bz, rx, ry,
                                                            rz, spacing)
        values[i] = value
        if with_gradient:
            gradients[i, 0] = grad_x
            gradients[i, 1] = grad_y
            gradients[i, 2] = grad_z


class NumbaCloudInCell:
    """Cloud-in-cell transfers of N particles on one grid, computed on the fly (CPU)."""

    def __init__(self, positions: torch.Tensor, grid_size: tuple[int, int, int],
                 spacing: float):
        if not AVAILABLE:
            raise RuntimeError("numba is not installed; use grid.cloud_in_cell")
        self.positions = positions.detach().contiguous()
        self.grid_size = tuple(int(g) for g in grid_size)
        self.spacing = float(spacing)

    def _args(self):
        return (self.positions.numpy(), *self.grid_size, self.spacing)

    @torch.compiler.disable
    def scatter(self, values: torch.Tensor) -> torch.Tensor:
        """Deposit per-particle `values` (N,); the grid total equals values.sum()."""
        cells = int(np.prod(self.grid_size))
        # Up to 8 private grids (at most 32 Mi cells in all): parallel without atomics.
        chunks = max(1, min(SCATTER_CHUNKS, (1 << 25) // cells))
        partial = np.zeros((chunks, cells), dtype=self.positions.numpy().dtype)
        positions, gx, gy, gz, spacing = self._args()
        _scatter(positions, values.detach().contiguous().numpy(), gx, gy, gz, spacing, partial)
        return torch.from_numpy(partial).sum(dim=0).reshape(self.grid_size)

    @torch.compiler.disable
    def gather(self, field: torch.Tensor) -> torch.Tensor:
        return self._gather(field, with_gradient=False)[0]

    @torch.compiler.disable
    def gather_with_gradient(self, field: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._gather(field, with_gradient=True)

    def _gather(self, field: torch.Tensor, with_gradient: bool):
        positions, gx, gy, gz, spacing = self._args()
        n = positions.shape[0]
        values = np.empty(n, dtype=positions.dtype)
        gradients = np.empty((n if with_gradient else 0, 3), dtype=positions.dtype)
        _gather(positions, field.detach().contiguous().reshape(-1).numpy(), gx, gy, gz,
                spacing, with_gradient, values, gradients)
        return torch.from_numpy(values), torch.from_numpy(gradients)


# ----------------------------------------------------------------------------------------------
# Stage 4 (particle update) as three fused passes over the particles. Same physics, in the same
# order, as `stages.update_particles` (read that first); a pass boundary sits wherever the torch
# version needs a grid-wide result: the conduction imbalance per cell, and the totals of the
# non-negativity limiter.


@_jit(parallel=True)
def _conduction_raw(positions, temperature_field, heats, capacity, coefficient_dt, gx, gy, gz,
                    spacing, raw):
    """Pass 1: relaxation towards the local medium temperature, at most the whole gap."""
    for i in prange(positions.shape[0]):
        bx, by, bz, rx, ry, rz = _cell_of(positions, i, spacing, gx, gy, gz)
        local, _, _, _ = _value_and_gradient(temperature_field, gy, gz, bx, by, bz, rx, ry, rz,
                                             spacing)
        fraction = min(coefficient_dt / capacity[i], 1.0)
        raw[i] = fraction * capacity[i] * (local - heats[i] / capacity[i])


@_jit(parallel=True)
def _conduction_balance(positions, per_capacity_field, raw, heats, capacity, gx, gy, gz,
                        spacing, capped):
    """Pass 2: return each cell's net exchange to its particles by capacity, cap every
    particle at the heat it holds; returns the capped surplus and the total gain."""
    surplus = 0.0
    total_gain = 0.0
    for i in prange(positions.shape[0]):
        bx, by, bz, rx, ry, rz = _cell_of(positions, i, spacing, gx, gy, gz)
        share, _, _, _ = _value_and_gradient(per_capacity_field, gy, gz, bx, by, bz, rx, ry, rz,
                                             spacing)
        balanced = raw[i] - capacity[i] * share
        limited = max(balanced, -heats[i])
        capped[i] = limited
        surplus += limited - balanced
        total_gain += max(limited, 0.0)
    return surplus, total_gain


@_jit(parallel=True)
def _move(positions, velocities, masses, energies, heats, capped, gain_scale,
          temperature_and_potential, gx, gy, gz, spacing, capacity, radiation_coefficient,
          thermalize_rate, k_b, max_acceleration, dt, drag_factor, max_speed, box, inside,
          wall_restitution, new_positions, new_velocities, new_energies, new_heats):
    """Pass 3: conduction, radiation, thermalization, kicks, drag, speed clamp, drift, walls.
    Returns the energy totals of the ledger (float64)."""
    gravity_work = 0.0
    pressure_work = 0.0
    radiated_total = 0.0
    dissipated = 0.0
    potential = 0.0
    for i in prange(positions.shape[0]):
        bx, by, bz, rx, ry, rz = _cell_of(positions, i, spacing, gx, gy, gz)
        _, gtx, gty, gtz, phi, gpx, gpy, gpz = _two_values_and_gradients(
            temperature_and_potential, gy, gz, bx, by, bz, rx, ry, rz, spacing)
        m = masses[i]
        potential += 0.5 * m * phi

        change = capped[i] * gain_scale if capped[i] > 0 else capped[i]
        heat = heats[i] + change
        temperature = heat / capacity[i]
        radiated = min(radiation_coefficient * temperature**4, heat)
        heat -= radiated
        radiated_total += radiated
        moved = min(energies[i] * thermalize_rate, energies[i])
        new_energies[i] = energies[i] - moved
        heat += moved

        agx, agy, agz = -gpx, -gpy, -gpz
        apx, apy, apz = -k_b * gtx, -k_b * gty, -k_b * gtz
        magnitude = np.sqrt((agx + apx) ** 2 + (agy + apy) ** 2 + (agz + apz) ** 2)
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
        kinetic_before_walls = v3x * v3x + v3y * v3y + v3z * v3z
        kinetic_after_walls = 0.0
        for axis in range(3):
            v = v3x if axis == 0 else (v3y if axis == 1 else v3z)
            x = positions[i, axis] + v * dt
            if x < 0.0:
                x, v = -x, -wall_restitution * v
            elif x >= box[axis]:
                x, v = 2.0 * box[axis] - x, -wall_restitution * v
            new_positions[i, axis] = min(max(x, 0.0), inside[axis])
            new_velocities[i, axis] = v
            kinetic_after_walls += v * v
        loss -= 0.5 * m * (kinetic_after_walls - kinetic_before_walls)
        new_heats[i] = heat + loss
        dissipated += loss
    return gravity_work, pressure_work, radiated_total, dissipated, potential


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
    gx, gy, gz = stencil.grid_size
    h = stencil.spacing
    capacity = masses.detach().contiguous().numpy() * dtype.type(cfg.specific_heat)
    heat_array = heats.detach().contiguous().numpy()
    temperature = temperature_field.detach().contiguous().reshape(-1).numpy()

    raw = np.empty_like(heat_array)
    _conduction_raw(x, temperature, heat_array, capacity, cfg.thermal_conductivity * r * dt,
                    gx, gy, gz, h, raw)
    imbalance = stencil.scatter(torch.from_numpy(raw))
    occupied = capacity_field > 0
    per_capacity = torch.where(occupied, imbalance / torch.where(occupied, capacity_field, 1.0),
                               0.0).reshape(-1).contiguous().numpy()
    capped = np.empty_like(heat_array)
    surplus, total_gain = _conduction_balance(x, per_capacity, raw, heat_array, capacity,
                                              gx, gy, gz, h, capped)
    gain_scale = 1.0 - surplus / total_gain if total_gain > 0 else 1.0

    box_tensor = torch.tensor(cfg.domain_size, dtype=positions.dtype)
    inside = torch.nextafter(box_tensor, torch.zeros_like(box_tensor)).numpy()
    new_positions = np.empty_like(x)
    new_velocities = np.empty_like(x)
    new_energies = np.empty_like(heat_array)
    new_heats = np.empty_like(heat_array)
    totals = _move(
        x, velocities.detach().contiguous().numpy(), masses.detach().contiguous().numpy(),
        energies.detach().contiguous().numpy(), heat_array, capped, gain_scale,
        torch.stack([temperature_field.reshape(-1), potential_field.reshape(-1).to(
            temperature_field.dtype)], dim=1).numpy(), gx, gy, gz, h, capacity,
        cfg.emissivity * cfg.sigma_SB * r**2 * dt, dt / cfg.tau_thermalization, cfg.k_B,
        cfg.max_acceleration, dt, math.exp(-6.0 * math.pi * cfg.dynamic_viscosity * r * dt),
        cfg.max_speed, box_tensor.numpy(), inside, cfg.wall_restitution,
        new_positions, new_velocities, new_energies, new_heats)
    gravity_work, pressure_work, radiated, dissipated, potential = (
        torch.tensor(value, dtype=torch.float64) for value in totals)
    return ParticleUpdate(torch.from_numpy(new_positions), torch.from_numpy(new_velocities),
                          torch.from_numpy(new_energies), torch.from_numpy(new_heats),
                          gravity_work, pressure_work, radiated, dissipated, potential)


__all__ = ["AVAILABLE", "NumbaCloudInCell", "update_particles"]
