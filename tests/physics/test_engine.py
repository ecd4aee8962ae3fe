from __future__ import annotations

import dataclasses

import pytest
import torch

from thermo_manifold.device import make_generator
from thermo_manifold.physics import (
    ManifoldPhysics,
    ParticleState,
    PhysicsConfig,
    StateError,
    gas_config,
    gas_state,
    random_state,
)


def _run(engine, state, steps):
    result = None
    for _ in range(steps):
        result = engine.step(state)
        state = result.state
    return result


def test_physics_never_changes_excitation_or_phase(generator):
    cfg = PhysicsConfig(grid_size=(12, 12, 12))
    state = random_state(600, cfg, generator, dtype=torch.float64)
    excitation, phase = state.excitations.clone(), state.phases.clone()
    result = _run(ManifoldPhysics(cfg, dtype=torch.float64), state, 20)
    assert torch.equal(result.state.excitations, excitation)
    assert torch.equal(result.state.phases, phase)


def test_step_does_not_write_into_the_callers_tensors(generator):
    cfg = PhysicsConfig(grid_size=(12, 12, 12))
    state = random_state(500, cfg, generator, dtype=torch.float64)
    copy = state.clone()
    ManifoldPhysics(cfg, dtype=torch.float64).step(state)
    for f in dataclasses.fields(state):
        assert torch.equal(getattr(state, f.name), getattr(copy, f.name)), f.name


@pytest.mark.parametrize("poisson", ["spectral", "jacobi"])
def test_seed_ledger_closes_in_float64(poisson):
    # 1000 steps of 2,000 particles from the seed's (dense) initial state: collisions, contact
    # push, clamps, walls, radiation and thermalization all active. The seed's step has no
    # integrator error to report: its ledger closes to round-off.
    cfg = PhysicsConfig(grid_size=(16, 16, 16), poisson=poisson, contact="seed")
    steps = 1000 if poisson == "spectral" else 200
    state = random_state(2000, cfg, make_generator(7), dtype=torch.float64)
    engine = ManifoldPhysics(cfg, dtype=torch.float64)
    result = _run(engine, state, steps)
    ledger = result.ledger
    assert ledger.radiated > 0 and ledger.dissipated > 0 and ledger.contact_work != 0
    assert ledger.residual < 1e-9
    assert (result.state.heats >= 0).all() and (result.state.energies >= 0).all()


def test_seed_ledger_closes_in_float32():
    cfg = gas_config(2000, 16, contact="seed")
    state = gas_state(2000, cfg, make_generator(3), dtype=torch.float32)
    result = _run(ManifoldPhysics(cfg, dtype=torch.float32), state, 1000)
    assert result.ledger.residual < 1e-4


def test_thermalization_alone_conserves_internal_plus_heat(generator):
    # Everything but thermalization switched off: E + Q is constant, E decays as (1 - dt/tau)^t.
    cfg = PhysicsConfig(grid_size=(8, 8, 8), G=0.0, k_B=0.0, sigma_SB=0.0,
                        thermal_conductivity=0.0, dynamic_viscosity=0.0, collisions=False)
    state = random_state(300, cfg, generator, dtype=torch.float64)
    state = state.replace(velocities=torch.zeros_like(state.velocities))
    start = (state.energies + state.heats).clone()
    result = _run(ManifoldPhysics(cfg, dtype=torch.float64), state, 50)
    assert torch.allclose(result.state.energies + result.state.heats, start, rtol=1e-13)
    assert torch.allclose(result.state.energies, state.energies * (1 - 0.01 / 10.0) ** 50,
                          rtol=1e-12)


def test_collision_stage_conserves_momentum_without_fields(generator):
    # Fields off and no walls reached: total momentum only changes through collisions.
    cfg = PhysicsConfig(grid_size=(10, 10, 10), G=0.0, k_B=0.0, dynamic_viscosity=0.0,
                        max_speed=1e9, max_acceleration=1e9)
    state = random_state(800, cfg, generator, dtype=torch.float64)
    result = _run(ManifoldPhysics(cfg, dtype=torch.float64), state, 3)
    assert result.collision_pairs > 0
    momentum = lambda s: (s.masses[:, None] * s.velocities).sum(0)  # noqa: E731
    assert torch.allclose(momentum(result.state), momentum(state), atol=1e-9)


