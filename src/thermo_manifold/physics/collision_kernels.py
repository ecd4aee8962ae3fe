"""Compiled CPU loops for the collision stage (Numba), same results as `collisions.py`.

Why a second implementation: the vectorised PyTorch cell list has to materialise every
(particle, neighbour cell) combination, compact it and expand it again, and at gas densities
(a quarter of a particle per cell) nearly all of that work is bookkeeping and random gathers.
A loop visits each candidate partner once. The PyTorch path stays the one for CUDA/MPS and the
reference the tests compare these kernels against.

Pair finding is a stable counting sort by cell (cells at least `cutoff` wide, with a ghost
layer; first by x slab, then by cell within each slab, both in parallel) and a half stencil
walked as contiguous rank ranges: in x-major, z-fastest cell order the three cells
(dx, dy, dz = -1..1) of a neighbour column are consecutive, so the 13 half-stencil cells become
4 column ranges plus "the rest of my cell and the next cell in z". One parallel pass over fixed
chunks of ranks writes each chunk's pairs into its own slice; the slices are joined in chunk
order, so the pair order is deterministic.

The pair response follows `collisions.resolve_pairs` exactly (restitution impulse, soft push,
contact conduction with the pair-equalising cap and the donor limiter). It runs in fixed blocks
of ranks, even blocks in parallel and then odd ones, which is safe because a pair never reaches
two blocks ahead; every work split is fixed by the problem, not by the thread count, so results
are bit-for-bit the same on any number of threads.
"""

from __future__ import annotations

import numpy as np
import torch

try:
    import numba
except ImportError:  # pragma: no cover - exercised only where numba is absent
    numba = None

AVAILABLE = numba is not None
PAIR_CHUNKS = 64  # fixed work split of the pair search (not the thread count: repeatable)
prange = numba.prange if numba is not None else range


def _jit(**options):
    def wrap(function):
        if numba is None:
            return function
        return numba.njit(cache=True, nogil=True, **options)(function)

    return wrap


PARALLEL_MIN = 50_000  # rows from which a `_twin` pass runs on all threads


def _twin(function):
    """A parallel and a serial compilation of one pass over rows; `run(rows, *args)` picks by
    the row count, since starting threads costs more than a pass over a few thousand rows.
    Only for passes whose result does not depend on how the rows are split."""
    parallel, serial = _jit(parallel=True)(function), _jit()(function)

    def run(rows: int, *args):
        return (parallel if rows >= PARALLEL_MIN else serial)(*args)

    run.parallel, run.serial = parallel, serial
    return run


SORT_CHUNKS = 16  # fixed split of the first sorting level (not the thread count: repeatable)


