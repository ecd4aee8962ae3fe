"""DEEPSEEK_R1: Group Relative Policy Optimization pieces."""

from __future__ import annotations

import torch

from thermo_manifold.papers.metadata import (PURE, Coeffect, CoeffectKind, Grade, GradeKind,
                                             implements)

PAPER = "DEEPSEEK_R1"


@implements(PAPER, summary="group-normalised advantages A_i = (r_i - mean r) / std r per group",
            oracle="each group has mean 0 and (population) std 1; equal rewards give exactly 0",
            effects=(PURE,), coeffects=(Coeffect(CoeffectKind.PARAMETER, "group = last dim"),),
            fixes=("seed adds 1e-8 to std, so a group of equal rewards relies on 0/1e-8 and no group "
                   "has unit std exactly; here a zero-std group gets advantage 0 explicitly",))
def group_advantages(rewards: torch.Tensor) -> torch.Tensor:
    """rewards (..., G) -> advantages (..., G), population std (ddof = 0) as in the paper."""
    if rewards.shape[-1] < 1:
        raise ValueError("rewards need a non-empty group dimension")
    if not rewards.is_floating_point():                 # integer or boolean rewards (pass/fail)
        rewards = rewards.to(torch.get_default_dtype())
    centred = rewards - rewards.mean(dim=-1, keepdim=True)
    std = centred.pow(2).mean(dim=-1, keepdim=True).sqrt()
    # A group whose rewards agree up to rounding carries no signal. Its float mean is not exactly
    # the common value, so without this test the rounding residue would be blown up to +-1.
    eps = torch.finfo(rewards.dtype).eps
    spread = rewards.amax(dim=-1, keepdim=True) - rewards.amin(dim=-1, keepdim=True)
    flat = spread <= 4 * eps * rewards.abs().amax(dim=-1, keepdim=True)
    safe = torch.where(flat, torch.ones_like(std), std)
    return torch.where(flat, torch.zeros_like(centred), centred / safe)


@implements(PAPER, summary="PPO/GRPO clipped surrogate with ratio = exp(logp_new - logp_old)",
            oracle="elementwise -min(rA, clip(r, 1-e, 1+e)A) with r = exp(log ratio); no gradient when clipped",
            effects=(PURE,), coeffects=(Coeffect(CoeffectKind.PARAMETER, "clip_eps = 0.2"),),
            fixes=("seed uses the log ratio itself as the ratio (forgets exp)",))
def clipped_surrogate(logp_new: torch.Tensor, logp_old: torch.Tensor, advantages: torch.Tensor,
                      clip_eps: float = 0.2) -> torch.Tensor:
    if not 0 < clip_eps < 1:
        raise ValueError(f"clip_eps must be in (0, 1); got {clip_eps}")
    ratio = torch.exp(logp_new - logp_old)
    unclipped = ratio * advantages
    clipped = ratio.clamp(1.0 - clip_eps, 1.0 + clip_eps) * advantages
    return -torch.minimum(unclipped, clipped).mean()


@implements(PAPER, summary="k3 estimator of KL(pi || pi_ref): r - ln r - 1 with r = pi_ref / pi",
            oracle="non-negative per sample; Monte Carlo mean matches the exact categorical KL",
            effects=(PURE,), grades=(Grade(GradeKind.UNBIASED, detail="under samples from pi"),))
def k3_kl(logp: torch.Tensor, logp_ref: torch.Tensor) -> torch.Tensor:
    log_ratio = logp_ref - logp
    return torch.exp(log_ratio) - log_ratio - 1.0


def grpo_loss(logp_new: torch.Tensor, logp_old: torch.Tensor, logp_ref: torch.Tensor,
              rewards: torch.Tensor, clip_eps: float = 0.2, kl_beta: float = 0.1) -> torch.Tensor:
    """Surrogate on group advantages plus beta * mean k3 KL to the reference policy."""
    advantages = group_advantages(rewards)
    return clipped_surrogate(logp_new, logp_old, advantages, clip_eps) + kl_beta * k3_kl(logp_new, logp_ref).mean()


__all__ = ["clipped_surrogate", "group_advantages", "grpo_loss", "k3_kl"]
