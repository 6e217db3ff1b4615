import os

import numpy as np
import pandas as pd
import pytest

from maskstats.io import load_masks, save_masks, write_table
from maskstats.masks import random_masks


def test_saved_masks_load_back_identical_and_0644(tmp_path):
    masks = random_masks(5, (3, 4), 0.5, seed=0)
    path = save_masks(tmp_path / "m.npy", masks)
    np.testing.assert_array_equal(load_masks(path), masks)
    assert os.stat(path).st_mode & 0o777 == 0o644 & ~_umask()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp left
    with pytest.raises(FileExistsError):
        save_masks(path, masks, overwrite=False)
    with pytest.raises(ValueError, match=".npy"):
        save_masks(tmp_path / "m.txt", masks)


def test_flat_masks_load_with_a_grid(tmp_path):
    masks = random_masks(3, (2, 5), 0.6, seed=1)
    np.save(tmp_path / "flat.npy", masks.reshape(3, -1).astype(np.uint8))
    np.testing.assert_array_equal(load_masks(tmp_path / "flat.npy", grid=(2, 5)), masks)


def test_write_table_csv_and_parquet(tmp_path):
    table = pd.DataFrame({"mask": [0, 1], "p2dist": [0.5, 1.25]})
    pd.testing.assert_frame_equal(pd.read_csv(write_table(table, tmp_path / "t.csv")), table)
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        with pytest.raises(ValueError, match="pip install pyarrow"):
            write_table(table, tmp_path / "t.parquet")
        assert not (tmp_path / "t.parquet").exists()
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    else:
        written = write_table(table, tmp_path / "t.parquet")
        pd.testing.assert_frame_equal(pd.read_parquet(written), table)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
