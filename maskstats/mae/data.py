"""Image data without torchvision: image folders, CIFAR python pickles, IDX files (Fashion-MNIST,
MNIST) and built-in sets that need no download (photos shipped inside scikit-image and
scikit-learn; scikit-learn's digits).

Every sample's augmentation is drawn from a generator seeded by (seed, epoch, index), so a run
that stops and resumes sees exactly the same images."""

from __future__ import annotations

import gzip
import hashlib
import math
import pickle
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import DTypeLike
from torch.utils.data import Dataset

IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm"}


class DataError(ValueError):
    """A data source that cannot be used (missing, empty, unreadable)."""


def to_tensor(image: np.ndarray, max_value: float | None = None) -> torch.Tensor:
    """(H, W), (H, W, 3) or (H, W, 4) image -> (3, H, W) float in [0, 1].

    Args:
        image: uint8 (scaled by 255), uint16 (by 65535), or float already in [0, 1].
        max_value: the full-scale value of the image's bit depth, when the dtype does not say
            it (e.g. 65535 for a 16-bit PNG that Pillow reads as int32).
    """
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    array = array[..., :3]
    tensor = torch.from_numpy(np.array(array, dtype=np.float32)).permute(2, 0, 1)
    if max_value is None:
        if array.dtype == np.uint8:
            max_value = 255.0
        elif array.dtype == np.uint16:
            max_value = 65535.0
        elif tensor.numel() and tensor.max() > 1.0:
            max_value = 255.0
    return tensor / max_value if max_value else tensor


def random_resized_crop(
    image: torch.Tensor,
    size: int,
    rng: np.random.Generator,
    scale: tuple[float, float] = (0.2, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    flip: bool = True,
) -> torch.Tensor:
    """RandomResizedCrop (area share in ``scale``, log-uniform aspect in ``ratio``, as
    torchvision and MAE) and a horizontal flip with probability 1/2, in torch.

    Args:
        image: (3, H, W) float.
        size: output side in pixels.
        rng: numpy Generator for the crop and the flip.
        scale: range of the crop's share of the image area.
        ratio: range of the crop's aspect ratio (width / height), drawn log-uniformly.
        flip: flip horizontally with probability 1/2.

    Returns:
        (3, size, size) float.
    """
    _, height, width = image.shape
    area = height * width
    top, left, crop_h, crop_w = 0, 0, height, width
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1])))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            top = int(rng.integers(0, height - h + 1))
            left = int(rng.integers(0, width - w + 1))
            crop_h, crop_w = h, w
            break
    else:  # central crop, as torchvision's fallback
        side = min(height, width)
        top, left, crop_h, crop_w = (height - side) // 2, (width - side) // 2, side, side
    crop = image[:, top : top + crop_h, left : left + crop_w][None]
    out = F.interpolate(
        crop, size=(size, size), mode="bilinear", align_corners=False, antialias=True
    )[0]
    if flip and rng.random() < 0.5:
        out = out.flip(-1)
    return out


def resize(image: torch.Tensor, size: int) -> torch.Tensor:
    """Resize a (3, H, W) image to (3, size, size) (evaluation: no randomness)."""
    return F.interpolate(
        image[None], size=(size, size), mode="bilinear", align_corners=False, antialias=True
    )[0]


def normalize(image: torch.Tensor) -> torch.Tensor:
    """ImageNet mean/std normalisation of a (3, H, W) image in [0, 1]."""
    return (image - IMAGENET_MEAN) / IMAGENET_STD