@_twin
def _sort_by_cell(coords, cells_x, cells_y, cells_z, scale_x, scale_y, scale_z):
    """Stable counting sort of particles by cell, in two levels that each stay in cache.

    Level 1 buckets the particles by x slab (a few hundred counters), fixed chunks in parallel;
    level 2 sorts each slab by cell in parallel, with a slab-sized histogram. Stable at both
    levels, so particles keep their index order inside a cell and the result is the single
    global counting sort's, whatever the thread count.

    Returns order (rank -> particle), the sorted cell ids, `ends` (ends[c] = first rank after
    cell c, so cell c holds ranks ends[c - 1] .. ends[c] - 1; int32 halves the memory traffic
    over millions of mostly empty cells) and the sorted coordinates as three contiguous arrays."""
    n = coords.shape[0]
    py, pz = cells_y + 2, cells_z + 2
    slab_cells = py * pz
    slabs = cells_x + 2  # with the two ghost slabs, which stay empty
    linear = np.empty(n, np.int32)
    slab = np.empty(n, np.int32)
    for i in prange(n):
        cx = min(max(int(coords[i, 0] * scale_x), 0), cells_x - 1) + 1
        cy = min(max(int(coords[i, 1] * scale_y), 0), cells_y - 1) + 1
        cz = min(max(int(coords[i, 2] * scale_z), 0), cells_z - 1) + 1
        slab[i] = cx
        linear[i] = (cx * py + cy) * pz + cz

    # Level 1: chunk k's particles of slab s go to rank offsets[k, s] on; slab-major, then
    # chunk order, so the bucketing is stable.
    chunks = SORT_CHUNKS
    offsets = np.zeros((chunks, slabs), np.int64)
    for k in prange(chunks):
        for i in range(k * n // chunks, (k + 1) * n // chunks):
            offsets[k, slab[i]] += 1
    slab_first = np.empty(slabs + 1, np.int64)
    running = 0
    for s in range(slabs):
        slab_first[s] = running
        for k in range(chunks):
            count = offsets[k, s]
            offsets[k, s] = running
            running += count
    slab_first[slabs] = running
    by_slab = np.empty(n, np.int32)
    for k in prange(chunks):
        for i in range(k * n // chunks, (k + 1) * n // chunks):
            by_slab[offsets[k, slab[i]]] = i
            offsets[k, slab[i]] += 1

    # Level 2: each slab owns its ranks and its cells' entries of `ends`.
    ends = np.empty(slabs * slab_cells, np.int32)
    order = np.empty(n, np.int32)
    for s in prange(slabs):
        first_cell = s * slab_cells
        fill = np.zeros(slab_cells, np.int32)
        for k in range(slab_first[s], slab_first[s + 1]):
            fill[linear[by_slab[k]] - first_cell] += 1
        rank = slab_first[s]
        for c in range(slab_cells):  # exclusive prefix: the first rank of each cell
            in_cell = fill[c]
            fill[c] = rank
            rank += in_cell
        for k in range(slab_first[s], slab_first[s + 1]):
            i = by_slab[k]
            c = linear[i] - first_cell
            order[fill[c]] = i
            fill[c] += 1  # ... and ends one past the cell's last rank
        for c in range(slab_cells):
            ends[first_cell + c] = fill[c]

    sorted_linear = np.empty(n, np.int32)
    sorted_coords = np.empty((3, n), coords.dtype)
    for k in prange(n):
        i = order[k]
        sorted_linear[k] = linear[i]
        sorted_coords[0, k] = coords[i, 0]
        sorted_coords[1, k] = coords[i, 1]
        sorted_coords[2, k] = coords[i, 2]
    return order, sorted_linear, ends, sorted_coords


@_jit(parallel=True)
def _into_cell_order(velocities, heats, masses, order):
    """The particle rows the pair response reads, gathered into cell order in one pass."""
    n = order.shape[0]
    sorted_velocities = np.empty_like(velocities)
    sorted_heats = np.empty_like(heats)
    sorted_masses = np.empty_like(masses)
    for k in prange(n):
        i = order[k]
        sorted_velocities[k, 0] = velocities[i, 0]
        sorted_velocities[k, 1] = velocities[i, 1]
        sorted_velocities[k, 2] = velocities[i, 2]
        sorted_heats[k] = heats[i]
        sorted_masses[k] = masses[i]
    return sorted_velocities, sorted_heats, sorted_masses


@_jit(parallel=True)
def _out_of_cell_order(sorted_velocities, sorted_heats, order):
    """Inverse of `_into_cell_order` for the rows the response changed (`order` is a
    permutation, so the parallel writes never collide)."""
    velocities = np.empty_like(sorted_velocities)
    heats = np.empty_like(sorted_heats)
    for k in prange(order.shape[0]):
        i = order[k]
        velocities[i, 0] = sorted_velocities[k, 0]
        velocities[i, 1] = sorted_velocities[k, 1]
        velocities[i, 2] = sorted_velocities[k, 2]
        heats[i] = sorted_heats[k]
    return velocities, heats


@_jit(inline="always")
def _close_in_range(xi, yi, zi, i, first, last, sx, sy, sz, cutoff_sq, left, right, base,
                    count, capacity):
    """Append (i, j) for every rank j in [first, last) closer than the cutoff. Branch-free: the
    pair is always written and the count advances only on a hit (a distance test is a coin
    flip for the branch predictor; a store is cheap). A chunk owns capacity + 1 slots: misses
    and pairs past `capacity` land on the spare last one and are only counted."""
    for j in range(first, last):
        dx, dy, dz = xi - sx[j], yi - sy[j], zi - sz[j]
        slot = base + min(count, capacity)
        left[slot] = i
        right[slot] = j
        count += 1 if dx * dx + dy * dy + dz * dz < cutoff_sq else 0
    return count


@_jit(inline="always")
def _pair_flow(heat_i, heat_j, mass_i, mass_j, specific_heat, conductivity, overlap, dt):
    """Contact conduction of one pair, positive = heat from j into i: k overlap^2 (T_j - T_i)
    dt with T = Q / (m c_v), capped at the flow that equalises the pair."""
    ci, cj = mass_i * specific_heat, mass_j * specific_heat
    gap = heat_j / cj - heat_i / ci
    f = conductivity * overlap * overlap * gap * dt
    equalising = gap * ci * cj / (ci + cj)
    return equalising if abs(f) > abs(equalising) else f


@_jit(inline="always")
def _donor_limited(flow, donor_heat, given, headroom):
    """A pair's flow scaled down when its donor would give more than it holds (with a few ulps
    of headroom, so the sum of many flows cannot round below zero)."""
    if given > donor_heat * headroom:
        flow *= headroom * donor_heat / given
    return flow


@_twin
def _pairs_in_ranges(sx, sy, sz, sorted_linear, ends, column_offsets, cutoff_sq, chunks,
                     capacity, left, right, found):
    """One pass: chunk c of the sorted ranks writes its pairs, in rank order, to
    left/right[c * (capacity + 1):]; found[c] counts them all, also past `capacity`, so the caller
    can retry with enough room. Chunks are fixed, so the pair order does not depend on threads."""
    n = sx.shape[0]
    north, east_south, east, east_north = (column_offsets[0], column_offsets[1],
                                           column_offsets[2], column_offsets[3])
    for chunk in prange(chunks):
        base = chunk * (capacity + 1)
        count = 0
        for i in range(chunk * n // chunks, (chunk + 1) * n // chunks):
            cell = sorted_linear[i]
            xi, yi, zi = sx[i], sy[i], sz[i]
            # The rest of my own cell and the next cell in z, then the four neighbour columns,
            # each the three cells dz = -1, 0, 1 around its centre: ranks ends[centre - 2] ..
            # ends[centre + 1].
            count = _close_in_range(xi, yi, zi, i, i + 1, ends[cell + 1], sx, sy, sz,
                                    cutoff_sq, left, right, base, count, capacity)
            for offset in (north, east_south, east, east_north):
                centre = cell + offset
                count = _close_in_range(xi, yi, zi, i, ends[centre - 2], ends[centre + 1],
                                        sx, sy, sz, cutoff_sq, left, right, base, count,
                                        capacity)
        found[chunk] = count


@_jit()
def _concatenate_chunks(left, right, found, capacity):
    total = 0
    for chunk in range(found.shape[0]):
        total += found[chunk]
    out_left = np.empty(total, np.int64)
    out_right = np.empty(total, np.int64)
    write = 0
    for chunk in range(found.shape[0]):
        for k in range(found[chunk]):
            out_left[write] = left[chunk * (capacity + 1) + k]
            out_right[write] = right[chunk * (capacity + 1) + k]
            write += 1
    return out_left, out_right


def _sorted_pairs(coords: np.ndarray, cutoff: float, box: tuple[float, float, float]):
    """Counting sort by cell and the close pairs as (left, right) ranks in sorted order.

    Returns order (rank -> particle), the sorted coordinates (3, N), left and right."""
    n = coords.shape[0]
    cells = [max(1, int(length // cutoff)) for length in box]
    scale = [c / length for c, length in zip(cells, box)]
    order, sorted_linear, ends, sorted_coords = _sort_by_cell(n, coords, *cells, *scale)
    sx, sy, sz = sorted_coords
    py, pz = cells[1] + 2, cells[2] + 2
    # Centres of the four neighbour columns of the half stencil: (dx, dy) in
    # (0, 1), (1, -1), (1, 0), (1, 1), each covering dz = -1, 0, 1.
    column_offsets = np.array([(dx * py + dy) * pz for dx, dy in ((0, 1), (1, -1), (1, 0), (1, 1))],
                              dtype=np.int64)
    cutoff_sq = coords.dtype.type(cutoff) ** 2
    chunks = max(1, min(PAIR_CHUNKS, n // 1024))
    # Room for 4 pairs per particle (a gas has about half a pair each); a denser state takes
    # a second pass with exactly the room the first one counted.
    capacity = 4 * (n // chunks + 1) + 64
    found = np.zeros(chunks, np.int64)
    while True:
        left = np.empty(chunks * (capacity + 1), np.int32)
        right = np.empty(chunks * (capacity + 1), np.int32)
        _pairs_in_ranges(n, sx, sy, sz, sorted_linear, ends, column_offsets, cutoff_sq, chunks,
                         capacity, left, right, found)
        if found.max() <= capacity:
            break
        capacity = int(found.max())
    left, right = _concatenate_chunks(left, right, found, capacity)
    return order, sorted_coords, left, right


def cell_list_pairs(positions: torch.Tensor, cutoff: float, box: tuple[float, float, float]
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """All unordered pairs closer than `cutoff`, each once (CPU tensors)."""
    if not AVAILABLE:
        raise RuntimeError("numba is not installed; use the PyTorch cell list")
    if positions.shape[0] < 2:
        empty = torch.zeros(0, dtype=torch.long)
        return empty, empty
    order, _, left, right = _sorted_pairs(positions.detach().contiguous().numpy(), cutoff, box)
    return (torch.from_numpy(order[left].astype(np.int64)),
            torch.from_numpy(order[right].astype(np.int64)))


RESOLVE_BLOCKS = 32  # fixed split of the pair response (not the thread count: repeatable)


@_jit()
def _pair_blocks(left, right, num_particles, blocks):
    """Pair ranges of `blocks` fixed rank blocks, for pairs from `_pairs_in_ranges` (left
    ascending, right > left). Two blocks of the same parity run at the same time; that is safe
    when no pair of block b reaches block b + 2. Where one does (a small or dense system), one
    block holding every pair is returned, and the response runs in one thread."""
    pairs = left.shape[0]
    bounds = np.empty(blocks + 1, np.int64)
    p = 0
    for b in range(blocks):
        while p < pairs and left[p] < b * num_particles // blocks:
            p += 1
        bounds[b] = p
    bounds[blocks] = pairs
    for b in range(blocks - 2):
        for p in range(bounds[b], bounds[b + 1]):
            if right[p] >= (b + 2) * num_particles // blocks:
                one_block = np.empty(2, np.int64)
                one_block[0], one_block[1] = 0, pairs
                return one_block
    return bounds


@_jit(parallel=True)
def _resolve(left, right, pos, vel, heats, masses, radius, restitution, young_modulus,
             conductivity, specific_heat, dt, headroom, bounds):
    """Pair responses; `pos` is (3, N), one contiguous array per axis. `bounds` splits the pairs
    into blocks (`_pair_blocks`): even blocks run in parallel, then odd ones, each block in pair
    order, and totals add up block by block, so results do not depend on the thread count.
    Returns new velocities, new heats, pairs kept, dissipated and the kinetic energy change."""
    pairs = left.shape[0]
    blocks = bounds.shape[0] - 1
    new_vel = vel.copy()
    flow = np.zeros(pairs)
    dissipation = np.zeros(pairs)
    donor = np.empty(pairs, np.int64)
    given = np.zeros(heats.shape[0])
    kept_in_block = np.zeros(blocks, np.int64)
    for parity in range(2):
        for half in prange((blocks + 1 - parity) // 2):
            block = 2 * half + parity
            kept = 0
            for p in range(bounds[block], bounds[block + 1]):
                i, j = left[p], right[p]
                dx = pos[0, i] - pos[0, j]
                dy = pos[1, i] - pos[1, j]
                dz = pos[2, i] - pos[2, j]
                distance = np.sqrt(dx * dx + dy * dy + dz * dz)
                if not distance > 1e-9 * radius:  # coincident centres have no normal
                    donor[p] = -1
                    continue
                kept += 1
                nx, ny, nz = dx / distance, dy / distance, dz / distance
                overlap = 2.0 * radius - distance
                mi, mj = masses[i], masses[j]
                m_eff = mi * mj / (mi + mj)
                v_n = ((vel[i, 0] - vel[j, 0]) * nx + (vel[i, 1] - vel[j, 1]) * ny
                       + (vel[i, 2] - vel[j, 2]) * nz)
                impulse = young_modulus * overlap * dt
                if v_n < 0:
                    impulse += (1.0 + restitution) * m_eff * (-v_n)
                    dissipation[p] = 0.5 * m_eff * v_n * v_n * (1.0 - restitution * restitution)
                new_vel[i, 0] += nx * impulse / mi
                new_vel[i, 1] += ny * impulse / mi
                new_vel[i, 2] += nz * impulse / mi
                new_vel[j, 0] -= nx * impulse / mj
                new_vel[j, 1] -= ny * impulse / mj
                new_vel[j, 2] -= nz * impulse / mj
                f = _pair_flow(heats[i], heats[j], mi, mj, specific_heat, conductivity,
                               overlap, dt)
                flow[p] = f
                donor[p] = j if f > 0 else i
                given[donor[p]] += abs(f)
            kept_in_block[block] = kept
    new_heats = heats.copy()
    dissipated_in_block = np.zeros(blocks)
    for parity in range(2):
        for half in prange((blocks + 1 - parity) // 2):
            block = 2 * half + parity
            dissipated = 0.0
            for p in range(bounds[block], bounds[block + 1]):
                d = donor[p]
                if d < 0:
                    continue
                f = _donor_limited(flow[p], heats[d], given[d], headroom)
                new_heats[left[p]] += 0.5 * dissipation[p] + f
                new_heats[right[p]] += 0.5 * dissipation[p] - f
                dissipated += dissipation[p]
            dissipated_in_block[block] = dissipated
    n = masses.shape[0]
    ke_in_block = np.zeros(blocks)
    for block in prange(blocks):
        ke_change = 0.0
        for i in range(block * n // blocks, (block + 1) * n // blocks):
            before = vel[i, 0] ** 2 + vel[i, 1] ** 2 + vel[i, 2] ** 2
            after = new_vel[i, 0] ** 2 + new_vel[i, 1] ** 2 + new_vel[i, 2] ** 2
            ke_change += 0.5 * masses[i] * (after - before)
        ke_in_block[block] = ke_change
    kept = 0
    dissipated = 0.0
    ke_change = 0.0
    for block in range(blocks):
        kept += kept_in_block[block]
        dissipated += dissipated_in_block[block]
        ke_change += ke_in_block[block]
    return new_vel, new_heats, kept, dissipated, ke_change


def resolve_pairs(left: torch.Tensor, right: torch.Tensor, positions: torch.Tensor,
                  velocities: torch.Tensor, heats: torch.Tensor, masses: torch.Tensor, *,
                  radius: float, restitution: float, young_modulus: float,
                  thermal_conductivity: float, specific_heat: float, dt: float):
    """Numba twin of `collisions.resolve_pairs` (CPU tensors); returns a CollisionResult."""
    from thermo_manifold.physics.collisions import CollisionResult

    if not AVAILABLE:
        raise RuntimeError("numba is not installed; use the PyTorch pair response")
    headroom = 1.0 - 64.0 * float(torch.finfo(heats.dtype).eps)
    new_vel, new_heats, kept, dissipated, ke_change = _resolve(
        left.contiguous().numpy(), right.contiguous().numpy(),
        np.ascontiguousarray(positions.detach().numpy().T),
        velocities.detach().contiguous().numpy(),
        heats.detach().contiguous().numpy(), masses.detach().contiguous().numpy(),
        float(radius), float(restitution), float(young_modulus), float(thermal_conductivity),
        float(specific_heat), float(dt), headroom, np.array([0, left.shape[0]], np.int64))
    return CollisionResult(torch.from_numpy(new_vel), torch.from_numpy(new_heats), int(kept),
                           float(dissipated), float(ke_change) + float(dissipated))


def collide(positions: torch.Tensor, velocities: torch.Tensor, heats: torch.Tensor,
            masses: torch.Tensor, *, box: tuple[float, float, float], radius: float,
            restitution: float, young_modulus: float, thermal_conductivity: float,
            specific_heat: float, dt: float):
    """Find the pairs closer than 2r and apply their responses, all in cell order.

    Same physics as `cell_list_pairs` + `resolve_pairs`, but the particles are gathered into
    cell order once, so every pair touches memory that is close by (particles arrive in any
    order; visiting pairs in their original order is a cache miss per access), and the new
    velocities and heats are put back in the caller's order at the end."""
    from thermo_manifold.physics.collisions import CollisionResult

    if not AVAILABLE:
        raise RuntimeError("numba is not installed; use the PyTorch collision stage")
    if positions.shape[0] < 2:
        return CollisionResult(velocities.clone(), heats.clone(), 0, 0.0, 0.0)
    order, sorted_coords, left, right = _sorted_pairs(
        positions.detach().contiguous().numpy(), 2.0 * radius, box)
    velocity_array = velocities.detach().contiguous().numpy()
    heat_array = heats.detach().contiguous().numpy()
    headroom = 1.0 - 64.0 * float(torch.finfo(heats.dtype).eps)
    in_order = _into_cell_order(velocity_array, heat_array,
                                masses.detach().contiguous().numpy(), order)
    sorted_velocities, sorted_heats, kept, dissipated, ke_change = _resolve(
        left, right, sorted_coords, *in_order, float(radius), float(restitution),
        float(young_modulus), float(thermal_conductivity), float(specific_heat), float(dt),
        headroom, _pair_blocks(left, right, positions.shape[0], RESOLVE_BLOCKS))
    new_velocities, new_heats = _out_of_cell_order(sorted_velocities, sorted_heats, order)
    return CollisionResult(torch.from_numpy(new_velocities), torch.from_numpy(new_heats),
                           int(kept), float(dissipated), float(ke_change) + float(dissipated))


__all__ = ["AVAILABLE", "cell_list_pairs", "collide", "resolve_pairs"]
