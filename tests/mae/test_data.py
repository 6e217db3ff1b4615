import numpy as np
import pytest


def test_image_folder_skips_unreadable_files(tmp_path):
    from PIL import Image

    from maskstats.mae.data import load_dataset

    for cls in ("cats", "dogs"):
        (tmp_path / cls).mkdir()
        for k in range(3):
            Image.fromarray(np.full((40, 40, 3), 40 * k, np.uint8)).save(
                tmp_path / cls / f"{k}.png"
            )
    (tmp_path / "dogs" / "broken.png").write_bytes(b"not a png")
    with pytest.warns(UserWarning, match="broken.png"):
        data = load_dataset(str(tmp_path), 32, train=True)
    assert len(data) == 6 and sorted(set(data.labels)) == [0, 1]
    image, label = data[4]
    assert image.shape == (3, 32, 32) and label == 1
