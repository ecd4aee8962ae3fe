"""Typed effects, coeffects and grades attached to each reference implementation.

The seed describes every paper with a graded-monad vocabulary: *effects* are what a computation
does to the world (draws random numbers, rounds, allocates), *coeffects* are what it needs from
its context (a precision, a seeded generator, a block size), and *grades* quantify it (a
forward-error bound in units of relative precision, a sensitivity, unbiasedness). Here they are
plain frozen dataclasses over small enums, registered by the `implements` decorator so that the
registry can link every kernel to its paper record and `papers show` can print them.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar


class EffectKind(str, enum.Enum):
    PURE = "pure"                  # deterministic function of its inputs
    RANDOM = "random"              # draws from the caller's torch.Generator
    ROUNDING = "rounding"          # deliberately rounds values (quantisation)
    ALLOCATES = "allocates"        # returns new tensors of the input's size or larger
    STATEFUL = "stateful"          # updates an object it owns (documented in place)


class CoeffectKind(str, enum.Enum):
    PRECISION = "precision"        # needs a floating-point format
    GENERATOR = "generator"        # needs a seeded torch.Generator
    PARAMETER = "parameter"        # needs a named constant (block size, bins, radius)
    INPUT_DOMAIN = "input_domain"  # only valid on part of the input space


class GradeKind(str, enum.Enum):
    FORWARD_ERROR_BOUND = "forward_error_bound"  # bound on RP(computed, exact)
    SENSITIVITY = "sensitivity"                  # Lipschitz factor in the RP metric
    EXACT = "exact"                              # result equal to the oracle up to float rounding
    UNBIASED = "unbiased"                        # E[result] equals the input
    LOSSLESS = "lossless"                        # decode(encode(x)) == x bit for bit
    CONSERVES = "conserves"                      # a stated sum is invariant


@dataclass(frozen=True)
class Effect:
    kind: EffectKind
    detail: str = ""


@dataclass(frozen=True)
class Coeffect:
    kind: CoeffectKind
    detail: str = ""


@dataclass(frozen=True)
class Grade:
    kind: GradeKind
    value: float | None = None
    unit: str = ""
    detail: str = ""

    def __post_init__(self) -> None:
        if self.value is not None and not self.value >= 0:
            raise ValueError(f"Grade.value must be >= 0 or None; got {self.value!r}")


@dataclass(frozen=True)
class Implementation:
    """One reference kernel and what the registry says about it."""

    paper: str                         # record id prefix (paper name) it implements
    qualname: str                      # importable "module:function"
    summary: str
    oracle: str                        # what the tests compare it against
    effects: tuple[Effect, ...] = ()
    coeffects: tuple[Coeffect, ...] = ()
    grades: tuple[Grade, ...] = ()
    fixes: tuple[str, ...] = ()        # seed formula errors corrected here
    tests: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("effects", "coeffects", "grades"):
            data[key] = [{**item, "kind": item["kind"].value} for item in data[key]]
        data["fixes"] = list(self.fixes)
        data["tests"] = list(self.tests)
        return data


IMPLEMENTATIONS: dict[str, Implementation] = {}

F = TypeVar("F", bound=Callable[..., Any])


def implements(paper: str, *, summary: str, oracle: str, effects: tuple[Effect, ...] = (),
               coeffects: tuple[Coeffect, ...] = (), grades: tuple[Grade, ...] = (),
               fixes: tuple[str, ...] = (), tests: tuple[str, ...] = ()) -> Callable[[F], F]:
    """Register the decorated function (or class) as a reference implementation of `paper`."""

    def register(obj: F) -> F:
        qualname = f"{obj.__module__}:{obj.__qualname__}"
        IMPLEMENTATIONS[qualname] = Implementation(
            paper=paper, qualname=qualname, summary=summary, oracle=oracle,
            effects=tuple(effects), coeffects=tuple(coeffects), grades=tuple(grades),
            fixes=tuple(fixes), tests=tuple(tests))
        return obj

    return register


def all_implementations() -> dict[str, Implementation]:
    """Every registered kernel (importing the kernels package registers them)."""
    import thermo_manifold.papers.kernels  # noqa: F401  (import side effect: registration)

    return dict(sorted(IMPLEMENTATIONS.items()))


PURE = Effect(EffectKind.PURE)
RANDOM = Effect(EffectKind.RANDOM, "draws only from the caller's torch.Generator")
GENERATOR = Coeffect(CoeffectKind.GENERATOR, "seeded torch.Generator")


__all__ = ["Coeffect", "CoeffectKind", "Effect", "EffectKind", "GENERATOR", "Grade", "GradeKind",
           "IMPLEMENTATIONS", "Implementation", "PURE", "RANDOM", "all_implementations",
           "implements"]
