from __future__ import annotations

import pytest
import torch

from thermo_manifold.agent.config import AtlasConfig


@pytest.fixture(autouse=True)
def one_thread():
    """The agent's models are small: one intra-op thread is fastest on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def small_atlas() -> AtlasConfig:
    return AtlasConfig(input_dim=12, latent_dim=4, hidden_dim=16, num_charts=3, codes_per_chart=4,
                       router_dim=5, jump_dim=3)
