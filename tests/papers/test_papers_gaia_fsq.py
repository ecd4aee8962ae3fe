"""GAIA-2 pieces, FSQ and TMRoPE."""

from __future__ import annotations

import itertools
import math

import pytest
import scipy.stats
import torch

from thermo_manifold.papers.kernels import fsq, gaia


def test_scaled_symlog_round_trip():
    for scale, y_max in ((1000.0, 0.1), (3.6, 75.0)):
        y = torch.linspace(-y_max, y_max, 1001, dtype=torch.float64)
        z = gaia.symlog_scaled(y, scale, y_max)
        assert float(z.abs().max()) == pytest.approx(1.0)
        torch.testing.assert_close(gaia.symexp_scaled(z, scale, y_max), y, rtol=1e-10, atol=1e-12)


def test_scaled_symlog_hand_values_and_validation():
    # scale 1, y_max e - 1: ln(1 + |y|) / 1, so y = e - 1 maps to 1 and y = -(e^0.5 - 1) to -0.5.
    y = torch.tensor([math.e - 1, -(math.exp(0.5) - 1), 0.0], dtype=torch.float64)
    torch.testing.assert_close(gaia.symlog_scaled(y, 1.0, math.e - 1),
                               torch.tensor([1.0, -0.5, 0.0], dtype=torch.float64), rtol=1e-15, atol=0)
    assert float(gaia.symlog_scaled(torch.tensor(0.25), 0.5, 0.5)) == pytest.approx(math.log1p(0.125) / math.log1p(0.25))
    for scale, y_max in ((0.0, 1.0), (1.0, 0.0), (-1.0, 1.0)):
        with pytest.raises(ValueError, match="scale and y_max must be > 0"):
            gaia.symlog_scaled(y, scale, y_max)


def test_flow_time_weights_are_validated(generator):
    for weights in ((0.8, 0.7), (1.2, -0.2), (0.5, 0.5 - 1e-9)):
        with pytest.raises(ValueError, match="weights must be non-negative and sum to 1"):
            gaia.sample_flow_time(10, generator, weights=weights)
    only_first = gaia.sample_flow_time(2000, generator, weights=(1.0, 0.0))   # a zero weight is allowed
    assert float(torch.logit(only_first).mean()) == pytest.approx(0.5, abs=0.15)


def test_bimodal_logit_normal_sampler(generator):
    n = 200_000
    tau = gaia.sample_flow_time(n, generator)
    assert bool(((tau > 0) & (tau < 1)).all())
    logit = torch.log(tau / (1 - tau))
    # Two modes: the mixture's CDF in logit space, checked at several points (scipy oracle).
    for point in (-4.0, -2.0, -1.0, 0.5, 2.0):
        want = 0.8 * scipy.stats.norm.cdf(point, 0.5, 1.4) + 0.2 * scipy.stats.norm.cdf(point, -3.0, 1.0)
        assert float((logit < point).double().mean()) == pytest.approx(want, abs=4e-3)
    # Two modes in tau (near 0.02 and 0.88, where the mixture density peaks) with a dip between;
    # bin probabilities match the mixture CDF pushed through the sigmoid.
    edges = torch.linspace(0, 1, 101, dtype=torch.float64)
    counts = torch.histc(tau, bins=100, min=0, max=1) / n
    z = torch.logit(edges[1:-1]).numpy()
    cdf = 0.8 * scipy.stats.norm.cdf(z, 0.5, 1.4) + 0.2 * scipy.stats.norm.cdf(z, -3.0, 1.0)
    want = torch.diff(torch.cat((torch.zeros(1), torch.tensor(cdf), torch.ones(1)))).to(torch.float64)
    torch.testing.assert_close(counts.to(torch.float64), want, atol=2e-3, rtol=0)
    low_mode, dip, high_mode = counts[1:3].mean(), counts[20:40].mean(), counts[85:90].mean()
    assert low_mode > 1.5 * dip and high_mode > 1.5 * dip


def test_compression_ratio_is_384():
    # Per axis: 24 / 3 = 8x in time, 448 / 14 = 32x and 960 / 30 = 32x in space, 3 -> 64 channels:
    # 8 * 32 * 32 * 3 / 64 = 384.
    assert gaia.compression_ratio() == 384.0
    assert gaia.compression_ratio((8, 64, 64, 3), (2, 8, 8, 16)) == 48.0     # 4 * 8 * 8 * 3 / 16
    assert gaia.compression_ratio((1, 3, 3, 1), (1, 2, 2, 1)) == 2.25        # not an integer


@pytest.mark.parametrize("levels,dims", [(1, 4), (2, 3), (4, 2)])
def test_fsq_round_trip_over_whole_codebook(levels, dims):
    size = fsq.fsq_codebook_size(levels, dims)
    assert size == (2 * levels + 1) ** dims
    codes = torch.tensor(list(itertools.product(range(-levels, levels + 1), repeat=dims)), dtype=torch.float32)
    index = fsq.fsq_encode(codes, levels)
    assert sorted(index.tolist()) == list(range(size))           # bijection onto [0, size)
    assert torch.equal(fsq.fsq_decode(index, levels, dims), codes)


