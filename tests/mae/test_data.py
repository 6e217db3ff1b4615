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


def _write_cifar(root, per_batch=6, protocol=2):
    """A CIFAR-10 python folder as the official one is laid out (five data batches and a test
    batch, each a pickled dict with bytes keys and an (n, 3072) uint8 array)."""
    import pickle

    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    batches = {}
    for name in [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]:
        batch = {
            b"batch_label": name.encode(),
            b"labels": [int(v) for v in rng.integers(0, 10, per_batch)],
            b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
            b"filenames": [f"img{k}.png".encode() for k in range(per_batch)],
        }
        with open(root / name, "wb") as handle:
            pickle.dump(batch, handle, protocol=protocol)
        batches[name] = batch
    return batches


@pytest.mark.parametrize("protocol", [2, 5])
def test_cifar_batches_load_through_the_restricted_unpickler(tmp_path, protocol):
    from maskstats.mae.data import load_dataset

    batches = _write_cifar(tmp_path / "cifar", protocol=protocol)
    train = load_dataset(f"cifar:{tmp_path / 'cifar'}", 32, train=True)
    test = load_dataset(f"cifar:{tmp_path / 'cifar'}", 32, train=False)
    assert (len(train), len(test)) == (30, 6)
    assert test.labels == batches["test_batch"][b"labels"]
    image, label = test[2]
    expected = batches["test_batch"][b"data"][2].reshape(3, 32, 32) / 255.0
    assert label == batches["test_batch"][b"labels"][2]
    assert torch.allclose(_unnormalize(image), torch.from_numpy(expected).float(), atol=1e-5)


class _RunsShell:
    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.path}",))


def test_a_malicious_cifar_batch_is_refused_without_running_it(tmp_path, capsys):
    import pickle

    from maskstats.cli import main
    from maskstats.mae.data import DataError, load_dataset

    root = tmp_path / "cifar"
    _write_cifar(root)
    sentinel = tmp_path / "SENTINEL"
    with open(root / "data_batch_1", "wb") as handle:
        pickle.dump({b"data": _RunsShell(sentinel), b"labels": [0]}, handle, protocol=2)
    with pytest.raises(DataError) as error:
        load_dataset(f"cifar:{root}", 32, train=True)
    message = str(error.value)
    assert len(message.splitlines()) == 1 and "posix.system" in message, message
    assert not sentinel.exists()
    flags = ["--batch-size", "8", "--max-steps", "1", "--out", str(tmp_path / "run")]
    assert main(["train", "--data", f"cifar:{root}", *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "data_batch_1" in err, err
    assert not sentinel.exists() and not (tmp_path / "run").exists()


def test_cifar_batches_with_other_content_are_one_line(tmp_path):
    import pickle

    from maskstats.mae.data import DataError, load_dataset

    root = tmp_path / "cifar"
    _write_cifar(root)
    cases = [
        [1, 2, 3],  # not a dict
        {b"labels": [0]},  # no data
        {b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]},  # not 3x32x32
        {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]},  # labels do not match
        {b"data": np.array([{"a": 1}], dtype=object), b"labels": [0]},  # objects
    ]
    for content in cases:
        with open(root / "test_batch", "wb") as handle:
            pickle.dump(content, handle, protocol=2)
        with pytest.raises(DataError) as error:
            load_dataset(f"cifar:{root}", 32, train=False)
        assert len(str(error.value).splitlines()) == 1 and "test_batch" in str(error.value)


@pytest.mark.parametrize(
    ("shape", "ok"),
    [
        ((6, 0, 28), False),  # no pixels
        ((6, 28, 0), False),
        ((6, 12, 12, 2), False),  # two channels: neither grey nor RGB
        ((6, 12, 12, 5), False),
        ((6, 12, 12, 1), True),  # grey with a channel axis
        ((6, 12, 12, 3), True),  # RGB
        ((6, 12, 12, 4), True),  # RGBA (alpha dropped)
    ],
)
def test_idx_images_of_every_shape_are_read_or_refused_in_one_line(tmp_path, shape, ok):
    """Issue 27, item 19: images that train/eval cannot use are refused by the reader."""
    from maskstats.mae.data import DataError, load_dataset

    root = tmp_path / "idx"
    root.mkdir()
    rng = np.random.default_rng(0)
    for prefix in ("train", "t10k"):
        _write_idx(root / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, shape, np.uint8), 0)
        _write_idx(root / f"{prefix}-labels-idx1-ubyte", np.arange(6, dtype=np.uint8), 0)
    if not ok:
        with pytest.raises(DataError, match="images must be") as error:
            load_dataset(f"mnist:{root}", 16, train=True)
        assert len(str(error.value).splitlines()) == 1
        return
    data = load_dataset(f"mnist:{root}", 16, train=False)
    image, label = data[2]
    assert image.shape == (3, 16, 16) and label == 2
