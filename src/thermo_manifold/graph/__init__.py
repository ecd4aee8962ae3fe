"""Sparse graph learner (seed 001): SparseMaskedNN grown by evidence, and graph entities."""

from __future__ import annotations

from thermo_manifold.graph.delta_log import DeltaStateLog
from thermo_manifold.graph.learner import SparseDynamicsLearner
from thermo_manifold.graph.optim import SparseAdam, relativistic_gamma, taylor_scores
from thermo_manifold.graph.planner import Heat, Planner, PlannerConfig
from thermo_manifold.graph.sparse import SparseCOO, SparseMaskedNN, rectangular_identity
from thermo_manifold.graph.spline import SplineActivation
from thermo_manifold.graph.stencil import StencilMaskedNN

__all__ = ["DeltaStateLog", "Heat", "Planner", "PlannerConfig", "SparseAdam", "SparseCOO",
           "SparseDynamicsLearner", "SparseMaskedNN", "SplineActivation", "StencilMaskedNN",
           "rectangular_identity", "relativistic_gamma", "taylor_scores"]
