"""A plain NumPy (float64) reference of one `ManifoldPhysics.step`, for tests and benchmarks.

`reference_step` re-implements the engine's step from its specification (the module docstrings
of grid.py, poisson.py, thermal.py, collisions.py, contacts.py, verlet.py, ledger.py and
engine.py) with readable vectorised NumPy and no torch. The default contact model
(`_verlet_step`): forces at x_n (gravity -grad phi, springs k delta n), half kick, drift and
walls, forces at x_{n+1}, half kick, then heat diffusion, the dashpots (exact exponential decay
of each pair's normal velocity) with contact conduction, and the dissipative update below
without its gravity kick and drift. The seed's step (`_seed_step`, contact="seed"), stage by
stage:

1. scatter   cloud-in-cell (nodes at cell centres, clamped grid coordinate) of mass and heat
2. gravity   laplacian(phi) = 4 pi G rho with phi = 0 outside the box, solved exactly with a
             type-I discrete sine transform built here from numpy.fft
3. heat      flux-form diffusion of the heat field, each cell's change handed back to the
             particles (gains by heat capacity, losses by heat content)
4. update    conduction with the local medium (per-cell zero-sum correction, one
             non-negativity scale), radiation, thermalization, gravity and pressure kicks under
             one common acceleration clamp factor, Stokes drag, speed clamp, drift, walls
5. collide   pairs closer than 2r (sort-by-cell search): restitution impulse, soft push and
             contact conduction with the donor limiter

It is written for clarity, not speed, and never calls the engine's helpers, so agreement between
the two is evidence that both follow the spec. Only the spectral Poisson solver is mirrored;
`poisson="jacobi"` raises `NotImplementedError`.

The state is a dict of float64 arrays with the `ParticleState` field names;
`state_to_numpy` / `state_from_numpy` convert between the two.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from itertools import product

import numpy as np
import torch

from thermo_manifold.physics.config import PhysicsConfig
from thermo_manifold.physics.state import SCALAR_FIELDS, VECTOR_FIELDS, ParticleState

STATE_KEYS = VECTOR_FIELDS + SCALAR_FIELDS
FLOW_KEYS = (
    "gravity_work", "pressure_work", "contact_work", "radiated", "dissipated", "potential",
    "collision_pairs",
)

# Corner k of a cell has offsets (a, b, c) = bits of k along (x, y, z); k = 4a + 2b + c.
CORNERS = np.array([[(k >> 2) & 1, (k >> 1) & 1, k & 1] for k in range(8)], dtype=np.int64)

# The own cell plus the 13 neighbour offsets whose first non-zero component is positive:
# every unordered pair of neighbouring cells appears once.
HALF_STENCIL = [(0, 0, 0)] + [o for o in product((-1, 0, 1), repeat=3) if o > (0, 0, 0)]


# ---------------------------------------------------------------------- state conversion
def state_to_numpy(state: ParticleState) -> dict[str, np.ndarray]:
    """Copy a `ParticleState` into a dict of float64 NumPy arrays (on the CPU)."""
    return {
        name: getattr(state, name).detach().to("cpu", torch.float64).numpy().copy()
        for name in STATE_KEYS
    }


def state_from_numpy(
    arrays: dict[str, np.ndarray],
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
) -> ParticleState:
    """Build a `ParticleState` from a dict of arrays (copies)."""
    return ParticleState(**{
        name: torch.tensor(np.asarray(arrays[name], dtype=np.float64), dtype=dtype,
                           device=device)
        for name in STATE_KEYS
    })


# ---------------------------------------------------------------------- cloud in cell
class Stencil:
    """Trilinear weights of N particles on a grid whose nodes sit at cell centres."""

    def __init__(self, positions: np.ndarray, grid_size: tuple[int, int, int], spacing: float):
        dims = np.asarray(grid_size, dtype=np.float64)
        gx, gy, gz = grid_size
        # Grid coordinate of a particle: node i is at (i + 1/2) h. Clamp into [0, g - 1] so
        # particles in the outer half-cells land entirely on the boundary nodes.
        u = positions / spacing - 0.5
        u = np.minimum(np.maximum(u, 0.0), dims - 1.0)
        base = np.minimum(np.floor(u), dims - 2.0)
        self.frac = u - base  # (N, 3) in [0, 1]
        base = base.astype(np.int64)
        n = positions.shape[0]
        self.index = np.empty((n, 8), dtype=np.int64)
        self.weights = np.empty((n, 8), dtype=np.float64)
        # Per-corner, per-axis factor: frac on the upper side, 1 - frac on the lower side.
        self.axis_weights = np.empty((n, 8, 3), dtype=np.float64)
        for k, (a, b, c) in enumerate(CORNERS):
            ix, iy, iz = base[:, 0] + a, base[:, 1] + b, base[:, 2] + c
            self.index[:, k] = (ix * gy + iy) * gz + iz
            for axis, bit in enumerate((a, b, c)):
                self.axis_weights[:, k, axis] = (
                    self.frac[:, axis] if bit else 1.0 - self.frac[:, axis]
                )
            w = self.axis_weights[:, k]
            self.weights[:, k] = w[:, 0] * w[:, 1] * w[:, 2]
        self.grid_size = (gx, gy, gz)
        self.spacing = float(spacing)

    def scatter(self, values: np.ndarray) -> np.ndarray:
        """Deposit per-particle values onto the grid (the total is preserved)."""
        flat = np.bincount(
            self.index.ravel(),
            weights=(self.weights * values[:, None]).ravel(),
            minlength=int(np.prod(self.grid_size)),
        ).astype(np.float64)  # bincount of nothing is int64
        return flat.reshape(self.grid_size)

    def corners(self, field: np.ndarray) -> np.ndarray:
        return field.ravel()[self.index]

    def gather(self, field: np.ndarray) -> np.ndarray:
        """Trilinear interpolation of a node field at the particles."""
        return (self.corners(field) * self.weights).sum(axis=1)

    def gradient(self, field: np.ndarray) -> np.ndarray:
        """Exact gradient of the trilinear interpolant at the (clamped) particle coordinate."""
        values = self.corners(field)
        out = np.empty((values.shape[0], 3))
        for axis in range(3):
            a, b = [other for other in range(3) if other != axis]
            sign = np.where(CORNERS[:, axis] == 1, 1.0, -1.0)
            face = self.axis_weights[:, :, a] * self.axis_weights[:, :, b]
            out[:, axis] = (values * face * sign).sum(axis=1)
        return out / self.spacing


# ---------------------------------------------------------------------- Poisson (DST-I)
def dst1(values: np.ndarray, axis: int) -> np.ndarray:
    """Unnormalised type-I discrete sine transform along `axis`:

        y_j = sum_k x_k sin(pi (j + 1)(k + 1) / (n + 1)),   j, k = 0..n-1.

    The odd extension e = [0, x, 0, -reverse(x)] (length 2n + 2) has a purely imaginary DFT,
    E_j = -2i y_{j-1} for j = 1..n, so y is read off the imaginary part of one real FFT.
    """
    x = np.moveaxis(np.asarray(values, dtype=np.float64), axis, -1)
    n = x.shape[-1]
    extended = np.zeros(x.shape[:-1] + (2 * n + 2,))
    extended[..., 1:n + 1] = x
    extended[..., n + 2:] = -x[..., ::-1]
    y = -0.5 * np.fft.rfft(extended, axis=-1).imag[..., 1:n + 1]
    return np.moveaxis(y, -1, axis)


def dirichlet_eigenvalues(n: int, spacing: float) -> np.ndarray:
    """Eigenvalues of the 1-D 3-point Laplacian with zero values beyond both ends."""
    k = np.arange(1, n + 1, dtype=np.float64)
    return (2.0 * np.cos(np.pi * k / (n + 1)) - 2.0) / spacing**2


def solve_poisson(source: np.ndarray, spacing: float) -> np.ndarray:
    """phi with 7-point laplacian(phi) = source and phi = 0 just outside the node grid."""
    gx, gy, gz = source.shape
    coeffs = source
    for axis in range(3):
        coeffs = dst1(coeffs, axis)
    lam = (
        dirichlet_eigenvalues(gx, spacing)[:, None, None]
        + dirichlet_eigenvalues(gy, spacing)[None, :, None]
        + dirichlet_eigenvalues(gz, spacing)[None, None, :]
    )
    coeffs = coeffs / lam
    for axis in range(3):
        coeffs = dst1(coeffs, axis)
    # The DST-I is its own inverse up to the factor (n + 1) / 2 per axis.
    return coeffs * (2.0 / (gx + 1)) * (2.0 / (gy + 1)) * (2.0 / (gz + 1))


def laplacian(phi: np.ndarray, spacing: float) -> np.ndarray:
    """7-point Laplacian with phi = 0 outside the grid (for checks)."""
    padded = np.pad(phi, 1)
    return (
        padded[:-2, 1:-1, 1:-1] + padded[2:, 1:-1, 1:-1]
        + padded[1:-1, :-2, 1:-1] + padded[1:-1, 2:, 1:-1]
        + padded[1:-1, 1:-1, :-2] + padded[1:-1, 1:-1, 2:]
        - 6.0 * phi
    ) / spacing**2


# ---------------------------------------------------------------------- heat
def _safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator where denominator > 0, else 0."""
    positive = denominator > 0
    return np.where(positive, numerator / np.where(positive, denominator, 1.0), 0.0)