class ImageDataset(Dataset):
    """Images (a list of loaders) with labels; pretraining mode crops and flips, evaluation
    mode resizes.

    Args:
        loaders: callables returning a (3, H, W) float tensor in [0, 1] each.
        labels: one int per image.
        img_size: output side in pixels.
        train: random resized crop + flip (seeded by seed, epoch, index) or plain resize.
        length: dataset length (defaults to len(loaders); longer repeats the images with new
            crops, for small built-in sets).
    """

    def __init__(
        self,
        loaders: Sequence[Callable[..., torch.Tensor]],
        labels: list[int],
        img_size: int,
        train: bool = True,
        seed: int = 0,
        length: int | None = None,
        names: list[str] | None = None,
    ) -> None:
        if not loaders:
            raise DataError("the data source holds no images")
        self.loaders = loaders
        self.labels = labels
        self.img_size = img_size
        self.train = train
        self.seed = seed
        self.length = length or len(loaders)
        self.epoch = 0
        self.names = names or [str(i) for i in range(len(loaders))]
        self.classes = sorted(set(labels))
        self.unreadable: set[int] = set()

    def set_epoch(self, epoch: int) -> None:
        """Draw this epoch's crops (they depend on the seed and the epoch)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    def _load(self, source: int) -> tuple[torch.Tensor, int]:
        """The image ``source`` and its index; an image that fails to decode (a truncated JPEG)
        is skipped with a warning naming the file, and the next readable one is used instead."""
        for offset in range(len(self.loaders)):
            candidate = (source + offset) % len(self.loaders)
            if candidate in self.unreadable:
                continue
            try:
                return self.loaders[candidate](), candidate
            except Exception as error:  # decode errors differ by format and library
                self.unreadable.add(candidate)
                warnings.warn(
                    f"skipping unreadable image {self.names[candidate]}: {error}", stacklevel=3
                )
        raise DataError("no image of the data source can be decoded")

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image, source = self._load(index % len(self.loaders))
        if self.train:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            image = random_resized_crop(image, self.img_size, rng)
        else:
            image = resize(image, self.img_size)
        return normalize(image), self.labels[source]


def builtin_photos() -> list[tuple[str, np.ndarray]]:
    """The distinct photos shipped inside scikit-image and scikit-learn (no download).

    Ten photos where every package is installed (scikit-image's ``cat`` is the same array as its
    ``chelsea`` and is kept once): a handful of images, good for smoke tests and for
    pretraining on crops, not a data set to evaluate a classifier on.

    Returns:
        (name, (H, W, 3) uint8 image) pairs, duplicates removed.
    """
    from skimage import data as skdata

    photos = []
    for name in (
        "astronaut",
        "coffee",
        "chelsea",
        "rocket",
        "immunohistochemistry",
        "retina",
        "colorwheel",
        "hubble_deep_field",
        "cat",
    ):
        loader = getattr(skdata, name, None)
        if loader is None:
            continue
        try:
            photos.append((f"skimage:{name}", loader()))
        except Exception:  # some images are fetched on demand: skip those not shipped
            continue
    try:
        from sklearn.datasets import load_sample_images

        for name, image in zip(("china", "flower"), load_sample_images().images, strict=False):
            photos.append((f"sklearn:{name}", image))
    except Exception:
        pass
    distinct, seen = [], set()
    for name, image in photos:
        digest = hashlib.sha1(np.ascontiguousarray(image).tobytes()).hexdigest()
        if digest not in seen:
            seen.add(digest)
            distinct.append((name, image))
    return distinct


def natural_dataset(img_size: int, train: bool, seed: int, length: int = 4096) -> ImageDataset:
    """builtin:natural — random resized crops of the ten built-in photos (labels = photo
    index). Every image is a crop of one of ten photos: fine for pretraining smoke tests, useless
    for a probe (``maskstats eval`` refuses it: its test images repeat its training images)."""
    photos = builtin_photos()
    if not photos:
        raise DataError("builtin:natural found no photos inside scikit-image/scikit-learn")
    tensors = [to_tensor(image) for _, image in photos]
    loaders = [lambda t=t: t for t in tensors]
    return ImageDataset(
        loaders,
        list(range(len(photos))),
        img_size,
        train,
        seed,
        length,
        [name for name, _ in photos],
    )


def digits_dataset(img_size: int, train: bool, seed: int) -> ImageDataset:
    """builtin:digits — scikit-learn's 1797 8x8 digits, upscaled, grey to RGB, labels 0-9."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.from_numpy(digits.images / 16.0).float()
    tensors = [img[None].repeat(3, 1, 1) for img in images]
    loaders = [lambda t=t: t for t in tensors]
    return ImageDataset(loaders, [int(v) for v in digits.target], img_size, train, seed)


