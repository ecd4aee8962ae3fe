"""The engine (`ManifoldPhysics.step`, float64) against the NumPy reference (`reference_step`).

Both are run from the same fresh random start for a few steps; every state array and every
per-step ledger flow must agree to round-off. The reference's own building blocks (DST-I,
Poisson solve, pair search) are checked against brute-force definitions first.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from thermo_manifold.device import make_generator
from thermo_manifold.physics import (
    ManifoldPhysics,
    ParticleState,
    PhysicsConfig,
    gas_config,
    gas_state,
    particle_energy,
    random_state,
)
from thermo_manifold.physics.reference import (
    FLOW_KEYS,
    STATE_KEYS,
    dst1,
    find_pairs,
    laplacian,
    reference_step,
    solve_poisson,
    state_from_numpy,
    state_to_numpy,
)

RTOL = 1e-9
CUMULATIVE = ("gravity_work", "pressure_work", "contact_work", "radiated", "dissipated",
              "clamp_work")
CONTACTS = pytest.mark.parametrize("contact", ["spring_dashpot", "seed"])


# ---------------------------------------------------------------------- helpers
def engine_flows(result, previous: dict[str, float] | None) -> dict[str, float]:
    """Per-step flows from the engine's cumulative ledger snapshot."""
    ledger = result.ledger
    flows = {
        key: getattr(ledger, key) - (previous[key] if previous else 0.0) for key in CUMULATIVE
    }
    flows["potential"] = ledger.potential
    flows["contact_potential"] = ledger.contact_potential
    flows["collision_pairs"] = result.collision_pairs
    return flows


def assert_states_close(engine_state: ParticleState, reference: dict[str, np.ndarray],
                        step: int) -> None:
    for name in STATE_KEYS:
        actual = getattr(engine_state, name).numpy()
        expected = reference[name]
        scale = max(float(np.abs(expected).max(initial=0.0)), 1e-300)
        np.testing.assert_allclose(
            actual, expected, rtol=RTOL, atol=1e-12 * scale,
            err_msg=f"state field {name!r} differs after step {step}")


def assert_flows_close(actual: dict, expected: dict, energy_scale: float, step: int) -> None:
    assert actual["collision_pairs"] == expected["collision_pairs"], f"pairs at step {step}"
    assert set(FLOW_KEYS) <= set(expected)
    for key in expected:  # the seed's step reports no clamp work or contact potential
        if key in ("collision_pairs", "substeps"):
            continue
        tolerance = RTOL * abs(expected[key]) + 1e-12 * energy_scale
        assert abs(actual[key] - expected[key]) <= tolerance, (
            f"flow {key!r} at step {step}: engine {actual[key]!r}, reference {expected[key]!r}")


def energy_scale_of(state: ParticleState, flows: dict) -> float:
    return particle_energy(state) + sum(abs(flows.get(k, 0.0)) for k in CUMULATIVE) + abs(
        flows["potential"])


def run_chained(config: PhysicsConfig, state: ParticleState, steps: int) -> list[dict]:
    """Run engine and reference independently from `state`; compare after every step."""
    engine = ManifoldPhysics(config, dtype=torch.float64)
    engine_state, reference = state, state_to_numpy(state)
    previous = None
    all_flows = []
    for step in range(steps):
        start = engine_state
        result = engine.step(engine_state)
        engine_state = result.state
        reference, ref_flows = reference_step(reference, config)
        flows = engine_flows(result, previous)
        previous = {key: getattr(result.ledger, key) for key in CUMULATIVE}
        assert_states_close(engine_state, reference, step)
        assert_flows_close(flows, ref_flows, energy_scale_of(start, ref_flows), step)
        all_flows.append(ref_flows)
    return all_flows


# ---------------------------------------------------------------------- building blocks
def test_state_round_trip():
    config = gas_config(50, 4)
    state = gas_state(50, config, make_generator(0), dtype=torch.float64)
    back = state_from_numpy(state_to_numpy(state))
    for name in STATE_KEYS:
        assert torch.equal(getattr(back, name), getattr(state, name))


