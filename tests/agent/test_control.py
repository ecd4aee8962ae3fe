"""Issue 17's agent loop: the tasks' interface, the replay's memory windows, parameter matching,
a short seeded run of each agent, the targets' arithmetic and the `agent control` command."""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest
import torch

from thermo_manifold.agent.control import (
    AGENTS,
    BASELINE,
    FIELD,
    Agent,
    ControlConfig,
    baseline_width,
    train_agent,
    window_indices,
)
from thermo_manifold.agent.control_experiment import aggregate, check_targets
from thermo_manifold.agent.control_tasks import TaskUnavailable, make_task
from thermo_manifold.cli import main

TINY = ControlConfig(env_steps=60, random_steps=40, batch=8, hidden=16, eval_episodes=1,
                     max_episode_steps=30, imagination=2)


def test_memory_windows_stop_at_their_episodes_start():
    start = np.array([0, 0, 0, 3, 3, 3, 3])
    windows = window_indices(np.array([0, 2, 3, 6]), start, 3)
    np.testing.assert_array_equal(windows, [[0, 0, 0], [0, 1, 2], [3, 3, 3], [4, 5, 6]])


def test_the_baseline_is_sized_to_the_field_agents_parameter_count():
    task = make_task("curl")
    field = Agent(FIELD, task, TINY, 0).structure_parameters()
    width = baseline_width(task, TINY, 0)
    baseline = Agent(BASELINE, task, TINY, 0, width).structure_parameters()
    assert abs(baseline - field) <= 0.05 * field
    # the rest of the two agents is the same
    a, b = Agent(FIELD, task, TINY, 0), Agent(BASELINE, task, TINY, 0, width)
    for part in ("encoder", "decoder", "reward_model", "policy"):
        assert sum(p.numel() for p in getattr(a, part).parameters()) == sum(
            p.numel() for p in getattr(b, part).parameters())


@pytest.mark.parametrize("kind", AGENTS)
def test_a_short_run_is_seeded_and_reports_finite_measures(kind):
    task = make_task("curl")
    first = train_agent(kind, task, TINY, 3, None)
    second = train_agent(kind, task, TINY, 3, None)
    for key in ("return", "wm_error_1", "wm_error_10", "critic_td_error"):
        assert math.isfinite(first[key]), key
        assert first[key] == second[key], key
    assert first["updates"] == (TINY.env_steps - TINY.random_steps) // TINY.train_every + 1
    other = train_agent(kind, task, TINY, 4, None)
    assert other["return"] != first["return"]


def test_targets_follow_the_aggregated_rows():
    runs = [{"method": FIELD, "return": r, "seconds": 1.0} for r in (-300.0, -500.0)]
    runs += [{"method": BASELINE, "return": r, "seconds": 1.0} for r in (-350.0, -390.0)]
    rows = aggregate(runs)
    field = next(r for r in rows if r["method"] == FIELD)
    assert field["return"] == -400.0 and field["return_sd"] == pytest.approx(math.sqrt(2e4))
    targets = check_targets("pendulum", rows)
    # baseline -370 +- 28.3: the field agent's -400 is more than one sd below it
    assert targets == {"field-theory agent within one sd of the baseline or above": False,
                       "an agent's mean return above -400": True}
    assert check_targets("curl", rows) == {
        "field-theory agent beats the scalar-critic baseline": False}


def test_tasks_share_one_interface_and_a_missing_gymnasium_is_named(monkeypatch):
    curl = make_task("curl")
    obs = curl.reset(0)
    assert obs.shape == (4,) and curl.actions.action_dim == 2
    _, reward, done = curl.step(np.array([1.0, 0.0]))
    assert math.isfinite(reward) and not done
    with pytest.raises(ValueError, match="task must be one of"):
        make_task("walker")
    monkeypatch.setitem(sys.modules, "gymnasium", None)
    with pytest.raises(TaskUnavailable, match="gymnasium"):
        make_task("pendulum")


def test_gymnasium_tasks_step_when_installed():
    pytest.importorskip("gymnasium")
    cartpole = make_task("cartpole")
    assert cartpole.actions.num_actions == 2 and cartpole.reset(0).shape == (4,)
    pendulum = make_task("pendulum")
    assert (pendulum.actions.low, pendulum.actions.high) == (-2.0, 2.0)
    pendulum.reset(0)
    _, reward, _ = pendulum.step(np.array([0.5]))
    assert reward <= 0.0