def pil_full_scale(mode: str, array: np.ndarray) -> float:
    """Full-scale value of an integer grey image by its bit depth: 65535 for 16-bit PNG/TIFF
    (Pillow reads them as ``I;16`` or as 32-bit ``I``), 2**32 - 1 for values beyond 16 bits."""
    if mode.startswith("I;16") or array.size == 0 or int(array.max()) <= 65535:
        return 65535.0
    return float(2**32 - 1)


def image_folder_dataset(root: Path, img_size: int, train: bool, seed: int) -> ImageDataset:
    """An image-folder tree: class = subfolder (files directly under root get class 0)."""
    if not root.is_dir():
        raise DataError(f"data folder {root} does not exist")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"data folder {root} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    class_names = sorted(
        {p.parent.relative_to(root).parts[0] if p.parent != root else "" for p in files}
    )
    class_of = {name: k for k, name in enumerate(class_names)}
    readable, labels = [], []
    from PIL import Image

    for path in files:
        try:
            with Image.open(path) as image:
                image.verify()
        except Exception as error:
            warnings.warn(f"skipping unreadable image {path}: {error}", stacklevel=2)
            continue
        readable.append(path)
        labels.append(
            class_of[path.parent.relative_to(root).parts[0] if path.parent != root else ""]
        )
    if not readable:
        raise DataError(f"data folder {root} holds no readable images")

    def load(path: Path) -> torch.Tensor:
        with Image.open(path) as image:
            if image.mode.startswith("I"):  # 16-bit (I;16*) or 32-bit integer grey
                array = np.asarray(image)
                return to_tensor(array, max_value=pil_full_scale(image.mode, array))
            if image.mode == "F":
                return to_tensor(np.clip(np.asarray(image, dtype=np.float32), 0, None), 1.0)
            return to_tensor(np.asarray(image.convert("RGB")))

    loaders = [lambda p=p: load(p) for p in readable]
    return ImageDataset(loaders, labels, img_size, train, seed, names=[str(p) for p in readable])


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """What Python 3 pickles of bytes at protocol 2 call (``_codecs.encode(text, "latin1")``),
    admitting no other codec."""
    if encoding.lower().replace("-", "").replace("_", "") not in ("latin1", "iso88591"):
        raise pickle.UnpicklingError(f"codec {encoding!r} is not admitted")
    return text.encode("latin-1")


_ARRAY_RECONSTRUCT = np.zeros(1).__reduce__()[0]
_ARRAY_FROM_BUFFER = np.zeros(1).__reduce_ex__(5)[0]
CIFAR_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _ARRAY_RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _ARRAY_RECONSTRUCT,
    ("numpy.core.numeric", "_frombuffer"): _ARRAY_FROM_BUFFER,
    ("numpy._core.numeric", "_frombuffer"): _ARRAY_FROM_BUFFER,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,
}
"""Everything a CIFAR python batch refers to: numpy's array reconstruction (an array from a
shape, a dtype and bytes) and, in batches re-pickled by Python 3, the latin-1 decoding of bytes.
Nothing else can be called while unpickling."""


class CifarUnpickler(pickle.Unpickler):
    """An unpickler that admits only :data:`CIFAR_GLOBALS`: dicts, lists, strings, bytes and
    numbers are built as usual, numpy arrays through numpy's own reconstruction; any other
    global (a function a malicious file would call) is refused before it runs."""

    def find_class(self, module: str, name: str) -> Any:
        """The admitted global ``module.name``.

        Raises:
            pickle.UnpicklingError: anything not in :data:`CIFAR_GLOBALS`.
        """
        found = CIFAR_GLOBALS.get((module, name))
        if found is None:
            raise pickle.UnpicklingError(
                f"it refers to {module}.{name}, which a CIFAR batch does not hold"
            )
        return found