@pytest.mark.parametrize("n", [1, 2, 7, 16])
def test_dst1_matches_definition(n):
    rng = np.random.default_rng(n)
    x = rng.standard_normal((3, n, 2))
    j = np.arange(n)
    matrix = np.sin(np.pi * np.outer(j + 1, j + 1) / (n + 1))
    expected = np.einsum("jk,akb->ajb", matrix, x)
    np.testing.assert_allclose(dst1(x, axis=1), expected, rtol=1e-12, atol=1e-12)


def test_poisson_solves_dirichlet_problem():
    rng = np.random.default_rng(1)
    source = rng.standard_normal((5, 6, 7))
    phi = solve_poisson(source, 0.7)
    np.testing.assert_allclose(laplacian(phi, 0.7), source, rtol=1e-10, atol=1e-10)


def test_find_pairs_matches_brute_force():
    rng = np.random.default_rng(2)
    box = (6.0, 5.0, 4.0)
    positions = rng.uniform(0.0, 1.0, (300, 3)) * np.array(box)
    positions[:20] = positions[20:40] + 0.05  # some clustered pairs
    positions = np.clip(positions, 0.0, np.nextafter(np.array(box), 0.0))
    left, right = find_pairs(positions, 1.0, box)
    found = {(min(a, b), max(a, b)) for a, b in zip(left.tolist(), right.tolist())}
    assert len(found) == len(left), "a pair was reported twice"
    distance2 = ((positions[:, None, :] - positions[None, :, :]) ** 2).sum(axis=2)
    i, j = np.nonzero(np.triu(distance2 < 1.0, k=1))
    assert found == set(zip(i.tolist(), j.tolist()))


def test_jacobi_is_not_mirrored():
    config = PhysicsConfig(grid_size=(4, 4, 4), poisson="jacobi")
    state = state_to_numpy(random_state(10, config, make_generator(0), dtype=torch.float64))
    with pytest.raises(NotImplementedError):
        reference_step(state, config)


# ---------------------------------------------------------------------- engine vs reference
@CONTACTS
def test_gas_scenario_matches_engine(contact):
    config = gas_config(500, 8, contact=contact)
    state = gas_state(500, config, make_generator(11), dtype=torch.float64)
    flows = run_chained(config, state, steps=4)
    assert all(f["collision_pairs"] > 0 for f in flows)


@CONTACTS
def test_dense_cluster_matches_engine(contact):
    config = PhysicsConfig(grid_size=(8, 8, 8), contact=contact)
    state = random_state(400, config, make_generator(12), dtype=torch.float64)
    flows = run_chained(config, state, steps=4)
    assert all(f["collision_pairs"] > 1000 for f in flows)


def stress_state(n: int, config: PhysicsConfig, generator: torch.Generator) -> ParticleState:
    """A gas that drives every limiter: particles on the walls moving outwards, fast particles,
    tiny masses (conduction fraction 1, radiation cap), zero and hot heats, coincident centres
    and a tight cluster."""
    state = gas_state(n, config, generator, dtype=torch.float64)
    box = torch.tensor(config.domain_size, dtype=torch.float64)

    def uniform(*shape):
        return torch.rand(*shape, generator=generator, dtype=torch.float64)

    heats = 5.0 * uniform(n) ** 3
    heats[uniform(n) < 0.15] = 0.0
    velocities = state.velocities * 12.0
    positions = state.positions.clone()
    k = n // 10
    lower = uniform(k) < 0.5
    axis = torch.randint(0, 3, (k,), generator=generator)
    rows = torch.arange(k)
    positions[rows, axis] = torch.where(lower, 0.005 * uniform(k), box[axis] - 0.005 * uniform(k))
    velocities[rows, axis] = torch.where(lower, -1.5, 1.5).to(torch.float64)
    masses = state.masses.clone()
    masses[uniform(n) < 0.1] = 1e-6
    positions[k:k + 5] = positions[k + 5:k + 10]
    positions[2 * k:2 * k + 6] = positions[2 * k] + 0.3 * (uniform(6, 3) - 0.5)
    inside = torch.nextafter(box, torch.zeros_like(box))
    positions = torch.minimum(positions.clamp_min(0.0), inside)
    return state.replace(positions=positions, velocities=velocities, heats=heats, masses=masses)


