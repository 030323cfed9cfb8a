import numpy as np
import pytest

from ebsdlib.preprocess import normalize_patterns, prepare_patterns, resize_patterns, to_channels


class TestResize:
    def test_shape_and_range(self):
        x = np.random.default_rng(0).integers(0, 256, size=(3, 60, 73)).astype(np.uint8)
        out = resize_patterns(x, 32)
        assert out.shape == (3, 32, 32) and out.dtype == np.float32
        # anti-aliased averaging: within the input's range, on its scale (no normalisation), its mean kept
        assert x.min() <= out.min() and out.max() <= x.max() and out.max() > 1
        assert out.mean() == pytest.approx(x.mean(), rel=0.02)

    def test_anti_aliasing_averages_a_checkerboard(self):
        board = (np.indices((64, 64)).sum(axis=0) % 2).astype(np.float32)[None]
        out = resize_patterns(board, 16)
        assert out.std() < 0.05 and out.mean() == pytest.approx(0.5, abs=0.05)

    def test_rejects_wrong_dimensions(self):
        with pytest.raises(ValueError, match="rows, cols"):
            resize_patterns(np.zeros((10, 10)), 5)


class TestNormalize:
    def test_minmax_per_pattern(self):
        x = np.stack([np.linspace(10, 20, 16).reshape(4, 4), np.linspace(0, 255, 16).reshape(4, 4)])
        out = normalize_patterns(x)
        np.testing.assert_allclose(out.min(axis=(1, 2)), 0)
        np.testing.assert_allclose(out.max(axis=(1, 2)), 1)

    def test_standard(self):
        out = normalize_patterns(np.random.default_rng(0).normal(5, 3, size=(2, 20, 20)), "standard")
        np.testing.assert_allclose(out.mean(axis=(1, 2)), 0, atol=1e-5)
        np.testing.assert_allclose(out.std(axis=(1, 2)), 1, atol=1e-5)

    def test_unknown_method(self):
        with pytest.raises(ValueError, match="minmax"):
            normalize_patterns(np.zeros((1, 2, 2)), "zscore")


class TestChannels:
    def test_three_channels_are_identical_copies(self):
        x = np.random.default_rng(0).random((2, 8, 8))
        out = to_channels(x, 3)
        assert out.shape == (2, 8, 8, 3)
        np.testing.assert_array_equal(out[..., 0], out[..., 2])

    def test_prepare(self):
        out = prepare_patterns(np.random.default_rng(0).integers(0, 256, (4, 30, 36)), 16, channels=1)
        assert out.shape == (4, 16, 16, 1) and out.min() == 0 and out.max() == pytest.approx(1)

    def test_bad_channels(self):
        with pytest.raises(ValueError, match="channels"):
            to_channels(np.zeros((1, 2, 2)), 2)