def read_cifar_batch(path: Path) -> tuple[np.ndarray, list[int]]:
    """One CIFAR-10 / CIFAR-100 python batch, read with :class:`CifarUnpickler` (nothing in the
    file can run).

    Returns:
        ((n, 3, 32, 32) uint8 images, n labels).

    Raises:
        DataError: one line for a file that is not a CIFAR batch (or holds anything else).
    """
    try:
        with open(path, "rb") as handle:
            batch = CifarUnpickler(handle, encoding="bytes").load()
    except Exception as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise DataError(f"cannot read CIFAR batch {path}: {reason}") from None
    if not isinstance(batch, dict):
        raise DataError(f"{path} is not a CIFAR batch: it holds a {type(batch).__name__}")
    data = batch.get(b"data")
    labels = batch.get(b"labels", batch.get(b"fine_labels"))
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8:
        kind = data.dtype if isinstance(data, np.ndarray) else type(data).__name__
        raise DataError(f"{path} is not a CIFAR batch: its data is {kind}, not a uint8 array")
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or data.shape[0] == 0:
        raise DataError(f"{path} is not a CIFAR batch: data of shape {data.shape}, not (n, 3072)")
    if (
        not isinstance(labels, list)
        or len(labels) != data.shape[0]
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in labels)
    ):
        raise DataError(f"{path} is not a CIFAR batch: it needs one integer label per image")
    return data.reshape(-1, 3, 32, 32), labels


def cifar_dataset(root: Path, img_size: int, train: bool, seed: int) -> ImageDataset:
    """A CIFAR-10 (data_batch_1..5, test_batch) or CIFAR-100 (train, test) python folder, read
    without running anything from its files (:func:`read_cifar_batch`)."""
    names = [f"data_batch_{k}" for k in range(1, 6)] if train else ["test_batch"]
    if not (root / "data_batch_1").exists() and not (root / "test_batch").exists():
        names = ["train" if train else "test"]
    images, labels = [], []
    for name in names:
        path = root / name
        if not path.exists():
            raise DataError(f"CIFAR file {path} is missing")
        data, label = read_cifar_batch(path)
        images.append(data)
        labels.extend(label)
    stacked = torch.from_numpy(np.concatenate(images)).float() / 255.0
    loaders = [lambda t=t: t for t in stacked]
    return ImageDataset(loaders, labels, img_size, train, seed)


