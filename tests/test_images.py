"""Image grids for people to look at."""

import numpy as np
import pytest
import tensorflow as tf

from resnet.images import image_grid, write_png


def test_grid_places_each_image_and_undoes_normalisation(tmp_path):
    mean, std = np.array([100.0, 110.0, 120.0]), np.array([50.0, 60.0, 70.0])
    raw = np.random.default_rng(0).integers(0, 256, size=(5, 4, 6, 3)).astype(np.float64)
    grid = image_grid((raw - mean) / std, columns=3, mean=mean, std=std, padding=1)
    assert grid.shape == (2 * 5 + 1, 3 * 7 + 1, 3) and grid.dtype == np.uint8
    np.testing.assert_array_equal(grid[1:5, 1:7], raw[0])
    np.testing.assert_array_equal(grid[6:10, 8:14], raw[4])  # row 2, column 2
    assert not grid[0].any() and not grid[:, 0].any()
    write_png(tmp_path / "grid.png", grid)
    decoded = tf.io.decode_png(tf.io.read_file(str(tmp_path / "grid.png"))).numpy()
    np.testing.assert_array_equal(decoded, grid)
    assert [p.name for p in tmp_path.iterdir()] == ["grid.png"]


def test_grid_rejects_wrong_shapes():
    with pytest.raises(ValueError, match=r"\[N, H, W, 1 or 3\]"):
        image_grid(np.zeros((4, 4, 3)))
