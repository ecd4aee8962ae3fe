"""`thermo-manifold agent control`: the field-theory agent and its baseline on a control task.

Both agents run one loop (read top to bottom in `train_agent`) and share everything but the
world model and the critic:
- an encoder MLP obs -> z and a decoder z -> obs, trained by reconstruction of normalised
  observations (the world model and critic read z detached, so both agents' latents are
  shaped by the same objective);
- a reward model r(z, u, z') (MLP, trained on observed rewards);
- the Gaussian latent policy u ~ pi(. | z) (`policy.py`) and a fixed action decoder u -> action;
- the actor-critic update *through the world model* (pathwise, SVG(H) / Dreamer style): from
  replayed latents, imagine H steps with reparameterised forces u = mu + sigma eps, sum the
  discounted modelled rewards and the critic's value of the last latent, and ascend that
  return; plus the entropy bonus and the Zeno penalty KL(pi || pi_old) of section 3 (pi_old a
  copy of the policy taken every `zeno_every` updates).

The field-theory agent: `CovariantAttentionWorldModel` (Boris-BAOAB, its force coupled to the
critic's grad Phi and its Lorentz term to the critic's curl F = dA) and `HodgeCritic` (Phi by
TD as the value; A and the harmonic forms fitted to the reward's residual after grad Phi),
with the diagonal metric G (`metric.py`) an EMA of (grad Phi)^2 preconditioning the world
model. The baseline: `MLPWorldModel` (a Gaussian next-latent head) and `ScalarCritic`, their
widths chosen so the world model plus critic have the field agent's parameter count (within
a few percent; the table gives both counts).

Data: `random_steps` of random latent forces u ~ N(0, I) first (they set the observation
normalisation, then frozen; the reward scale is the replay's root-mean-square reward,
refreshed with the replay every 50 steps), then the policy's samples; one update of every part each
`train_every` environment steps. Evaluation: `eval_episodes` episodes with the policy's
sampled forces (as it acts in training), on seeds the training never used; their transitions
are the held-out set for the world model's one-step and 10-step latent errors (relative to the
latent's variance) and the critic's TD error.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from thermo_manifold.agent.control_tasks import Task
from thermo_manifold.agent.critic import HodgeCritic, critic_losses
from thermo_manifold.agent.gaussians import diagonal_gaussian_kl, gaussian_entropy
from thermo_manifold.agent.layers import count_parameters, mlp
from thermo_manifold.agent.metric import DiagonalMetric
from thermo_manifold.agent.mlp_world_model import MLPWorldModel
from thermo_manifold.agent.policy import ActionDecoder, GaussianLatentPolicy, policy_losses
from thermo_manifold.agent.scalar_critic import ScalarCritic
from thermo_manifold.agent.world_model import CovariantAttentionWorldModel

AGENTS = ("field-theory agent", "MLP world model + scalar critic")
FIELD, BASELINE = AGENTS
ROLLOUT = 10  # steps of the k-step world-model error
TASK_STEPS = {"curl": 4_000, "pendulum": 6_000, "cartpole": 3_000, "mountaincar": 4_000}


@dataclass(frozen=True)
class ControlConfig:
    env_steps: int = 6_000
    random_steps: int = 1_000
    train_every: int = 2
    batch: int = 64
    latent_dim: int = 4  # at least the observation's dimension is used
    hidden: int = 64
    key_dim: int = 8
    memory: int = 4
    imagination: int = 10
    gamma: float = 0.99
    lr: float = 1e-3
    policy_lr: float = 1e-3
    entropy_weight: float = 1e-3
    zeno_weight: float = 1.0
    zeno_every: int = 50
    target_rate: float = 0.01  # Polyak rate of the critic's TD-target copy
    eval_episodes: int = 10
    max_episode_steps: int = 1_000

    def __post_init__(self) -> None:
        for name in ("env_steps", "random_steps", "train_every", "batch", "latent_dim",
                     "hidden", "key_dim", "memory", "imagination", "zeno_every",
                     "eval_episodes", "max_episode_steps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1; got {value!r}")
        if self.random_steps >= self.env_steps:
            raise ValueError(f"random_steps ({self.random_steps}) must be below env_steps "
                             f"({self.env_steps})")
        if not 0.0 < self.target_rate <= 1.0:
            raise ValueError(f"target_rate must be in (0, 1]; got {self.target_rate!r}")
        if not 0.0 < self.gamma < 1.0:
            raise ValueError(f"gamma must be in (0, 1); got {self.gamma!r}")
        for name in ("lr", "policy_lr"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0; got {getattr(self, name)!r}")

    @classmethod
    def for_task(cls, task: str) -> "ControlConfig":
        """The full-mode budget of `task` (pendulum's swing-up needs the most steps)."""
        return cls(env_steps=TASK_STEPS.get(task, cls.env_steps))

    @classmethod
    def quick(cls) -> "ControlConfig":
        return cls(env_steps=600, random_steps=300, eval_episodes=2, max_episode_steps=200)


# ====================================================================== replay


class Replay:
    """Transitions in arrival order, with where each one's episode started (for the memory
    window and the previous latent)."""

    def __init__(self) -> None:
        self.obs, self.u, self.reward, self.next_obs = [], [], [], []
        self.terminated, self.start = [], []

    def add(self, obs, u, reward, next_obs, terminated, start) -> None:
        self.obs.append(obs)
        self.u.append(u)
        self.reward.append(reward)
        self.next_obs.append(next_obs)
        self.terminated.append(terminated)
        self.start.append(start)

    def __len__(self) -> int:
        return len(self.obs)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"obs": np.asarray(self.obs), "u": np.asarray(self.u),
                "reward": np.asarray(self.reward), "next_obs": np.asarray(self.next_obs),
                "terminated": np.asarray(self.terminated, dtype=np.float64),
                "start": np.asarray(self.start)}


