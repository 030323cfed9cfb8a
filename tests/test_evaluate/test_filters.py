import numpy as np
import pytest
from scipy.signal import correlate2d

from ebsdlib.evaluate.filters import (
    classical_operators,
    effective_kernels,
    feature_maps,
    first_layer_kernels,
    kernel_distances,
    kernel_movement,
    match_operators,
    operator_similarity,
    ranked_pairs,
)


def test_effective_kernels_sum_the_identical_channels():
    k = np.random.default_rng(0).normal(size=(3, 3, 3, 5))
    eff = effective_kernels(k)
    assert eff.shape == (5, 3, 3)
    np.testing.assert_allclose(eff[2], k[:, :, 0, 2] + k[:, :, 1, 2] + k[:, :, 2, 2])
    with pytest.raises(ValueError, match="rows, cols, channels"):
        effective_kernels(np.zeros((3, 3, 5)))


def test_pairing_finds_a_planted_identical_pair():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(8, 3, 3)), rng.normal(size=(8, 3, 3))
    b[5] = a[2]
    d = kernel_distances(a, b)
    assert d.shape == (8, 8) and d[2, 5] == 0
    np.testing.assert_allclose(d[0, 1], np.linalg.norm(a[0] - b[1]))
    pairs = ranked_pairs(d)
    assert pairs.iloc[0][["scratch", "transfer"]].tolist() == [2, 5] and pairs.iloc[0]["distance"] == 0
    assert pairs["distance"].is_monotonic_increasing
    assert pairs["scratch"].is_unique and pairs["transfer"].is_unique and len(pairs) == 8


def test_matcher_recognises_a_rotated_scaled_sign_flipped_sobel():
    sobel_x = classical_operators()["Sobel x"]
    kernel = -3.7 * np.rot90(sobel_x)  # rotated by 90°: a Sobel y, scaled and flipped
    matches = match_operators(kernel[None])
    assert matches.iloc[0]["operator"] == "Sobel y"
    assert matches.iloc[0]["similarity"] == pytest.approx(1.0)
    assert operator_similarity(kernel, sobel_x) == pytest.approx(0.0, abs=1e-12)


def test_gabor_orientations_differ():
    ops = classical_operators()
    # scikit-image's convention: at 0° the harmonic runs along x, so the kernel is a vertical-line detector
    assert (ops["Gabor 0°"][:, 1] > 0).all() and (ops["Gabor 0°"][:, [0, 2]] < 0).all()
    assert (ops["Gabor 90°"][1, :] > 0).all() and (ops["Gabor 90°"][[0, 2], :] < 0).all()
    np.testing.assert_allclose(ops["Gabor 135°"], np.fliplr(ops["Gabor 45°"]), atol=1e-12)
    assert operator_similarity(ops["Gabor 0°"], ops["Gabor 90°"]) < 0.6
    assert match_operators(ops["Gabor 135°"][None] * 2).iloc[0]["operator"] == "Gabor 135°"


@pytest.mark.parametrize("architecture", ["xception", "mini"])
def test_feature_maps_equal_a_direct_convolution(architecture):
    from ebsdlib.learn.models import build_scratch_model

    model = build_scratch_model(71, architecture=architecture)
    x = np.random.default_rng(0).random((2, 71, 71, 1)).astype("float32")
    maps = feature_maps(model, x, kernels=[0, 7])
    kernels = first_layer_kernels(model)
    assert maps.shape == (2, 35, 35, 2)
    scaled = x[1, :, :, 0] * 2 - 1  # the model's input scaling, then block1_conv1: 3 × 3, stride 2, valid
    direct = correlate2d(scaled, kernels[:, :, 0, 7], mode="valid")[::2, ::2]
    np.testing.assert_allclose(maps[1, :, :, 1], direct, atol=1e-4)


def test_kernel_movement():
    before = np.ones((2, 3, 3))
    after = before.copy()
    after[1] *= 2
    table = kernel_movement(before, after)
    assert table["distance"].tolist() == [0, 3]
    assert table.loc[1, "relative change"] == pytest.approx(1.0)