def test_config_is_validated():
    with pytest.raises(ValueError, match="random_steps"):
        ControlConfig(env_steps=10, random_steps=10)
    with pytest.raises(ValueError, match="gamma"):
        ControlConfig(gamma=1.0)
    with pytest.raises(ValueError, match="batch"):
        ControlConfig(batch=0)


def test_the_command_writes_its_table_and_refuses_bad_input(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["agent", "control", "--task", "curl", "--quick", "--env-steps", "80",
                 "--quiet", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["complete"] and {r["method"] for r in metrics["rows"]} == {
        *AGENTS, "random policy"}
    assert "field-theory agent" in (out / "tables" / "control_curl.md").read_text()
    assert (out / "figures" / "control_curl.png").stat().st_size > 0
    capsys.readouterr()
    assert main(["agent", "control", "--task", "walker", "--out", str(out)]) == 2
    assert "--task" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["agent", "control", "--task", "curl", "--quick", "--out", str(blocker)]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_the_td_target_copy_follows_the_critic_by_its_rate_and_is_not_a_parameter():
    agent = Agent(FIELD, make_task("curl"), TINY, 0)
    before = sum(p.numel() for p in agent.parameters())
    slow = [p.clone() for p in agent.critic_target.parameters()]
    with torch.no_grad():
        for p in agent.critic.parameters():
            p.add_(1.0)
    agent.track_critic(0.25)
    for old, new, fast in zip(slow, agent.critic_target.parameters(), agent.critic.parameters()):
        torch.testing.assert_close(new, old + 0.25 * (fast - old))
    assert sum(p.numel() for p in agent.parameters()) == before
    assert not any(p.requires_grad for p in agent.critic_target.parameters())


def test_the_reward_scale_is_the_root_mean_square():
    from thermo_manifold.agent.control import Normaliser

    data = {"obs": np.zeros((4, 2)), "reward": np.array([3.0, -4.0, 3.0, -4.0])}
    assert Normaliser.of(data).reward_scale == pytest.approx(math.sqrt(12.5))
    constant = Normaliser.of({"obs": np.zeros((3, 2)), "reward": np.ones(3)})
    assert constant.reward_scale == 1.0  # CartPole's constant reward: not a zero sd


def test_the_critics_fields_are_recomputed_after_the_critic_changes():
    agent = Agent(FIELD, make_task("curl"), TINY, 0)
    z = torch.randn(5, agent.latent_dim, generator=torch.Generator().manual_seed(0))
    before = agent._grad_potential(z).clone()
    with torch.no_grad():
        agent.critic.scalar_head.weight.mul_(2.0)
        agent.critic.scalar_head.bias.zero_()
    agent.forget_fields()
    torch.testing.assert_close(agent._grad_potential(z), 2.0 * before)


def test_held_out_errors_are_zero_for_a_world_model_that_knows_the_next_latent():
    """An oracle predict (the encoded next observation of the row it is asked about) must score
    0 at one step and at ROLLOUT steps: the k-step truth is the right row of each episode."""
    from thermo_manifold.agent.control import ROLLOUT, Normaliser, Replay, held_out_errors

    task = make_task("curl")
    agent = Agent(BASELINE, task, TINY, 0, 8)
    rng = np.random.default_rng(0)
    replay = Replay()
    for episode in range(2):  # two episodes: windows and rollouts must not cross them
        obs, start = task.reset(episode), len(replay)
        for _ in range(25):
            u = rng.normal(size=agent.latent_dim)
            next_obs, reward, _ = task.step(agent.act(torch.as_tensor(u[None],
                                                                      dtype=torch.float32)))
            replay.add(obs, u, reward, next_obs, False, start)
            obs = next_obs
    data = replay.arrays()
    norm = Normaliser.of(data)
    with torch.no_grad():
        z_all = agent.encoder(norm.obs(data["obs"]))
        z_next_all = agent.encoder(norm.obs(data["next_obs"]))

    def oracle(z, z_prev, u, memory):
        rows = torch.cdist(z, z_all).argmin(dim=1)
        return z_next_all[rows], torch.zeros_like(z)

    agent.predict = oracle
    errors = held_out_errors(agent, data, norm, TINY)
    assert errors["wm_error_1"] == pytest.approx(0.0, abs=1e-12)
    assert errors[f"wm_error_{ROLLOUT}"] == pytest.approx(0.0, abs=1e-12)