def test_fsq_index_hand_worked():
    # K = 1, D = 2: base 3, index = (q0 + 1) + 3 (q1 + 1).
    codes = torch.tensor([[1.0, 0.0], [-1.0, -1.0], [1.0, 1.0], [-1.0, 0.0]])
    assert fsq.fsq_encode(codes, 1).tolist() == [5, 0, 8, 3]
    index = torch.tensor([[5, 0], [8, 3]])                        # any leading shape
    decoded = fsq.fsq_decode(index, 1, 2)
    assert decoded.dtype == torch.float32 and decoded.tolist() == [[[1, 0], [-1, -1]], [[1, 1], [-1, 0]]]
    assert fsq.fsq_codebook_size(2, 3) == 125
    with pytest.raises(ValueError, match=r"levels outside \[-1, 1\]"):
        fsq.fsq_encode(torch.tensor([[2.0, 0.0]]), 1)
    with pytest.raises(ValueError, match="levels must be >= 1; got 0"):
        fsq.fsq_quantize(torch.zeros(2), 0)
    with pytest.raises(ValueError, match="modality must be text, audio, image or video; got 'smell'"):
        fsq.Segment("smell")


def test_fsq_quantize_bounds_and_gradient(generator):
    h = torch.randn(100, 3, generator=generator) * 4
    q = fsq.fsq_quantize(h, 2)
    assert bool((q == q.round()).all()) and float(q.abs().max()) <= 2
    assert torch.equal(fsq.fsq_decode(fsq.fsq_encode(q, 2), 2, 3), q)
    hg = h.clone().requires_grad_(True)
    fsq.fsq_quantize(hg, 2).sum().backward()
    assert bool((hg.grad[(h.abs() < 2)] == 1).all())            # straight-through inside the range


def test_tmrope_ids():
    segs = [fsq.Segment("text", length=3), fsq.Segment("image", height=2, width=3),
            fsq.Segment("audio", length=4), fsq.Segment("video", frames=3, height=1, width=2, fps=12.5)]
    ids = fsq.tmrope_position_ids(segs)
    assert ids.shape == (3, 3 + 6 + 4 + 6)
    assert ids[:, :3].tolist() == [[0, 1, 2]] * 3
    image = ids[:, 3:9]
    assert set(image[0].tolist()) == {3} and image[1].tolist() == [3, 3, 3, 4, 4, 4]
    assert image[2].tolist() == [3, 4, 5, 3, 4, 5]
    audio = ids[:, 9:13]
    assert audio[0].tolist() == [6, 7, 8, 9]                      # one id per 40 ms frame
    video_t = ids[0, 13:].tolist()
    assert video_t == [10, 10, 12, 12, 14, 14]                    # 80 ms per frame at 12.5 fps


def test_fsq_forward_value_and_shapes(generator):
    assert fsq.fsq_quantize(torch.tensor([0.7, -3.0, 0.2]), 1).tolist() == [1.0, -1.0, 0.0]
    h = torch.randn(50, 3, generator=generator) * 4
    hg = h.clone().requires_grad_(True)
    assert torch.equal(fsq.fsq_quantize(hg, 2).detach(), fsq.fsq_quantize(h, 2))   # same forward value
    q = fsq.fsq_quantize(torch.randn(2, 5, 3, generator=generator) * 3, 1)
    index = fsq.fsq_encode(q, 1)
    assert index.shape == (2, 5) and torch.equal(fsq.fsq_decode(index, 1, 3), q)
    with pytest.raises(ValueError, match="levels outside"):
        fsq.fsq_encode(torch.tensor([[-2.0, 0.0]]), 1)


def test_tmrope_defaults_and_frame_times():
    empty = [fsq.Segment("text"), fsq.Segment("audio"), fsq.Segment("image", width=3),
             fsq.Segment("image", height=2), fsq.Segment("video", height=1, width=1)]
    for seg in empty:                                   # default sizes are 0: no tokens
        assert fsq.tmrope_position_ids([seg]).shape == (3, 0)
    assert fsq.tmrope_position_ids([]).shape == (3, 0)
    # 30 fps: frame k starts at 33.3 k ms, temporal id floor(33.3 k / 40) = 0, 0, 1, 2.
    ids = fsq.tmrope_position_ids([fsq.Segment("video", frames=4, height=1, width=1, fps=30.0)])
    assert ids[0].tolist() == [0, 0, 1, 2]
    # Default 25 fps: one id per frame, still exact at frame 1000.
    ids = fsq.tmrope_position_ids([fsq.Segment("video", frames=1001, height=1, width=1)])
    assert ids[0, -1].item() == 1000 and ids[0, 1].item() == 1
