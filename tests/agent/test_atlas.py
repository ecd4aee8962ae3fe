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


def test_structure_filter_reads_each_charts_quantisation_residual(small_atlas, generator):
    """z_n = sum_c w_c F(v_local - z_q_c) (seed 003, 0.2): F sees the residual after each
    chart's code, not v_local. Checked against the filter applied by hand, per chart."""
    encoder = PrimitiveAttentiveAtlasEncoder(small_atlas, generator).double()
    with torch.no_grad():  # codes far from zero, so v_local and its residual differ
        encoder.codebook.mul_(20.0)
        out = encoder(torch.randn((6, small_atlas.input_dim), generator=generator,
                                  dtype=torch.float64))
        expected = torch.zeros_like(out.z_n)
        for c in range(small_atlas.num_charts):
            residual = out.z_e - encoder.codebook[c][out.codes[:, c]]
            expected += out.weights[:, c:c + 1] * encoder.structure_filter(residual)
    torch.testing.assert_close(out.z_n, expected)


def test_texture_enters_as_alpha_times_a_linear_map_of_tanh(generator):
    """x_hat(z_geo, z_tex) - x_hat(z_geo, 0) = alpha W tanh(z_tex) (tex_residual's bias
    cancels): alpha itself, not alpha^2, and tanh, so a huge z_tex saturates."""
    config = AtlasConfig(input_dim=6, latent_dim=3, hidden_dim=8, num_charts=2,
                         codes_per_chart=2, router_dim=3, texture_scale=0.3)
    decoder = PrimitiveTopologicalDecoder(config, generator).double()
    z_geo = torch.randn((4, 3), generator=generator, dtype=torch.float64)
    z_tex = 3.0 * torch.randn((4, 3), generator=generator, dtype=torch.float64)
    with torch.no_grad():
        change = decoder(z_geo, z_tex) - decoder(z_geo, torch.zeros_like(z_tex))
        expected = 0.3 * torch.tanh(z_tex) @ decoder.tex_residual.weight.T
    torch.testing.assert_close(change, expected)


def test_decoder_reads_z_geo_through_tanh(generator):
    """g = tanh(z_geo): far out along a direction the decoder's output stops changing."""
    config = AtlasConfig(input_dim=6, latent_dim=3, hidden_dim=8, num_charts=2,
                         codes_per_chart=2, router_dim=3)
    decoder = PrimitiveTopologicalDecoder(config, generator).double()
    direction = torch.tensor([[0.6, -0.8, 0.0]], dtype=torch.float64)
    tex = torch.zeros((1, 3), dtype=torch.float64)
    with torch.no_grad():
        far, farther, near = (decoder(r * direction, tex) for r in (40.0, 80.0, 0.5))
    torch.testing.assert_close(far, farther)
    assert float((far - near).abs().max()) > 1e-3


def test_decoder_blends_chart_features_by_its_router_weights(generator):
    """h = sum_c w_dec_c gate(g W_c + b_c), g = tanh(z_geo), w_dec from the router on g;
    x_hat = renderer(h) + skip(h) + alpha tex(tanh(z_tex)). Written out per chart."""
    config = AtlasConfig(input_dim=6, latent_dim=3, hidden_dim=8, num_charts=3,
                         codes_per_chart=2, router_dim=3, texture_scale=0.1)
    decoder = PrimitiveTopologicalDecoder(config, generator).double()
    z_geo = 2.0 * torch.randn((5, 3), generator=generator, dtype=torch.float64)
    tex = torch.zeros((5, 3), dtype=torch.float64)
    with torch.no_grad():
        g = torch.tanh(z_geo)
        w = decoder.router(g, decoder.chart_tokens).weights
        assert float(w.max(dim=1).values.min()) < 0.99  # a real blend, not one chart
        h = sum(w[:, c:c + 1] * decoder.gate((g @ decoder.projector_weight[c]
                                              + decoder.projector_bias[c])[:, None, :])[:, 0]
                for c in range(config.num_charts))
        expected = (decoder.renderer(h) + decoder.render_skip(h)
                    + 0.1 * decoder.tex_residual(tex))
        torch.testing.assert_close(decoder(z_geo, tex), expected)
