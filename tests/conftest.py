from __future__ import annotations

import pytest
import torch

from thermo_manifold.device import make_generator


@pytest.fixture
def generator() -> torch.Generator:
    """A fresh seeded generator; tests draw their random inputs from it."""
    return make_generator(1234)