def window_indices(index: np.ndarray, start: np.ndarray, memory: int) -> np.ndarray:
    """[B, memory] rows t - memory + 1 .. t of each row's episode (clamped at its start)."""
    offsets = np.arange(-memory + 1, 1)
    return np.maximum(index[:, None] + offsets[None, :], start[index][:, None])


# ====================================================================== the agent


class Agent(nn.Module):
    """Encoder, decoder, reward model, policy and action decoder, plus one world model and one
    critic of either kind."""

    def __init__(self, kind: str, task: Task, cfg: ControlConfig, seed: int,
                 baseline_width: int | None = None):
        super().__init__()
        if kind not in AGENTS:
            raise ValueError(f"kind must be one of {AGENTS}; got {kind!r}")
        g = torch.Generator().manual_seed(seed)
        d = max(cfg.latent_dim, task.observation_dim)
        self.kind, self.latent_dim = kind, d
        self.encoder = mlp([task.observation_dim, cfg.hidden, d], g)
        self.decoder = mlp([d, cfg.hidden, task.observation_dim], g)
        self.reward_model = mlp([3 * d, cfg.hidden, cfg.hidden, 1], g)
        self.policy = GaussianLatentPolicy(d, cfg.hidden, g)
        a = task.actions
        self.action_decoder = ActionDecoder(d, action_dim=a.action_dim, low=a.low,
                                            high=a.high, num_actions=a.num_actions)
        self.action_decoder.requires_grad_(False)  # fixed: no gradient reaches it from the env
        self._fields_at: tuple[torch.Tensor, ...] | None = None
        if kind == FIELD:
            self.world_model = CovariantAttentionWorldModel(d, cfg.key_dim, g)
            self.critic = HodgeCritic(d, cfg.hidden, g)
            self.metric = DiagonalMetric(d)
        else:
            width = baseline_width or cfg.hidden
            self.world_model = MLPWorldModel(d, width, g)
            self.critic = ScalarCritic(d, width, g)
        # The TD target's slowly moving copy (semi-gradient TD with gamma near 1 on replayed,
        # off-policy data diverged without it on `curl`). Not a module attribute: it is not
        # trained and does not count as parameters.
        self.__dict__["critic_target"] = copy.deepcopy(self.critic).requires_grad_(False)

    def structure_parameters(self) -> int:
        """World model plus critic: the parts the two agents differ in."""
        return count_parameters(self.world_model) + count_parameters(self.critic)

    # ------------------------------------------------------------------ the field agent's fields
    def metric_diagonal(self) -> torch.Tensor:
        """G normalised to mean 1 and kept within [0.1, 10] (module doc of world_model.py)."""
        if self.kind != FIELD:
            return torch.ones(self.latent_dim)
        g = self.metric.diagonal()
        return (g / g.mean()).clamp(0.1, 10.0)

    def _fields(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(grad Phi, F) at z from one backward pass, kept for the last z asked about: a step
        asks for F and grad Phi at z_t, then grad Phi at z_{t+1}, which is the next step's
        z_t (the same tensor in a rollout), so each point costs one pass."""
        if self._fields_at is None or self._fields_at[0] is not z:
            self._fields_at = (z, *self.critic.fields(z))
        return self._fields_at[1], self._fields_at[2]

    def forget_fields(self) -> None:
        """Drop the kept fields (the critic has changed)."""
        self._fields_at = None

    def _grad_potential(self, z: torch.Tensor) -> torch.Tensor:
        return self._fields(z)[0]

    def _curl(self, z: torch.Tensor) -> torch.Tensor:
        return self._fields(z)[1]

    def predict(self, z, z_prev, u, memory):
        """One world-model step: (mean z_next, log_std). The field model's momentum is always
        the finite difference G (z - z_prev) / h, in rollouts as in training (the integrator's
        own p_next differs from it by the half kicks, a state the model never trained on)."""
        if self.kind == FIELD:
            metric = self.metric_diagonal()
            p = self.world_model.momentum(z, z_prev, metric)
            step = self.world_model.step(z, p, u, memory, metric, self._grad_potential,
                                         self._curl)
            return step.z_next, step.log_std
        return self.world_model(z, u)

    def world_model_loss(self, z, z_prev, u, memory, z_next) -> torch.Tensor:
        if self.kind == FIELD:
            metric = self.metric_diagonal()
            p = self.world_model.momentum(z, z_prev, metric)
            step = self.world_model.step(z, p, u, memory, metric, self._grad_potential,
                                         self._curl)
            return self.world_model.loss(step, z_next, metric)
        return self.world_model.loss(z, u, z_next)

    def critic_loss(self, z, z_next, reward, discount) -> torch.Tensor:
        target = self.critic_target.potential
        if self.kind == FIELD:
            losses = critic_losses(self.critic, z, z_next, reward, discount,
                                   potential_in_reward=False, target_potential=target)
            return losses.total(td_weight=1.0)
        return self.critic.td_loss(z, z_next, reward, discount, target_potential=target)

    @torch.no_grad()
    def track_critic(self, rate: float) -> None:
        """Polyak step of the TD target's copy towards the critic."""
        for slow, fast in zip(self.critic_target.parameters(), self.critic.parameters()):
            slow.lerp_(fast, rate)

    def value(self, z: torch.Tensor) -> torch.Tensor:
        return self.critic.potential(z)

    def reward(self, z, u, z_next) -> torch.Tensor:
        return self.reward_model(torch.cat([z, u, z_next - z], dim=-1)).squeeze(-1)

    def act(self, u: torch.Tensor):
        out = self.action_decoder(u)
        if self.action_decoder.discrete:
            return int(out.argmax(dim=-1)[0])
        return out[0].detach().numpy().astype(np.float64)


def baseline_width(task: Task, cfg: ControlConfig, seed: int) -> int:
    """The baseline's hidden width whose world model plus critic is closest to the field
    agent's parameter count."""
    target = Agent(FIELD, task, cfg, seed).structure_parameters()
    best = min(range(4, 8 * cfg.hidden + 1),
               key=lambda w: abs(Agent(BASELINE, task, cfg, seed, w).structure_parameters()
                                 - target))
    return best


# ====================================================================== normalisation


def _reward_scale(rewards: np.ndarray) -> float:
    """The rewards' root mean square (not their sd: CartPole pays a constant 1)."""
    return float(max(np.sqrt(np.mean(np.square(rewards))), 1e-3))


@dataclass(frozen=True)
class Normaliser:
    obs_mean: np.ndarray
    obs_std: np.ndarray
    reward_scale: float

    @classmethod
    def of(cls, data: dict[str, np.ndarray]) -> "Normaliser":
        return cls(data["obs"].mean(0), np.maximum(data["obs"].std(0), 1e-3),
                   _reward_scale(data["reward"]))

    def with_reward_scale(self, rewards: np.ndarray) -> "Normaliser":
        """The same observation scaling, the reward scale of `rewards` (the replay so far:
        a better policy earns larger rewards, as on `curl`, and values stay of order one)."""
        return dataclasses.replace(self, reward_scale=_reward_scale(rewards))

    def obs(self, x: np.ndarray) -> torch.Tensor:
        return torch.as_tensor((x - self.obs_mean) / self.obs_std, dtype=torch.float32)


# ====================================================================== one update


def update(agent: Agent, optimisers: dict, data: dict, norm: Normaliser, cfg: ControlConfig,
           rng: np.random.Generator, noise: torch.Generator,
           previous_policy: GaussianLatentPolicy | None) -> dict:
    """One gradient step of every part on a replayed batch; returns the losses."""
    n = data["obs"].shape[0]
    index = rng.integers(0, n, cfg.batch)
    window = window_indices(index, data["start"], cfg.memory)
    obs = norm.obs(data["obs"][index])
    losses = {}

    # encoder + decoder: reconstruction
    recon = (agent.decoder(agent.encoder(obs)) - obs).pow(2).mean()
    losses["reconstruction"] = _descend(optimisers["autoencoder"], recon)

    with torch.no_grad():
        memory = agent.encoder(norm.obs(data["obs"][window]))            # [B, M, D]
        z, z_prev = memory[:, -1], memory[:, -2] if cfg.memory > 1 else memory[:, -1]
        z_next = agent.encoder(norm.obs(data["next_obs"][index]))
    u = torch.as_tensor(data["u"][index], dtype=torch.float32)
    reward = torch.as_tensor(data["reward"][index] / norm.reward_scale, dtype=torch.float32)
    discount = torch.as_tensor(cfg.gamma * (1.0 - data["terminated"][index]),
                               dtype=torch.float32)

    losses["world_model"] = _descend(optimisers["world_model"],
                                     agent.world_model_loss(z, z_prev, u, memory, z_next))
    losses["reward"] = _descend(optimisers["reward"],
                                (agent.reward(z, u, z_next) - reward).pow(2).mean())
    losses["critic"] = _descend(optimisers["critic"],
                                agent.critic_loss(z, z_next, reward, discount))
    agent.track_critic(cfg.target_rate)
    agent.forget_fields()
    if agent.kind == FIELD:
        agent.metric.update(agent._grad_potential(z))

    # the policy, through the world model
    ret, window_z = 0.0, memory
    zi, zi_prev = z, z_prev
    for t in range(cfg.imagination):
        ui, mean, log_std = agent.policy.rsample(zi, noise)
        if t == 0:
            mean0, log_std0 = mean, log_std
        z_new, _ = agent.predict(zi, zi_prev, ui, window_z)
        r_new = agent.reward(zi, ui, z_new)
        ret = ret + cfg.gamma ** t * r_new
        window_z = torch.cat([window_z[:, 1:], z_new[:, None]], dim=1)
        zi_prev, zi = zi, z_new
    ret = ret + cfg.gamma ** cfg.imagination * agent.value(zi)
    kl = None
    if previous_policy is not None:
        with torch.no_grad():
            old_mean, old_log_std = previous_policy(z)
        kl = diagonal_gaussian_kl(mean0, log_std0, old_mean, old_log_std)
    terms = policy_losses(ret, gaussian_entropy(log_std0), kl, cfg.entropy_weight,
                          cfg.zeno_weight)
    losses["policy"] = _descend(optimisers["policy"], terms.total)
    losses["imagined_return"] = float(ret.mean().detach())
    return losses


def _descend(optimiser: torch.optim.Optimizer, loss: torch.Tensor) -> float:
    if not torch.isfinite(loss):
        raise FloatingPointError(f"a training loss became {float(loss)}")
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    params = [p for group in optimiser.param_groups for p in group["params"]]
    torch.nn.utils.clip_grad_norm_(params, 10.0)
    optimiser.step()
    return float(loss.detach())


def make_optimisers(agent: Agent, cfg: ControlConfig) -> dict:
    adam = lambda params, lr=cfg.lr: torch.optim.Adam(list(params), lr=lr)  # noqa: E731
    return {"autoencoder": adam([*agent.encoder.parameters(), *agent.decoder.parameters()]),
            "world_model": adam(agent.world_model.parameters()),
            "reward": adam(agent.reward_model.parameters()),
            "critic": adam(agent.critic.parameters()),
            "policy": adam(agent.policy.parameters(), cfg.policy_lr)}


# ====================================================================== the loop


def train_agent(kind: str, task: Task, cfg: ControlConfig, seed: int, width: int | None,
                bar=None) -> dict:
    """Collect, train and evaluate one agent; returns its row of the table."""
    started = time.perf_counter()
    noise = torch.Generator().manual_seed(seed + 1)  # exploration and imagination noise
    agent = Agent(kind, task, cfg, seed, width)
    optimisers = make_optimisers(agent, cfg)
    rng = np.random.default_rng(seed)
    replay, norm, data = Replay(), None, None
    previous_policy, updates, episode = None, 0, 0
    obs, start, episode_steps = task.reset(seed * 1000), 0, 0
    returns, episode_return = [], 0.0
    for step in range(cfg.env_steps):
        if step < cfg.random_steps:
            u = torch.randn(1, agent.latent_dim, generator=noise)
        else:
            with torch.no_grad():
                u, _, _ = agent.policy.rsample(agent.encoder(norm.obs(obs[None])), noise)
        next_obs, reward, done = task.step(agent.act(u))
        episode_steps += 1
        done = done or episode_steps >= cfg.max_episode_steps
        replay.add(obs, u[0].numpy(), reward, next_obs, task.terminated, start)
        episode_return += reward
        if done:
            returns.append(episode_return)
            episode, episode_return, episode_steps = episode + 1, 0.0, 0
            obs, start = task.reset(seed * 1000 + episode), len(replay)
        else:
            obs = next_obs
        if step + 1 == cfg.random_steps:
            norm = Normaliser.of(replay.arrays())
        if step + 1 >= cfg.random_steps and (step + 1) % cfg.train_every == 0:
            if data is None or len(replay) - data["obs"].shape[0] >= 50:
                data = replay.arrays()
                norm = norm.with_reward_scale(data["reward"])
            if updates % cfg.zeno_every == 0:
                previous_policy = copy.deepcopy(agent.policy).requires_grad_(False)
            update(agent, optimisers, data, norm, cfg, rng, noise, previous_policy)
            updates += 1
        if bar is not None:
            bar.update(1)
    evaluation = evaluate(agent, task, cfg, norm, seed)
    return {"method": kind, **evaluation, "train_return_last": (float(np.mean(returns[-5:]))
                                                                if returns else math.nan),
            "parameters": agent.structure_parameters(), "env_steps": cfg.env_steps,
            "updates": updates, "seconds": time.perf_counter() - started}


@torch.no_grad()
def evaluate(agent: Agent, task: Task, cfg: ControlConfig, norm: Normaliser, seed: int) -> dict:
    """Episodes of the policy as it acts in training (sampled forces: its mean alone,
    squashed by the action decoder's tanh, is not the policy that earned the training returns)
    on unseen seeds; their transitions are the held-out set."""
    held_out, returns = Replay(), []
    noise = torch.Generator().manual_seed(10_000_000 + seed)
    for episode in range(cfg.eval_episodes):
        obs, start, total = task.reset(10_000_000 + 1000 * seed + episode), len(held_out), 0.0
        for _ in range(cfg.max_episode_steps):
            u, _, _ = agent.policy.rsample(agent.encoder(norm.obs(obs[None])), noise)
            next_obs, reward, done = task.step(agent.act(u))
            held_out.add(obs, u[0].numpy(), reward, next_obs, task.terminated, start)
            total += reward
            obs = next_obs
            if done:
                break
        returns.append(total)
    return {"return": float(np.mean(returns)), **held_out_errors(agent, held_out.arrays(),
                                                                 norm, cfg)}


@torch.no_grad()
def held_out_errors(agent: Agent, data: dict, norm: Normaliser, cfg: ControlConfig) -> dict:
    """World-model one-step and ROLLOUT-step latent errors (mean squared error over the
    latent's variance) and the critic's mean squared TD error, on held-out transitions."""
    n = data["obs"].shape[0]
    z_all = agent.encoder(norm.obs(data["obs"]))
    z_next_all = agent.encoder(norm.obs(data["next_obs"]))
    variance = float(z_all.var(dim=0).sum()) or 1.0
    u_all = torch.as_tensor(data["u"], dtype=torch.float32)
    index = np.arange(n)
    window = window_indices(index, data["start"], cfg.memory)
    memory = z_all[torch.as_tensor(window)]
    z_prev = memory[:, -2] if cfg.memory > 1 else memory[:, -1]
    with torch.enable_grad():
        one, _ = agent.predict(z_all, z_prev, u_all, memory)
    one_step = float((one - z_next_all).pow(2).sum(-1).mean()) / variance
    # k-step: from every row whose episode continues ROLLOUT more steps, under recorded forces
    same_episode = np.array([i + ROLLOUT - 1 < n and data["start"][i + ROLLOUT - 1]
                             == data["start"][i] for i in index])
    rows = index[same_episode]
    k_step = math.nan
    if rows.size:
        z, zp, mem = z_all[rows], z_prev[rows], memory[rows]
        for k in range(ROLLOUT):
            with torch.enable_grad():
                z_new, _ = agent.predict(z, zp, u_all[rows + k], mem)
            mem = torch.cat([mem[:, 1:], z_new[:, None].detach()], dim=1)
            zp, z = z, z_new.detach()
        truth = z_next_all[rows + ROLLOUT - 1]
        k_step = float((z - truth).pow(2).sum(-1).mean()) / variance
    reward = torch.as_tensor(data["reward"] / norm.reward_scale, dtype=torch.float32)
    discount = torch.as_tensor(cfg.gamma * (1.0 - data["terminated"]), dtype=torch.float32)
    td = agent.value(z_all) - (reward + discount * agent.value(z_next_all))
    return {"wm_error_1": one_step, f"wm_error_{ROLLOUT}": k_step,
            "critic_td_error": float(td.pow(2).mean())}


def random_policy_row(task: Task, cfg: ControlConfig, seed: int) -> dict:
    """Uniformly random actions, evaluated like the agents."""
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    returns = []
    for episode in range(cfg.eval_episodes):
        task.reset(10_000_000 + 1000 * seed + episode)
        total = 0.0
        for _ in range(cfg.max_episode_steps):
            _, reward, done = task.step(task.random_action(rng))
            total += reward
            if done:
                break
        returns.append(total)
    return {"method": "random policy", "return": float(np.mean(returns)),
            "seconds": time.perf_counter() - started}


def config_dict(cfg: ControlConfig) -> dict:
    return dataclasses.asdict(cfg)


__all__ = ["AGENTS", "Agent", "ControlConfig", "Normaliser", "Replay", "baseline_width",
           "evaluate", "random_policy_row", "train_agent", "update", "window_indices"]