def test_same_seed_same_result_and_different_seed_differs():
    cfg = PhysicsConfig(grid_size=(12, 12, 12))

    def final(seed):
        state = random_state(700, cfg, make_generator(seed))
        return _run(ManifoldPhysics(cfg), state, 10).state

    a, b, c = final(5), final(5), final(6)
    for f in dataclasses.fields(a):
        assert torch.equal(getattr(a, f.name), getattr(b, f.name)), f.name
    assert not torch.equal(a.positions, c.positions)


def test_cell_list_and_brute_force_engines_agree(generator):
    cfg = PhysicsConfig(grid_size=(10, 10, 10))
    state = random_state(700, cfg, generator, dtype=torch.float64)
    cells = _run(ManifoldPhysics(cfg, dtype=torch.float64), state, 5).state
    brute_cfg = cfg.replace(collision_method="brute_force")
    brute = _run(ManifoldPhysics(brute_cfg, dtype=torch.float64), state, 5).state
    assert torch.allclose(cells.velocities, brute.velocities, atol=1e-9)
    assert torch.allclose(cells.heats, brute.heats, atol=1e-9)


@pytest.mark.parametrize("contact", ["spring_dashpot", "seed"])
def test_particles_stay_inside_the_box(generator, contact):
    cfg = PhysicsConfig(grid_size=(6, 6, 6), max_speed=50.0, contact=contact)
    state = random_state(200, cfg, generator, dtype=torch.float64)
    state = state.replace(velocities=torch.randn(200, 3, generator=generator,
                                                 dtype=torch.float64) * 30)
    engine = ManifoldPhysics(cfg, dtype=torch.float64)
    result = _run(engine, state, 30)
    x = result.state.positions
    assert (x >= 0).all() and (x < 6.0).all()
    if contact == "seed":
        assert result.ledger.residual < 1e-9


def _corruptions(state: ParticleState):
    n = state.num_particles
    yield "positions", state.replace(positions=state.positions[:, :2])
    yield "velocities", state.replace(velocities=state.velocities[:-1])
    yield "energies", state.replace(energies=state.energies.to(torch.float32))
    heats = state.heats.clone()
    heats[3] = float("nan")
    yield "heats", state.replace(heats=heats)
    masses = state.masses.clone()
    masses[0] = 0.0
    yield "masses", state.replace(masses=masses)
    positions = state.positions.clone()
    positions[1, 2] = 1e6
    yield "positions", state.replace(positions=positions)
    velocities = state.velocities.clone()
    velocities[2, 0] = float("inf")
    yield "velocities", state.replace(velocities=velocities)
    yield "phases", state.replace(phases=torch.zeros(n + 1, dtype=state.dtype))


def test_bad_states_raise_and_change_nothing(generator):
    cfg = PhysicsConfig(grid_size=(8, 8, 8))
    engine = ManifoldPhysics(cfg, dtype=torch.float64)
    good = random_state(50, cfg, generator, dtype=torch.float64)
    engine.step(good)
    ledger_before = engine.ledger.to_dict()
    fields_before = engine.fields.temperature.clone()
    for name, bad in _corruptions(good):
        snapshot = bad.clone()
        with pytest.raises(StateError, match=name):
            engine.step(bad)
        for f in dataclasses.fields(bad):
            assert torch.equal(getattr(bad, f.name).nan_to_num(), getattr(snapshot, f.name)
                               .nan_to_num()), f.name
        assert engine.ledger.to_dict() == ledger_before
        assert torch.equal(engine.fields.temperature, fields_before)
    with pytest.raises(StateError, match="dtype"):
        ManifoldPhysics(cfg, dtype=torch.float32).step(good)


def test_seed_injection_and_removal_are_counted(generator):
    cfg = PhysicsConfig(grid_size=(10, 10, 10), contact="seed")
    engine = ManifoldPhysics(cfg, dtype=torch.float64)
    state = random_state(300, cfg, generator, dtype=torch.float64)
    state = engine.step(state).state
    state = engine.add_particles(state, random_state(100, cfg, generator, dtype=torch.float64))
    state = engine.step(state).state
    state = engine.remove_particles(state, torch.arange(400) % 3 != 0)
    result = engine.step(state)
    assert result.state.num_particles == 266
    assert result.ledger.injected > 0 and result.ledger.removed > 0
    assert result.ledger.residual < 1e-9
    with pytest.raises(ValueError, match="keep"):
        engine.remove_particles(result.state, torch.ones(3, dtype=torch.bool))