@CONTACTS
def test_stress_limiters_match_engine(contact):
    """Every clamp and limiter active. Compared one step at a time from the engine's own state,
    with heats clamped at 0 first (see test_collision_heat_stays_non_negative)."""
    config = gas_config(400, 8, k_B=5.0, thermal_conductivity=5.0, sigma_SB=1.0,
                        emissivity=1.0, max_acceleration=0.5, tau_thermalization=0.005, G=0.05,
                        contact=contact,
                        # a spring stiff enough to matter and soft enough for masses of 1e-6
                        young_modulus=1000.0 if contact == "seed" else 0.01)
    state = stress_state(400, config, make_generator(3))
    engine = ManifoldPhysics(config, dtype=torch.float64)
    previous = None
    for step in range(4):
        state = state.replace(heats=state.heats.clamp_min(0.0))
        result = engine.step(state)
        reference, ref_flows = reference_step(state_to_numpy(state), config)
        flows = engine_flows(result, previous)
        previous = {key: getattr(result.ledger, key) for key in CUMULATIVE}
        assert_states_close(result.state, reference, step)
        assert_flows_close(flows, ref_flows, energy_scale_of(state, ref_flows), step)
        state = result.state


def test_collision_heat_stays_non_negative():
    """125 clusters: a hot light particle touching six cold heavy ones, contact conduction so
    strong that the donor limiter engages. The engine must leave every heat >= 0 so that its
    output is a valid input for the next step."""
    config = PhysicsConfig(grid_size=(8, 8, 8), grid_spacing=3.0, thermal_conductivity=100.0,
                           emissivity=0.0, G=0.0)
    axis = torch.arange(5, dtype=torch.float64) * 4.5 + 3.0
    centres = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)
    offsets = torch.tensor([[0, 0, 0], [.15, 0, 0], [-.15, 0, 0], [0, .15, 0], [0, -.15, 0],
                            [0, 0, .15], [0, 0, -.15]], dtype=torch.float64)
    positions = (centres[:, None] + offsets[None]).reshape(-1, 3)
    n = positions.shape[0]
    masses = torch.ones(n, dtype=torch.float64)
    masses[::7] = 0.2
    heats = torch.zeros(n, dtype=torch.float64)
    heats[::7] = torch.rand(n // 7, generator=make_generator(0), dtype=torch.float64) + 0.5
    zeros = torch.zeros(n, dtype=torch.float64)
    state = ParticleState(positions, torch.zeros(n, 3, dtype=torch.float64), zeros.clone(),
                          heats, zeros.clone(), masses, zeros.clone())
    engine = ManifoldPhysics(config, dtype=torch.float64)
    out = engine.step(state).state
    assert float(out.heats.min()) >= 0.0
    engine.step(out)  # must not raise StateError


def test_reference_conserves_ledger():
    """The reference's flows close the energy balance exactly like the engine's ledger."""
    config = gas_config(300, 8, contact="seed")
    state = state_to_numpy(gas_state(300, config, make_generator(5), dtype=torch.float64))

    def energy(s):
        return (0.5 * (s["masses"] * (s["velocities"] ** 2).sum(axis=1)).sum()
                + s["energies"].sum() + s["heats"].sum())

    for _ in range(3):
        before = energy(state)
        state, flows = reference_step(state, config)
        expected = (before + flows["gravity_work"] + flows["pressure_work"]
                    + flows["contact_work"] - flows["radiated"])
        assert math.isclose(energy(state), expected, rel_tol=1e-12, abs_tol=1e-9)


@CONTACTS
@pytest.mark.parametrize("n", [0, 1, 2])
def test_tiny_states_match_engine(n, contact):
    config = gas_config(max(n, 1), 4, contact=contact)
    state = gas_state(n, config, make_generator(n), dtype=torch.float64)
    run_chained(config, state, steps=2)