def diffuse(heat: np.ndarray, capacity: np.ndarray, number: float) -> np.ndarray:
    """One explicit flux-form diffusion step: through each interior face the flux from the lower
    to the upper cell is number * min(C_lo, C_hi) * (T_lo - T_hi); walls pass nothing."""
    temperature = _safe_divide(heat, capacity)
    change = np.zeros_like(heat)
    for axis in range(3):
        lower = [slice(None)] * 3
        upper = [slice(None)] * 3
        lower[axis] = slice(0, -1)
        upper[axis] = slice(1, None)
        lower, upper = tuple(lower), tuple(upper)
        flux = number * np.minimum(capacity[lower], capacity[upper]) * (
            temperature[lower] - temperature[upper])
        change[lower] -= flux
        change[upper] += flux
    return heat + change


def nonnegative_scale(heat: np.ndarray, change: np.ndarray) -> np.ndarray:
    """Cap a zero-sum change at -heat where it would go negative; scale the gains down by one
    common factor so the total stays zero."""
    if not (change < -heat).any():
        return change
    capped = np.maximum(change, -heat)
    surplus = float((capped - change).sum())
    gains = np.maximum(capped, 0.0)
    return np.where(capped > 0, gains * (1.0 - surplus / gains.sum()), capped)


# ---------------------------------------------------------------------- collisions
def find_pairs(positions: np.ndarray, cutoff: float, box: tuple[float, float, float]
               ) -> tuple[np.ndarray, np.ndarray]:
    """All unordered pairs (each once) with |x_i - x_j|^2 < cutoff^2.

    Particles are binned into cells at least `cutoff` wide and sorted by cell; for each
    particle the candidates are the later particles of its own cell and all particles of the
    13 "forward" neighbour cells. Memory is O(N + candidate pairs of one offset).
    """
    n = positions.shape[0]
    empty = np.zeros(0, dtype=np.int64)
    if n < 2:
        return empty, empty
    box_array = np.asarray(box, dtype=np.float64)
    # A hair wider than the cutoff, so rounding in the binning can never lose a pair.
    cells = np.maximum(np.floor(box_array / (cutoff * (1.0 + 1e-9))), 1).astype(np.int64)
    width = box_array / cells
    cell = np.clip(np.floor(positions / width).astype(np.int64), 0, cells - 1)
    linear = (cell[:, 0] * cells[1] + cell[:, 1]) * cells[2] + cell[:, 2]
    order = np.argsort(linear, kind="stable")
    sorted_cell = cell[order]
    counts = np.bincount(linear, minlength=int(np.prod(cells)))
    starts = np.cumsum(counts) - counts
    own = linear[order]
    rank = np.arange(n)

    lefts, rights = [], []
    for offset in HALF_STENCIL:
        neighbour = sorted_cell + np.asarray(offset)
        valid = np.all((neighbour >= 0) & (neighbour < cells), axis=1)
        ranks = rank[valid]
        neighbour = neighbour[valid]
        if offset == (0, 0, 0):
            first = ranks + 1  # only later particles of the same cell
            count = starts[own[valid]] + counts[own[valid]] - first
        else:
            nb = (neighbour[:, 0] * cells[1] + neighbour[:, 1]) * cells[2] + neighbour[:, 2]
            first, count = starts[nb], counts[nb]
        total = int(count.sum())
        if total == 0:
            continue
        left_rank = np.repeat(ranks, count)
        # Candidate t of a particle is first + t, t = 0..count-1.
        segment_start = np.cumsum(count) - count
        right_rank = np.arange(total) + np.repeat(first - segment_start, count)
        left, right = order[left_rank], order[right_rank]
        close = ((positions[left] - positions[right]) ** 2).sum(axis=1) < cutoff**2
        lefts.append(left[close])
        rights.append(right[close])
    if not lefts:
        return empty, empty
    return np.concatenate(lefts), np.concatenate(rights)