def test_ledger_residual_detects_energy_created_outside_the_step(generator):
    cfg = PhysicsConfig(grid_size=(12, 12, 12), contact="seed")
    engine = ManifoldPhysics(cfg, dtype=torch.float64)
    state = random_state(500, cfg, generator, dtype=torch.float64)
    state = engine.step(state).state
    leaked = state.replace(heats=state.heats + 0.01)  # 5 units of heat from nowhere
    result = engine.step(leaked)
    assert result.ledger.residual == pytest.approx(5.0 / result.ledger.initial_total, rel=1e-6)


def test_record_external_keeps_the_ledger_closed(generator):
    from thermo_manifold.physics import ManifoldPhysics, PhysicsConfig, random_state

    config = PhysicsConfig(grid_size=(8, 8, 8))
    engine = ManifoldPhysics(config, dtype=torch.float64)
    state = random_state(50, config, generator, dtype=torch.float64)
    engine.start_ledger(state)
    boosted = state.replace(energies=state.energies + 0.5)
    engine.record_external(boosted, 0.5 * 50)
    assert engine.ledger.residual < 1e-12
    engine.record_external(boosted, 0.0)
    assert engine.ledger.residual < 1e-12
    with pytest.raises(ValueError, match="energy_in"):
        engine.record_external(boosted, float("nan"))


def _run(engine, state, steps):
    engine.start_ledger(state)
    for _ in range(steps):
        result = engine.step(state)
        state = result.state
    return result


@pytest.mark.parametrize("contact", ["spring_dashpot", "seed"])
def test_numba_and_torch_kernels_give_the_same_run(generator, contact):
    from thermo_manifold.physics import collision_kernels, gas_config, gas_state

    if not collision_kernels.AVAILABLE:
        pytest.skip("numba not installed")
    config = gas_config(3000, 16, contact=contact)
    state = gas_state(3000, config, generator, dtype=torch.float64)
    torch_run = _run(ManifoldPhysics(config, dtype=torch.float64, kernels="torch"), state, 5)
    numba_run = _run(ManifoldPhysics(config, dtype=torch.float64, kernels="numba"), state, 5)
    assert numba_run.collision_pairs == torch_run.collision_pairs > 0
    for name in ("positions", "velocities", "heats", "energies"):
        assert torch.allclose(getattr(numba_run.state, name), getattr(torch_run.state, name),
                              rtol=1e-9, atol=1e-9), name
    assert numba_run.ledger.residual == pytest.approx(torch_run.ledger.residual, abs=1e-9)
    if contact == "seed":
        assert numba_run.ledger.residual < 1e-9


def test_kernels_choice_is_validated():
    with pytest.raises(ValueError, match="kernels must be one of"):
        ManifoldPhysics(PhysicsConfig(grid_size=(8, 8, 8)), kernels="fortran")
    with pytest.raises(ValueError, match="compile must be True or False"):
        ManifoldPhysics(PhysicsConfig(grid_size=(8, 8, 8)), compile="yes")
    assert ManifoldPhysics(PhysicsConfig(grid_size=(8, 8, 8)), kernels="torch").kernels == "torch"


@pytest.mark.slow
def test_compiled_stages_match_eager(generator):
    """torch.compile fuses the mesh stages; the physics must not change (float64)."""
    from thermo_manifold.physics import gas_config, gas_state

    config = gas_config(4000, 16)
    state = gas_state(4000, config, generator, dtype=torch.float64)
    eager = _run(ManifoldPhysics(config, dtype=torch.float64), state, 3)
    compiled = _run(ManifoldPhysics(config, dtype=torch.float64, compile=True), state, 3)
    for name in ("positions", "velocities", "heats", "energies"):
        assert torch.allclose(getattr(compiled.state, name), getattr(eager.state, name),
                              rtol=1e-9, atol=1e-10), name
    assert compiled.ledger.residual < 1e-9


def test_writing_into_a_returned_state_is_caught_next_step(generator):
    """The engine skips re-validating its own unmodified output, never a modified one."""
    config = PhysicsConfig(grid_size=(8, 8, 8))
    engine = ManifoldPhysics(config, dtype=torch.float64)
    state = engine.step(random_state(100, config, generator, dtype=torch.float64)).state
    state = engine.step(state).state  # unmodified output: fine
    state.positions[3, 1] = float("nan")
    with pytest.raises(StateError, match="positions"):
        engine.step(state)
    state.positions[3, 1] = 1.0
    state.masses[0] = -1.0  # masses are shared with the input state
    with pytest.raises(StateError, match="masses"):
        engine.step(state)


