from __future__ import annotations

import pytest
import torch

from thermo_manifold.device import make_generator
from thermo_manifold.graph.delta_log import DeltaStateLog
from thermo_manifold.graph.equations import (polynomial_library, pysindy_recovery,
                                             recover_from_logs, score_recovery, stlsq)
from thermo_manifold.graph.systems import SYSTEMS, make_system


def test_delta_log_reconstructs_states_exactly(generator):
    log = DeltaStateLog(epsilon=0.0, horizon=500)
    states = [torch.randn(4, 3, generator=generator)]
    for _ in range(60):
        nxt = states[-1].clone()
        mask = torch.rand(4, 3, generator=generator) < 0.3
        nxt[mask] += torch.randn(int(mask.sum()), generator=generator)
        states.append(nxt)
    for s in states:
        log.record(s)
    for t, s in enumerate(states):
        rec = log.reconstruct(t)
        assert rec.dtype == s.dtype and torch.equal(rec, s)
    assert log.nnz < 60 * 12  # only changed entries are stored


def test_delta_log_threshold_error_stays_bounded_and_horizon_folds(generator):
    eps = 1e-2
    log = DeltaStateLog(epsilon=eps, horizon=10)
    x = torch.zeros(5, dtype=torch.float64)
    for _ in range(100):
        x = x + 3e-3 * torch.randn(5, generator=generator, dtype=torch.float64)
        log.record(x)
        assert (log.reconstruct() - x).abs().max() <= eps
    assert len(log) == 10 and list(log.steps) == list(range(89, 100))
    with pytest.raises(ValueError):
        log.reconstruct(5)


def test_delta_log_does_not_alias_caller_state(generator):
    log = DeltaStateLog()
    s = torch.randn(3, generator=generator)
    log.record(s)
    s.add_(1.0)
    assert not torch.equal(log.reconstruct(0), s)


def test_equation_recovery_finds_lorenz_terms():
    system = make_system("lorenz")
    traj = system.trajectories(2, 400, make_generator(0))
    logs = []
    for t in traj:
        log = DeltaStateLog(0.0, horizon=1000)
        for x in t:
            log.record(x)
        logs.append(log)
    xi = recover_from_logs(logs, system.dt, system.library, system.threshold)
    score = score_recovery(xi, system.xi_true)
    assert score.precision == 1.0 and score.recall == 1.0
    assert score.coefficient_error < 0.02


def test_stlsq_and_library():
    lib = polynomial_library(("a", "b"), 2)
    assert lib.names == ("1", "a", "b", "a^2", "a*b", "b^2")
    s = torch.randn(200, 2, generator=make_generator(2), dtype=torch.float64)
    y = torch.stack([2 * s[:, 0] * s[:, 1], -0.5 + s[:, 1] ** 2], 1)
    xi = stlsq(lib.evaluate(s), y, 0.1)
    assert torch.allclose(xi[lib.index("a*b"), 0], torch.tensor(2.0, dtype=torch.float64))
    assert int((xi != 0).sum()) == 3


@pytest.mark.parametrize("name", SYSTEMS)
def test_true_coefficients_reproduce_vector_field(name):
    system = make_system(name)
    s = system.initial(5, make_generator(0)).to(torch.float64)
    torch.testing.assert_close(system.library.evaluate(s) @ system.xi_true, system.field(s))


def test_pysindy_is_optional():
    try:
        import pysindy  # noqa: F401
    except ImportError:
        assert pysindy_recovery(torch.zeros(10, 2), 0.1, 2, 0.1) is None