def _accumulate(index: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """out[i] = sum of values[k] with index[k] == i (values (P,) or (P, 3))."""
    if values.ndim == 1:
        return np.bincount(index, weights=values, minlength=n).astype(np.float64)
    return np.stack([_accumulate(index, values[:, d], n) for d in range(values.shape[1])], axis=1)


def _contact_conduction(left, right, overlap, heats, m_l, m_r, config: PhysicsConfig):
    """Per-pair heat flow of contact conduction; flow > 0 carries heat from `right` to `left`."""
    cv = config.specific_heat
    c_l, c_r = m_l * cv, m_r * cv
    gap = heats[right] / c_r - heats[left] / c_l
    flow = config.thermal_conductivity * overlap**2 * gap * config.dt
    equalising = gap * c_l * c_r / (c_l + c_r)
    flow = np.where(np.abs(flow) > np.abs(equalising), equalising, flow)
    donor = np.where(flow > 0, right, left)
    given = _accumulate(donor, np.abs(flow), heats.shape[0])
    headroom = 1.0 - 64.0 * np.finfo(np.float64).eps  # the engine's rounding margin
    limit = np.where(given > heats * headroom, headroom * _safe_divide(heats, given), 1.0)
    return flow * limit[donor]


def collide(positions, velocities, heats, masses, config: PhysicsConfig):
    """Pair responses of all pairs closer than 2r at once.

    Returns (velocities, heats, num_pairs, dissipated, contact_work)."""
    n = positions.shape[0]
    r, dt = config.particle_radius, config.dt
    e = config.restitution
    left, right = find_pairs(positions, 2.0 * r, config.domain_size)
    delta = positions[left] - positions[right]
    distance = np.sqrt((delta**2).sum(axis=1))
    keep = distance > 1e-9 * r  # coincident centres have no normal
    left, right, delta, distance = left[keep], right[keep], delta[keep], distance[keep]
    normal = delta / distance[:, None]
    overlap = 2.0 * r - distance
    m_l, m_r = masses[left], masses[right]
    m_eff = m_l * m_r / (m_l + m_r)

    # Restitution (approaching pairs only) plus the soft push, equal and opposite.
    v_n = ((velocities[left] - velocities[right]) * normal).sum(axis=1)
    approaching = v_n < 0
    impulse = np.where(approaching, (1.0 + e) * m_eff * -v_n, 0.0)
    impulse = impulse + config.young_modulus * overlap * dt
    kick = normal * impulse[:, None]
    new_velocities = (velocities + _accumulate(left, kick / m_l[:, None], n)
                      - _accumulate(right, kick / m_r[:, None], n))
    dissipation = np.where(approaching, 0.5 * m_eff * v_n**2 * (1.0 - e**2), 0.0)

    flow = _contact_conduction(left, right, overlap, heats, m_l, m_r, config)
    new_heats = (heats + _accumulate(left, 0.5 * dissipation + flow, n)
                 + _accumulate(right, 0.5 * dissipation - flow, n))
    dissipated = float(dissipation.sum())
    ke_change = float((0.5 * masses * ((new_velocities - velocities)
                                       * (new_velocities + velocities)).sum(axis=1)).sum())
    return new_velocities, new_heats, int(left.size), dissipated, ke_change + dissipated


# ---------------------------------------------------------------------- the step
def _kinetic_change(masses, before, after) -> np.ndarray:
    """Per-particle 1/2 m (|after|^2 - |before|^2), without cancellation."""
    return 0.5 * masses * ((after - before) * (after + before)).sum(axis=1)


def _walls(x: np.ndarray, v: np.ndarray, config: PhysicsConfig):
    """Mirror coordinates that left [0, L) and reverse (times wall_restitution) that velocity
    component; positions end strictly inside the box."""
    box = np.asarray(config.domain_size, dtype=np.float64)
    below, above = x < 0, x >= box
    crossed = below | above
    x = np.where(below, -x, np.where(above, 2.0 * box - x, x))
    v = np.where(crossed, -config.wall_restitution * v, v)
    inside = np.nextafter(box, 0.0)
    return np.minimum(np.maximum(x, 0.0), inside), v


@contextmanager
def _timed(name: str, seconds: dict | None):
    if seconds is None:
        yield
        return
    start = time.perf_counter()
    yield
    seconds[name] = time.perf_counter() - start


def reference_step(
    state: dict[str, np.ndarray],
    config: PhysicsConfig,
    stage_seconds: dict[str, float] | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """One physics step in NumPy float64 of the config's contact model; returns (new state
    arrays, flows of this step). See `_seed_step` and `_verlet_step` for the flows."""
    if config.poisson != "spectral":
        raise NotImplementedError(
            f"reference_step mirrors only poisson='spectral'; got {config.poisson!r}")
    s = {name: np.asarray(state[name], dtype=np.float64) for name in STATE_KEYS}
    if config.contact == "seed":
        return _seed_step(s, config, stage_seconds)
    return _verlet_step(s, config, stage_seconds)


def _springs(x: np.ndarray, config: PhysicsConfig):
    """Touching pairs (left, right, normal, overlap), spring forces k delta n and U_c at x."""
    r, k, n = config.particle_radius, config.young_modulus, x.shape[0]
    left, right = find_pairs(x, 2.0 * r, config.domain_size)
    delta = x[left] - x[right]
    distance = np.sqrt((delta**2).sum(axis=1))
    touching = (distance > 1e-9 * r) & (distance < 2.0 * r)
    left, right, delta, distance = (left[touching], right[touching], delta[touching],
                                    distance[touching])
    normal = delta / distance[:, None]
    overlap = 2.0 * r - distance
    push = (k * overlap)[:, None] * normal
    forces = _accumulate(left, push, n) - _accumulate(right, push, n)
    return left, right, normal, overlap, forces, float((0.5 * k * overlap**2).sum())


def _mechanics(x: np.ndarray, m: np.ndarray, config: PhysicsConfig) -> dict:
    """Conservative forces at x: gravity acceleration -grad phi, spring forces, U_grav, U_c."""
    h = config.grid_spacing
    stencil = Stencil(x, config.grid_size, h)
    mass_field = stencil.scatter(m)
    phi = solve_poisson(4.0 * math.pi * config.G * mass_field / h**3, h)
    spring, contact_potential, touching = np.zeros_like(x), 0.0, 0
    if config.collisions and x.shape[0] > 1 and config.young_modulus > 0:
        left, _, _, _, spring, contact_potential = _springs(x, config)
        touching = left.size
    # Flat potential (clamped stencil) in the outer half-cells: no force along that axis.
    coords = x / h - 0.5
    unclamped = (coords > 0) & (coords < np.asarray(config.grid_size) - 1)
    return {"stencil": stencil, "mass_field": mass_field, "phi": phi,
            "gravity": -stencil.gradient(phi) * unclamped, "spring": spring,
            "gravity_potential": 0.5 * float((m * stencil.gather(phi)).sum()),
            "contact_potential": contact_potential, "touching": touching}


def _diffuse_and_hand_back(stencil, q, capacity, capacity_field, config: PhysicsConfig,
                           heat_field=None):
    """Flux-form diffusion of the scattered heat, each cell's change handed back (gains by heat
    capacity, losses by heat content); returns the heats and the medium temperature."""
    if heat_field is None:
        heat_field = stencil.scatter(q)
    diffused = diffuse(heat_field, capacity_field, config.diffusion_number)
    change = diffused - heat_field
    gain_per_capacity = _safe_divide(np.maximum(change, 0.0), capacity_field)
    loss_per_heat = _safe_divide(np.minimum(change, 0.0), heat_field)
    q = q + capacity * stencil.gather(gain_per_capacity) + q * stencil.gather(loss_per_heat)
    return q, _safe_divide(diffused, capacity_field)


def _heat_budget(stencil, medium_temperature, q, energy, capacity, capacity_field,
                 config: PhysicsConfig, local_temperature=None):
    """Conduction towards the local medium (zero-sum per cell, then kept >= 0), radiation
    (leaves the system), thermalization E -> Q; returns (heats, energies, radiated)."""
    r, dt = config.particle_radius, config.dt
    if local_temperature is None:
        local_temperature = stencil.gather(medium_temperature)
    fraction = np.minimum(config.thermal_conductivity * r * dt / capacity, 1.0)
    raw = fraction * capacity * (local_temperature - q / capacity)
    correction = _safe_divide(stencil.scatter(raw), capacity_field)
    q = q + nonnegative_scale(q, raw - capacity * stencil.gather(correction))
    temperature = q / capacity
    radiated = np.minimum(config.emissivity * config.sigma_SB * r**2 * temperature**4 * dt, q)
    q = q - radiated
    moved = np.minimum(energy * (dt / config.tau_thermalization), energy)
    return q + moved, energy - moved, radiated


def _drag_and_speed_limit(v, m, config: PhysicsConfig):
    """Stokes drag, then the speed limit; returns the velocities and the kinetic loss."""
    gamma = 6.0 * math.pi * config.dynamic_viscosity * config.particle_radius
    v_drag = v * math.exp(-gamma * config.dt)
    speed = np.sqrt((v_drag**2).sum(axis=1))[:, None]
    v_new = v_drag * np.minimum(config.max_speed / np.maximum(speed, 1e-30), 1.0)
    return v_new, -_kinetic_change(m, v, v_new)


def _clamp_factor(acceleration: np.ndarray, limit: float) -> np.ndarray:
    magnitude = np.sqrt((acceleration**2).sum(axis=1))[:, None]
    return np.minimum(limit / np.maximum(magnitude, 1e-30), 1.0)


def _kick(v, m, gravity, spring, gravity_dt: float, spring_dt: float, config: PhysicsConfig):
    """v + clamped gravity * gravity_dt + spring / m * spring_dt; returns (v, gravity work,
    clamp work). `gravity` None: a spring kick alone."""
    spring_step = spring / m[:, None] * spring_dt
    if gravity is None:
        return v + spring_step, 0.0, 0.0
    clamped = gravity * _clamp_factor(gravity, config.max_acceleration)
    new = v + clamped * gravity_dt + spring_step
    full = v + gravity * gravity_dt + spring_step
    gravity_work = float((m[:, None] * clamped * gravity_dt * 0.5 * (v + new)).sum())
    return new, gravity_work, float(_kinetic_change(m, full, new).sum())


def _substeps(m: np.ndarray, config: PhysicsConfig) -> int:
    """ceil(dt omega_0 / contact_resolution) for the two lightest masses, at least 1."""
    if not (config.collisions and m.size > 1 and config.young_modulus > 0):
        return 1
    omega = math.sqrt(config.young_modulus / (0.5 * float(m.min())))
    return max(1, math.ceil(config.dt * omega / config.contact_resolution - 1e-9))


def _verlet_step(s: dict, config: PhysicsConfig, stage_seconds: dict | None):
    """Gravity kick-drift-kick with the contact springs substepped inside it (h = dt / n:
    spring half kick, drift and walls, springs at the new positions, spring half kick,
    dashpot over h), then heat diffusion, contact conduction over dt, and the rest of the
    dissipative and thermal update, at x_{n+1}.

    Flows: gravity_work (its half kicks, not in the closure), clamp_work, pressure_work,
    contact_work (cross terms of simultaneous dashpot impulses), radiated, dissipated, the
    potentials U_grav and U_c at the new positions, and the number of touching pairs."""
    x, v, m, q, energy = s["positions"], s["velocities"], s["masses"], s["heats"], s["energies"]
    cv, r, dt = config.specific_heat, config.particle_radius, config.dt
    capacity = m * cv
    n = x.shape[0]
    contacts = config.collisions and n > 1
    substeps = _substeps(m, config)
    h = dt / substeps
    log_e = math.log(config.restitution) if config.restitution > 0 else -math.inf
    zeta = 1.0 if config.restitution == 0 else -log_e / math.sqrt(math.pi**2 + log_e**2)
    gravity_work = clamp_work = dissipated = contact_work = 0.0
    with _timed("gravity", stage_seconds):
        start = _mechanics(x, m, config)
    spring = start["spring"]
    for index in range(substeps):
        first, last = index == 0, index == substeps - 1
        with _timed("update", stage_seconds):
            v, work, clamp = _kick(v, m, start["gravity"] if first else None, spring, 0.5 * dt,
                                   0.5 * h, config)
            gravity_work, clamp_work = gravity_work + work, clamp_work + clamp
            x_new, v_wall = _walls(x + v * h, v, config)
            wall_loss = -_kinetic_change(m, v, v_wall)
            x, v, q = x_new, v_wall, q + wall_loss
            dissipated += float(wall_loss.sum())
        with _timed("gravity", stage_seconds):
            if last:
                mech = _mechanics(x, m, config)
                spring = mech["spring"]
            elif config.young_modulus > 0:
                spring = _springs(x, config)[4]
        with _timed("update", stage_seconds):
            v, work, clamp = _kick(v, m, mech["gravity"] if last else None, spring, 0.5 * dt,
                                   0.5 * h, config)
            gravity_work, clamp_work = gravity_work + work, clamp_work + clamp
        if not contacts:
            continue
        with _timed("collide", stage_seconds):
            # Dashpot: each touching pair's normal velocity decays exactly over h.
            left, right, normal, overlap, _, _ = _springs(x, config)
            m_l, m_r = m[left], m[right]
            m_eff = m_l * m_r / (m_l + m_r)
            decay = np.exp(-2.0 * zeta * h * np.sqrt(config.young_modulus / m_eff))
            v_n = ((v[left] - v[right]) * normal).sum(axis=1)
            kick = normal * (m_eff * v_n * (1.0 - decay))[:, None]
            damped = v - _accumulate(left, kick / m_l[:, None], n) + _accumulate(
                right, kick / m_r[:, None], n)
            loss = 0.5 * m_eff * v_n**2 * (1.0 - decay**2)
            flow = (_contact_conduction(left, right, overlap, q, m_l, m_r, config) if last
                    else np.zeros_like(loss))
            q = q + _accumulate(left, 0.5 * loss + flow, n) + _accumulate(right, 0.5 * loss
                                                                           - flow, n)
            contact_work += float(_kinetic_change(m, v, damped).sum()) + float(loss.sum())
            dissipated += float(loss.sum())
            v = damped
    stencil, capacity_field = mech["stencil"], cv * mech["mass_field"]

    with _timed("heat", stage_seconds):
        q, medium_temperature = _diffuse_and_hand_back(stencil, q, capacity, capacity_field,
                                                       config)

    with _timed("update", stage_seconds):
        q, energy, radiated = _heat_budget(stencil, medium_temperature, q, energy, capacity,
                                           capacity_field, config)
        pressure = -config.k_B * stencil.gradient(medium_temperature)
        v_pressure = v + pressure * _clamp_factor(pressure, config.max_acceleration) * dt
        pressure_work = float(_kinetic_change(m, v, v_pressure).sum())
        v_new, loss = _drag_and_speed_limit(v_pressure, m, config)
        q = q + loss
        dissipated += float(loss.sum())

    new_state = dict(s, positions=x, velocities=v_new, energies=energy, heats=q)
    new_state.update({name: s[name].copy() for name in ("excitations", "masses", "phases")})
    flows = {
        "gravity_work": gravity_work,
        "clamp_work": clamp_work,
        "pressure_work": pressure_work,
        "contact_work": contact_work,
        "radiated": float(radiated.sum()),
        "dissipated": dissipated,
        "potential": mech["gravity_potential"],
        "contact_potential": mech["contact_potential"],
        "collision_pairs": mech["touching"],
        "substeps": substeps,
    }
    return new_state, flows


def _seed_step(s: dict, config: PhysicsConfig, stage_seconds: dict | None):
    """The seed's step (contact="seed"). The flows are the ledger increments of the step
    (gravity_work, pressure_work, contact_work, radiated, dissipated), the potential energy
    1/2 sum m phi at the start positions, and the number of colliding pairs. If `stage_seconds`
    is a dict, the wall time of each stage (scatter, gravity, heat, update, collide) is written
    into it."""
    x, v, m, q, energy = s["positions"], s["velocities"], s["masses"], s["heats"], s["energies"]
    h, cv, r, dt = config.grid_spacing, config.specific_heat, config.particle_radius, config.dt
    capacity = m * cv

    # 1. scatter
    with _timed("scatter", stage_seconds):
        stencil = Stencil(x, config.grid_size, h)
        mass_field = stencil.scatter(m)
        heat_field = stencil.scatter(q)
        capacity_field = cv * mass_field

    # 2. gravity: laplacian(phi) = 4 pi G rho, rho = mass / h^3
    with _timed("gravity", stage_seconds):
        phi = solve_poisson(4.0 * math.pi * config.G * mass_field / h**3, h)

    # 3. heat diffusion on the grid, handed back to the particles
    with _timed("heat", stage_seconds):
        q, medium_temperature = _diffuse_and_hand_back(stencil, q, capacity, capacity_field,
                                                       config, heat_field)

    # 4. particle update
    with _timed("update", stage_seconds):
        local_temperature = stencil.gather(medium_temperature)
        grad_t = stencil.gradient(medium_temperature)
        potential = 0.5 * float((m * stencil.gather(phi)).sum())
        grad_phi = stencil.gradient(phi)

        q, energy, radiated = _heat_budget(stencil, medium_temperature, q, energy, capacity,
                                           capacity_field, config, local_temperature)

        # Gravity and pressure kicks, both scaled by one clamp factor on their sum.
        acc_gravity = -grad_phi
        acc_pressure = -config.k_B * grad_t
        magnitude = np.sqrt(((acc_gravity + acc_pressure) ** 2).sum(axis=1))[:, None]
        clamp = np.minimum(config.max_acceleration / np.maximum(magnitude, 1e-30), 1.0)
        v_gravity = v + acc_gravity * clamp * dt
        v_pressure = v_gravity + acc_pressure * clamp * dt
        gravity_work = float(_kinetic_change(m, v, v_gravity).sum())
        pressure_work = float(_kinetic_change(m, v_gravity, v_pressure).sum())

        # Stokes drag and the speed limit; the kinetic energy they remove becomes heat.
        v_new, loss = _drag_and_speed_limit(v_pressure, m, config)

        # Drift and walls (the bounce loss becomes heat too).
        x_new, v_wall = _walls(x + v_new * dt, v_new, config)
        loss = loss - _kinetic_change(m, v_new, v_wall)
        q = q + loss
        dissipated = float(loss.sum())
        v_new = v_wall

    # 5. collisions
    pairs, contact_work = 0, 0.0
    with _timed("collide", stage_seconds):
        if config.collisions and x.shape[0] > 1:
            v_new, q, pairs, hit_dissipated, contact_work = collide(x_new, v_new, q, m, config)
            dissipated += hit_dissipated

    new_state = {
        "positions": x_new,
        "velocities": v_new,
        "energies": energy,
        "heats": q,
        "excitations": s["excitations"].copy(),
        "masses": m.copy(),
        "phases": s["phases"].copy(),
    }
    flows = {
        "gravity_work": gravity_work,
        "pressure_work": pressure_work,
        "contact_work": contact_work,
        "radiated": float(radiated.sum()),
        "dissipated": dissipated,
        "potential": potential,
        "collision_pairs": pairs,
    }
    return new_state, flows


__all__ = [
    "FLOW_KEYS",
    "STATE_KEYS",
    "Stencil",
    "dst1",
    "find_pairs",
    "laplacian",
    "reference_step",
    "solve_poisson",
    "state_from_numpy",
    "state_to_numpy",
]
