import numpy as np
import pytest
import torch


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


def _unnormalize(image):
    from maskstats.mae.data import IMAGENET_MEAN, IMAGENET_STD

    return image * IMAGENET_STD + IMAGENET_MEAN


def test_truncated_jpeg_is_skipped_at_load_time_and_training_goes_on(tmp_path):
    from PIL import Image

    from maskstats.mae.config import TrainConfig
    from maskstats.mae.data import load_dataset
    from maskstats.mae.train import Trainer

    rng = np.random.default_rng(0)
    for k in range(8):
        pixels = rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(tmp_path / f"{k}.jpg", quality=95)
    whole = (tmp_path / "3.jpg").read_bytes()
    (tmp_path / "3.jpg").write_bytes(whole[: len(whole) // 2])  # passes Image.verify()
    data = load_dataset(str(tmp_path), 32, train=True)
    assert len(data) == 8  # the up-front check does not catch it
    with pytest.warns(UserWarning, match="3.jpg"):
        images = [data[i][0] for i in range(8)]
    assert all(image.shape == (3, 32, 32) for image in images)
    config = TrainConfig(
        data=str(tmp_path), batch_size=4, max_steps=2, out=str(tmp_path / "run"), progress=False
    )
    with pytest.warns(UserWarning, match="3.jpg"):
        summary = Trainer(config).run()
    assert summary["step"] == 2 and np.isfinite(summary["loss"])


def test_16_bit_grey_png_is_scaled_by_its_bit_depth(tmp_path):
    from PIL import Image

    from maskstats.mae.data import load_dataset

    pixels = np.full((32, 32), 16384, dtype=np.uint16)  # a quarter of full scale
    pixels[:16] = 49152  # three quarters
    Image.fromarray(pixels).save(tmp_path / "grey16.png")
    assert Image.open(tmp_path / "grey16.png").mode.startswith("I")
    image, _ = load_dataset(str(tmp_path), 32, train=False)[0]
    assert float(_unnormalize(image).mean()) == pytest.approx(0.5, abs=0.01)


def _write_idx(path, array, gz):
    import gzip

    codes = {np.dtype(np.uint8): 0x08}
    header = bytes([0, 0, codes[array.dtype], array.ndim])
    header += b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    raw = header + array.tobytes()
    if gz:
        with gzip.open(f"{path}.gz", "wb") as handle:
            handle.write(raw)
    else:
        path.write_bytes(raw)


def _write_idx_set(root, gz=True, train=20, test=10):
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    arrays = {}
    for prefix, n in (("train", train), ("t10k", test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        _write_idx(root / f"{prefix}-images-idx3-ubyte", images, gz)
        _write_idx(root / f"{prefix}-labels-idx1-ubyte", labels, gz)
        arrays[prefix] = (images, labels)
    return arrays


@pytest.mark.parametrize("gz", [True, False])
def test_idx_reader_gives_train_split_for_pretraining_and_test_split_for_eval(tmp_path, gz):
    from maskstats.mae.data import load_dataset

    arrays = _write_idx_set(tmp_path / "fm", gz=gz)
    for spec in (f"fashion-mnist:{tmp_path / 'fm'}", f"mnist:{tmp_path / 'fm'}"):
        train = load_dataset(spec, 32, train=True)
        test = load_dataset(spec, 28, train=False)
        assert (len(train), len(test)) == (20, 10)
        assert train.labels == arrays["train"][1].tolist()
        assert test.labels == arrays["t10k"][1].tolist()
        image, label = test[3]
        assert image.shape == (3, 28, 28) and label == 3
        grey = _unnormalize(image)
        expected = torch.from_numpy(arrays["t10k"][0][3] / 255.0).float()
        for channel in range(3):  # grey repeated to three channels
            assert torch.allclose(grey[channel], expected, atol=1e-5)
        assert train[0][0].shape == (3, 32, 32)


def test_idx_errors_are_one_line(tmp_path):
    from maskstats.mae.data import DataError, load_dataset

    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        load_dataset(f"fashion-mnist:{tmp_path / 'missing'}", 32)
    _write_idx_set(tmp_path / "fm", gz=False)
    path = tmp_path / "fm" / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(DataError, match="truncated"):
        load_dataset(f"fashion-mnist:{tmp_path / 'fm'}", 32)
    path.write_bytes(b"\x01\x02\x03\x04garbage")
    with pytest.raises(DataError, match="not an IDX file"):
        load_dataset(f"fashion-mnist:{tmp_path / 'fm'}", 32)


def test_train_cli_on_idx_data_and_missing_folder_message(tmp_path, capsys):
    from maskstats.cli import main

    _write_idx_set(tmp_path / "fm", train=32)
    flags = ["--batch-size", "8", "--max-steps", "2", "--out", str(tmp_path / "run")]
    assert main(["train", "--data", f"fashion-mnist:{tmp_path / 'fm'}", *flags]) == 0
    capsys.readouterr()
    assert main(["train", "--data", f"fashion-mnist:{tmp_path / 'none'}", *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert "apt-get install dataset-fashion-mnist" in err and len(err.splitlines()) == 1


def test_builtin_photos_are_distinct():
    import hashlib

    from maskstats.mae.data import builtin_photos

    photos = builtin_photos()
    digests = {hashlib.sha1(np.ascontiguousarray(p).tobytes()).hexdigest() for _, p in photos}
    assert len(digests) == len(photos)
    assert "skimage:cat" not in [name for name, _ in photos]  # the same array as chelsea