IDX_DTYPES: dict[int, DTypeLike] = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
IDX_FOLDERS = {
    "fashion-mnist": Path("/usr/share/datasets/fashion-mnist"),
    "mnist": Path("/usr/share/datasets/mnist"),
}
"""Default folders of the IDX data sets: where Debian's dataset-* packages install them."""
IDX_INSTALL = {
    "fashion-mnist": "install it with `apt-get install dataset-fashion-mnist` (Debian/Ubuntu)",
    "mnist": "put MNIST's four IDX files there",
}


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (LeCun's MNIST format), gzipped (``.gz``) or not.

    Args:
        path: e.g. ``train-images-idx3-ubyte.gz``.

    Returns:
        The array in native byte order, e.g. (N, 28, 28) uint8 images or (N,) uint8 labels.

    Raises:
        DataError: unreadable, truncated, or not IDX.
    """
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError) as error:
        raise DataError(f"cannot read IDX file {path}: {error}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_DTYPES:
        raise DataError(f"{path} is not an IDX file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise DataError(f"{path} is not an IDX file (bad header)")
    shape = tuple(int(v) for v in np.frombuffer(raw, ">u4", ndim, offset=4))
    dtype = np.dtype(IDX_DTYPES[raw[2]])
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise DataError(f"{path} is truncated or padded: {len(raw)} bytes, expected {expected}")
    array = np.frombuffer(raw, dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def _idx_file(root: Path, stem: str) -> Path:
    for name in (f"{stem}.gz", stem, stem.replace("-idx", ".idx")):
        if (root / name).is_file():
            return root / name
    raise DataError(f"IDX file {stem}(.gz) is missing in {root}")


class ArrayLoaders:
    """Loaders over an (N, H, W) or (N, H, W, C) uint8 array: item i is a callable returning
    image i as a (3, H, W) float tensor in [0, 1] (grey repeated to 3 channels)."""

    def __init__(self, images: np.ndarray) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> Callable[[], torch.Tensor]:
        return lambda: to_tensor(self.images[index])


def idx_dataset(spec: str, img_size: int, train: bool, seed: int) -> ImageDataset:
    """``fashion-mnist``, ``fashion-mnist:DIR``, ``mnist:DIR``: the four standard IDX files
    (``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``, ``t10k-...``).

    The train split (60,000 images in both sets) when ``train`` (pretraining: random resized
    crops and flips), the official test split (10,000) otherwise (evaluation: plain resize), so
    that no evaluation image was seen in pretraining. The 28x28 grey images are repeated to 3
    channels (the models stay RGB, ImageNet normalisation) and resized to ``img_size``.

    Raises:
        DataError: one line; a missing folder says how to install the data.
    """
    name, _, folder = spec.partition(":")
    root = Path(folder) if folder else IDX_FOLDERS[name]
    if not root.is_dir():
        raise DataError(
            f"{name} data folder {root} does not exist: {IDX_INSTALL[name]}, "
            f"or pass {name}:DIR naming a folder with its four IDX files"
        )
    prefix = "train" if train else "t10k"
    images = read_idx(_idx_file(root, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(_idx_file(root, f"{prefix}-labels-idx1-ubyte"))
    usable = (
        images.dtype == np.uint8
        and images.ndim in (3, 4)
        and min(images.shape[:3]) > 0
        and (images.ndim == 3 or images.shape[3] in (1, 3, 4))
    )
    if not usable:
        raise DataError(
            f"{root}: {prefix} images must be uint8 (N, H, W) or (N, H, W, C) with C = 1, 3 or 4 "
            f"and N, H, W > 0, got {images.dtype} {images.shape}"
        )
    if images.ndim == 4 and images.shape[3] == 1:
        images = images[..., 0]
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(f"{root}: {len(images)} {prefix} images but labels of shape {labels.shape}")
    names = [f"{name}:{prefix}[{i}]" for i in range(len(images))]
    loaders = ArrayLoaders(images)
    return ImageDataset(
        loaders,  # type: ignore[arg-type]  # ArrayLoaders: len and [i] only, not a Sequence
        [int(v) for v in labels],
        img_size,
        train,
        seed,
        names=names,
    )


def load_dataset(spec: str, img_size: int, train: bool = True, seed: int = 0) -> ImageDataset:
    """Resolve a data spec: builtin:natural, builtin:digits, fashion-mnist[:DIR], mnist:DIR,
    cifar:PATH, or an image folder.

    Raises:
        DataError: with a one-line message when the source is missing, empty or unreadable.
    """
    if spec == "builtin:natural":
        return natural_dataset(img_size, train, seed)
    if spec == "builtin:digits":
        return digits_dataset(img_size, train, seed)
    if spec.startswith("builtin:"):
        raise DataError(
            f"unknown built-in data {spec!r}; expected builtin:natural or builtin:digits"
        )
    name = spec.partition(":")[0]
    if name in IDX_FOLDERS and (spec == name or spec.startswith(f"{name}:")):
        return idx_dataset(spec, img_size, train, seed)
    if spec.startswith("cifar:"):
        return cifar_dataset(Path(spec[len("cifar:") :]), img_size, train, seed)
    return image_folder_dataset(Path(spec), img_size, train, seed)
