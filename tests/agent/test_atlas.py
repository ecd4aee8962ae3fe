from __future__ import annotations

import pytest
import torch

from thermo_manifold.agent.config import AtlasConfig, TrainConfig
from thermo_manifold.agent.decoder import NormGatedGELU, PrimitiveTopologicalDecoder
from thermo_manifold.agent.encoder import PrimitiveAttentiveAtlasEncoder


def test_split_latent_identity(small_atlas, generator):
    encoder = PrimitiveAttentiveAtlasEncoder(small_atlas, generator)
    out = encoder(torch.randn((32, 12), generator=generator) * 3)
    assert torch.allclose(out.z_e, out.z_q + out.z_n + out.z_tex, atol=1e-6)
    assert torch.allclose(out.z_geo, out.c_bar + out.z_q + out.z_n, atol=1e-6)
    assert out.z_q_all.shape == (32, 3, 4) and out.codes.shape == (32, 3)
    assert torch.allclose(out.weights.sum(1), torch.ones(32), atol=1e-6)
    # each chart's code is the nearest of its codebook to z_e
    dist = (out.z_e[:, None, None, :] - encoder.codebook[None]).pow(2).sum(-1)
    assert torch.equal(out.codes, dist.argmin(-1))
    assert ((out.code >= 0) & (out.code < 4)).all()


def test_straight_through_passes_gradient_to_the_encoder(small_atlas, generator):
    encoder = PrimitiveAttentiveAtlasEncoder(small_atlas, generator)
    out = encoder(torch.randn((8, 12), generator=generator))
    out.z_geo.sum().backward()
    assert encoder.val_proj.weight.grad is not None and encoder.val_proj.weight.grad.abs().sum() > 0


def test_decoder_output_shape(small_atlas, generator):
    decoder = PrimitiveTopologicalDecoder(small_atlas, generator)
    x_hat = decoder(torch.randn((5, 4), generator=generator), torch.randn((5, 4), generator=generator))
    assert x_hat.shape == (5, 12) and torch.isfinite(x_hat).all()


def test_texture_path_is_scaled_by_alpha(generator):
    config = AtlasConfig(input_dim=6, latent_dim=3, hidden_dim=8, num_charts=2, codes_per_chart=2,
                         router_dim=3, texture_scale=0.0)
    decoder = PrimitiveTopologicalDecoder(config, generator)
    z_geo = torch.randn((4, 3), generator=generator)
    a = decoder(z_geo, torch.zeros((4, 3)))
    b = decoder(z_geo, torch.randn((4, 3), generator=generator))
    assert torch.allclose(a, b)


def test_norm_gated_gelu_keeps_direction(generator):
    gate = NormGatedGELU(3)
    h = torch.randn((4, 3, 7), generator=generator) * 2
    out = gate(h)
    cosine = torch.nn.functional.cosine_similarity(out, h, dim=-1)
    big = h.norm(dim=-1) > 0.5
    assert torch.allclose(cosine[big], torch.ones_like(cosine[big]), atol=1e-5)


@pytest.mark.parametrize("shape", [(8, 11), (8,), (0, 12)])
def test_encoder_rejects_bad_shapes(small_atlas, generator, shape):
    encoder = PrimitiveAttentiveAtlasEncoder(small_atlas, generator)
    with pytest.raises(ValueError, match=r"x must have shape \[B, 12\]"):
        encoder(torch.zeros(shape))


def test_decoder_rejects_bad_shapes(small_atlas, generator):
    decoder = PrimitiveTopologicalDecoder(small_atlas, generator)
    with pytest.raises(ValueError, match="z_geo"):
        decoder(torch.zeros((3, 5)), torch.zeros((3, 4)))
    with pytest.raises(ValueError, match="batch"):
        decoder(torch.zeros((3, 4)), torch.zeros((2, 4)))
    with pytest.raises(ValueError, match="floating"):
        decoder(torch.zeros((3, 4), dtype=torch.int64), torch.zeros((3, 4)))


@pytest.mark.parametrize("field, value", [("latent_dim", 0), ("num_charts", 1.5), ("tau_min", 0.0),
                                          ("tau_min", 0.6), ("beta", -1.0), ("input_dim", True)])
def test_atlas_config_validation(field, value):
    with pytest.raises(ValueError, match=field):
        AtlasConfig(**{field: value})


@pytest.mark.parametrize("field, value", [("epochs", 0), ("batch_size", 1), ("lr", 0.0),
                                          ("vicreg", -0.1), ("jump", float("nan")),
                                          ("learned_precisions", 1)])
def test_train_config_validation(field, value):
    with pytest.raises(ValueError, match=field):
        TrainConfig(**{field: value})