def test_engine_state_dict_round_trips_and_rejects_bad_input(generator):
    config = PhysicsConfig(grid_size=(8, 8, 8), poisson="jacobi")
    engine = ManifoldPhysics(config, dtype=torch.float64)
    state = engine.step(random_state(80, config, generator, dtype=torch.float64)).state
    saved = engine.state_dict()
    twin = ManifoldPhysics(config, dtype=torch.float64)
    twin.load_state_dict(saved)
    a, b = engine.step(state), twin.step(state)
    assert torch.equal(a.state.velocities, b.state.velocities)  # same warm start
    assert a.ledger.residual == b.ledger.residual
    with pytest.raises(ValueError, match="warm_potential"):
        twin.load_state_dict({"ledger": None, "warm_potential": torch.zeros(3)})
    assert twin.ledger is not None  # the failed load changed nothing


@pytest.mark.parametrize("contact", ["spring_dashpot", "seed"])
def test_numba_runs_are_bit_identical_on_any_thread_count(generator, contact):
    """Every Numba work split is fixed by the problem (scatter chunks, sort chunks, pair-search
    chunks, pair-response blocks), so one thread and several give the same particles."""
    import numba

    from thermo_manifold.physics import collision_kernels, gas_config, gas_state

    if not collision_kernels.AVAILABLE:
        pytest.skip("numba not installed")
    n = 100_000  # enough x slabs for the pair response to run in parallel blocks
    config = gas_config(n, 32, contact=contact)
    state = gas_state(n, config, generator, dtype=torch.float32)
    _, _, left, right = collision_kernels._sorted_pairs(
        state.positions.numpy(), 2 * config.particle_radius, config.domain_size)
    assert len(collision_kernels._pair_blocks(left, right, n, collision_kernels.RESOLVE_BLOCKS)
               ) == collision_kernels.RESOLVE_BLOCKS + 1
    runs = []
    for threads in sorted({1, numba.config.NUMBA_NUM_THREADS}):
        numba.set_num_threads(threads)
        try:
            runs.append(_run(ManifoldPhysics(config, dtype=torch.float32, kernels="numba"),
                             state, 3))
        finally:
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    first = runs[0]
    assert first.collision_pairs > 10_000
    for run in runs[1:]:
        for name in ("positions", "velocities", "heats", "energies"):
            assert torch.equal(getattr(run.state, name), getattr(first.state, name)), name
        assert run.ledger.contact_work == first.ledger.contact_work
        assert run.ledger.residual == first.ledger.residual
    if contact == "seed":
        assert first.ledger.residual < 1e-4


def test_construction_refuses_a_dict_config_and_an_absent_device():
    with pytest.raises(TypeError, match="config must be a PhysicsConfig .*got dict"):
        ManifoldPhysics({"dt": 0.1})
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="'cuda' requested but CUDA is not available"):
            ManifoldPhysics(PhysicsConfig(grid_size=(8, 8, 8)), device="cuda")


@pytest.mark.parametrize("contact", ["seed", "spring_dashpot"])
def test_a_write_through_numpy_into_the_returned_state_is_seen_by_the_next_step(
        generator, contact):
    """`.numpy()` writes bypass the tensors' version counters; the fast path must not skip
    validation (a NaN) or reuse last step's forces (a moved particle) after one."""
    cfg = PhysicsConfig(grid_size=(12, 12, 12), contact=contact)
    engine = ManifoldPhysics(cfg, dtype=torch.float64)
    state = engine.step(random_state(300, cfg, generator, dtype=torch.float64)).state
    moved = state.positions.numpy()
    moved[5] = [6.0, 6.0, 6.0]  # a valid edit: the forces at the new place differ
    edited = state.clone()
    fresh = ManifoldPhysics(cfg, dtype=torch.float64)
    fresh.start_ledger(edited)
    assert torch.equal(engine.step(state).state.positions, fresh.step(edited).state.positions)

    state = engine.step(random_state(300, cfg, generator, dtype=torch.float64)).state
    state.heats.numpy()[7] = float("nan")
    with pytest.raises(StateError, match="heats contains NaN"):
        engine.step(state)


def test_a_step_that_produces_non_finite_values_says_so_at_once(generator):
    """Valid field by field, explosive together: the step itself reports it."""
    cfg = PhysicsConfig(grid_size=(12, 12, 12), contact="seed", young_modulus=1e30, G=1e30)
    engine = ManifoldPhysics(cfg, dtype=torch.float32)
    state = random_state(200, cfg, generator, dtype=torch.float32)
    with pytest.raises(StateError, match="the step produced non-finite"):
        for _ in range(5):
            state = engine.step(state).state
