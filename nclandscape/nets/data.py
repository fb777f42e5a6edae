"""Image data sets kept in memory as uint8 NHWC arrays, plus on-device augmentation.

Sources (no downloads, ever):

- ``cifar10_npz``: the shards ``cifar10_train_{a..e}.npz`` / ``cifar10_test.npz`` of
  ``shared/data/cifar10/`` (``data_path`` = that folder, ``shards`` = e.g. ``"a"``, ``"ab"``,
  ``"abcde"``).
- ``cifar10_python``: the official ``cifar-10-batches-py`` folder of pickles
  (``data_batch_1..5``, ``test_batch``). Pickles can run code: only point this at a copy you trust.
- ``image_folder``: ``root/<class_name>/*.png|jpg`` (miniImageNet style); if ``root`` holds
  ``train/`` and ``test/`` (or ``val/``) sub-folders those are the split, else a deterministic
  ``test_fraction`` of each class is held out.
- ``mini_imagenet``: miniImageNet's 100 classes (600 images each) pooled from whatever split
  the copy comes in (``root/<class>/``, the few-shot ``root/{train,val,test}/<class>/`` with
  64/16/20 disjoint classes, or ``root/images/*.jpg`` with ``train.csv``/``val.csv``/``test.csv``
  of ``filename,label``), then split per class as the MSE paper does: the last ``test_fraction``
  (1/6: 100 of 600) of each class's files, by name, are the test set, so 50,000 train and
  10,000 test images cover all 100 classes.
- ``tiny``: a small generated, learnable data set for tests (class = colour pattern + noise).

A missing or malformed path raises :class:`nclandscape.errors.ConfigError` naming what to change.
"""
from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import NamedTuple

import numpy as np

from nclandscape.errors import ConfigError

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
SOURCES = ("tiny", "cifar10_npz", "cifar10_python", "image_folder", "mini_imagenet")


class Dataset(NamedTuple):
    x_train: np.ndarray  # (N, H, W, C) uint8
    y_train: np.ndarray  # (N,) int32
    x_test: np.ndarray
    y_test: np.ndarray
    classes: tuple[str, ...]
    mean: tuple[float, ...]  # per-channel, on the 0..1 scale
    std: tuple[float, ...]

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def _check_dir(path, what: str, hint: str) -> Path:
    if path is None or str(path) == "":
        raise ConfigError(f"{what}: no data_path given; {hint}")
    p = Path(path).expanduser()
    if not p.is_dir():
        raise ConfigError(f"{what}: data_path {str(p)!r} is not a folder; {hint}")
    return p


# --------------------------------------------------------------------------- CIFAR-10 npz shards
NPZ_HINT = ("set data_path to the folder holding cifar10_train_a.npz .. cifar10_train_e.npz and "
            "cifar10_test.npz (e.g. --set data_path=../shared/data/cifar10)")


def _read_npz(path: Path):
    if not path.is_file():
        raise ConfigError(f"cifar10_npz: missing file {str(path)!r}; {NPZ_HINT}")
    try:
        with np.load(path, allow_pickle=False) as z:
            x, y = z["x"], z["y"]
    except Exception as e:  # zip/format/key errors
        raise ConfigError(f"cifar10_npz: cannot read {str(path)!r} ({type(e).__name__}: {e}); "
                          f"it must be an .npz with arrays x (N,32,32,3) uint8 and y (N,)") from e
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1:] != (32, 32, 3) or y.shape != x.shape[:1]:
        raise ConfigError(f"cifar10_npz: {str(path)!r} has x {x.dtype}{x.shape}, y {y.shape}; "
                          "expected x uint8 (N,32,32,3) and y (N,)")
    return x, y.astype(np.int32)


def load_cifar10_npz(data_path, shards: str = "abcde") -> Dataset:
    """Train = the concatenated shards (letters from ``abcde``), test = the full test set."""
    root = _check_dir(data_path, "cifar10_npz", NPZ_HINT)
    shards = "".join(sorted(set(str(shards))))
    if not shards or any(s not in "abcde" for s in shards):
        raise ConfigError(f"cifar10_npz: shards={shards!r}; use letters from 'abcde' "
                          "(e.g. 'a' = 10k images, 'abcde' = the full 50k train set)")
    parts = [_read_npz(root / f"cifar10_train_{s}.npz") for s in shards]
    x_test, y_test = _read_npz(root / "cifar10_test.npz")
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    return Dataset(x, y, x_test, y_test, CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD)


# --------------------------------------------------------------------------- CIFAR-10 pickles
PY_HINT = ("set data_path to the extracted 'cifar-10-batches-py' folder (it holds data_batch_1 .. "
           "data_batch_5 and test_batch)")


def _read_pickle(path: Path):
    if not path.is_file():
        raise ConfigError(f"cifar10_python: missing file {str(path)!r}; {PY_HINT}")
    try:
        with open(path, "rb") as f:
            d = pickle.load(f, encoding="bytes")
        data = np.asarray(d[b"data"], dtype=np.uint8)
        labels = np.asarray(d[b"labels"], dtype=np.int32)
    except Exception as e:
        raise ConfigError(f"cifar10_python: cannot read {str(path)!r} ({type(e).__name__}: {e}); "
                          "expected a pickled dict with b'data' (N, 3072) uint8 and b'labels'") from e
    if data.ndim != 2 or data.shape[1] != 3072 or labels.shape != data.shape[:1]:
        raise ConfigError(f"cifar10_python: {str(path)!r} has data {data.shape}, labels "
                          f"{labels.shape}; expected (N, 3072) and (N,)")
    # rows are 1024 red, 1024 green, 1024 blue values (CHW): turn into HWC
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy(), labels


def load_cifar10_python(data_path) -> Dataset:
    root = _check_dir(data_path, "cifar10_python", PY_HINT)
    parts = [_read_pickle(root / f"data_batch_{i}") for i in range(1, 6)]
    x_test, y_test = _read_pickle(root / "test_batch")
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    return Dataset(x, y, x_test, y_test, CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD)


# --------------------------------------------------------------------------- image folders
IF_HINT = ("set data_path to a folder laid out as root/<class_name>/*.png|jpg "
           "(or root/train/<class_name>/... with root/test or root/val)")


def _read_image(path: Path, image_size: int | None) -> np.ndarray:
    try:
        from PIL import Image
    except ImportError:  # matplotlib reads PNG without Pillow
        Image = None
    try:
        if Image is not None:
            im = Image.open(path).convert("RGB")
            if image_size is not None and im.size != (image_size, image_size):
                im = im.resize((image_size, image_size), Image.BILINEAR)
            return np.asarray(im, dtype=np.uint8)
        import matplotlib.image as mpimg

        a = mpimg.imread(path)
    except Exception as e:
        raise ConfigError(f"image_folder: cannot read image {str(path)!r} "
                          f"({type(e).__name__}: {e})") from e
    if a.dtype != np.uint8:
        a = np.clip(np.round(a * 255), 0, 255).astype(np.uint8)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=-1)
    a = a[..., :3]
    if image_size is not None and a.shape[:2] != (image_size, image_size):
        raise ConfigError(f"image_folder: {str(path)!r} is {a.shape[:2]}, resizing to "
                          f"{image_size} needs Pillow; install it or set image_size=None")
    return a


def _scan_classes(root: Path, classes=None):
    found = sorted(d.name for d in root.iterdir() if d.is_dir())
    classes = tuple(found) if classes is None else classes
    if not classes:
        raise ConfigError(f"image_folder: no class sub-folders in {str(root)!r}; {IF_HINT}")
    files = []
    for k, c in enumerate(classes):
        cdir = root / c
        fs = sorted(f for f in cdir.iterdir() if f.suffix.lower() in IMAGE_EXTENSIONS) \
            if cdir.is_dir() else []
        if not fs:
            raise ConfigError(f"image_folder: class folder {str(cdir)!r} has no "
                              f"{'/'.join(IMAGE_EXTENSIONS)} images; {IF_HINT}")
        files += [(f, k) for f in fs]
    return classes, files


def _stack(files, image_size):
    imgs = [_read_image(f, image_size) for f, _ in files]
    shapes = {a.shape for a in imgs}
    if len(shapes) != 1:
        raise ConfigError(f"image_folder: images have different sizes {sorted(shapes)[:3]}...; "
                          "set image_size to resize them all")
    return np.stack(imgs), np.array([k for _, k in files], dtype=np.int32)


def load_image_folder(data_path, *, image_size: int | None = None,
                      test_fraction: float = 0.2) -> Dataset:
    root = _check_dir(data_path, "image_folder", IF_HINT)
    test_dir = next((root / s for s in ("test", "val") if (root / s).is_dir()), None)
    if (root / "train").is_dir() and test_dir is not None:
        classes, train_files = _scan_classes(root / "train")
        _, test_files = _scan_classes(test_dir, classes)
    else:
        if not 0.0 < test_fraction < 1.0:
            raise ConfigError(f"image_folder: test_fraction={test_fraction}; use 0 < f < 1")
        classes, files = _scan_classes(root)
        train_files, test_files = [], []
        for k in range(len(classes)):
            fk = [f for f in files if f[1] == k]
            n_test = max(1, int(round(test_fraction * len(fk))))
            if n_test >= len(fk):
                raise ConfigError(f"image_folder: class {classes[k]!r} has {len(fk)} image(s), "
                                  "too few to hold out a test split")
            train_files += fk[:-n_test]  # every class keeps its last files for testing
            test_files += fk[-n_test:]
    x, y = _stack(train_files, image_size)
    xt, yt = _stack(test_files, image_size if image_size is not None else x.shape[1])
    mean = tuple(float(m) for m in x.reshape(-1, 3).mean(0) / 255)
    std = tuple(float(s) for s in x.reshape(-1, 3).std(0) / 255 + 1e-8)
    return Dataset(x, y, xt, yt, tuple(classes), mean, std)


MINI_HINT = ("set data_path to a miniImageNet copy: root/<class>/*.jpg, root/{train,val,test}/"
             "<class>/*.jpg, or root/images/*.jpg with root/{train,val,test}.csv")


def _split_last(files_by_class, classes, test_fraction: float, what: str):
    """Per class (files sorted by name): the last ``round(test_fraction n)`` files are test."""
    if not 0.0 < test_fraction < 1.0:
        raise ConfigError(f"{what}: test_fraction={test_fraction}; use 0 < f < 1")
    train, test = [], []
    for k, c in enumerate(classes):
        fk = sorted(files_by_class[c])
        n_test = max(1, int(round(test_fraction * len(fk))))
        if n_test >= len(fk):
            raise ConfigError(f"{what}: class {c!r} has {len(fk)} image(s), too few to hold out "
                              f"a test split at test_fraction={test_fraction}")
        train += [(f, k) for f in fk[:-n_test]]
        test += [(f, k) for f in fk[-n_test:]]
    return train, test


def mini_imagenet_files(root: Path) -> dict[str, list[Path]]:
    """``{class (wnid): [image paths]}`` of a miniImageNet copy in any of the layouts above."""
    by_class: dict[str, list[Path]] = {}
    csvs = [root / f"{s}.csv" for s in ("train", "val", "test") if (root / f"{s}.csv").is_file()]
    if csvs and (root / "images").is_dir():
        for c in csvs:
            for line in c.read_text().splitlines()[1:]:  # header: filename,label
                if line.strip():
                    name, label = (t.strip() for t in line.split(",")[:2])
                    by_class.setdefault(label, []).append(root / "images" / name)
        return by_class
    split_dirs = [root / s for s in ("train", "val", "test") if (root / s).is_dir()]
    for base in split_dirs or [root]:
        for cdir in sorted(d for d in base.iterdir() if d.is_dir()):
            fs = [f for f in cdir.iterdir() if f.suffix.lower() in IMAGE_EXTENSIONS]
            if fs:
                by_class.setdefault(cdir.name, []).extend(fs)
    return by_class


def load_mini_imagenet(data_path, *, image_size: int | None = 84,
                       test_fraction: float = 1 / 6) -> Dataset:
    """miniImageNet with the MSE paper's split (module docstring); images resized to
    ``image_size`` (84, the usual size; None keeps the files' size)."""
    root = _check_dir(data_path, "mini_imagenet", MINI_HINT)
    by_class = mini_imagenet_files(root)
    if not by_class:
        raise ConfigError(f"mini_imagenet: no images found under {str(root)!r}; {MINI_HINT}")
    classes = tuple(sorted(by_class))
    train_files, test_files = _split_last(by_class, classes, test_fraction, "mini_imagenet")
    x, y = _stack(train_files, image_size)
    xt, yt = _stack(test_files, image_size if image_size is not None else x.shape[1])
    mean = tuple(float(m) for m in x.reshape(-1, 3).mean(0) / 255)
    std = tuple(float(s) for s in x.reshape(-1, 3).std(0) / 255 + 1e-8)
    return Dataset(x, y, xt, yt, classes, mean, std)


# --------------------------------------------------------------------------- tiny generated data
def tiny_dataset(*, num_classes: int = 4, n_train: int = 16, n_test: int = 8,
                 image_size: int = 8, noise: float = 40.0, seed: int = 0) -> Dataset:
    """A learnable toy set: each class is a fixed random colour pattern plus pixel noise.

    ``n_train`` / ``n_test`` are per class; samples are interleaved by class.
    """
    rng = np.random.default_rng(seed)
    protos = rng.uniform(40, 215, size=(num_classes, image_size, image_size, 3))

    def draw(n):
        y = np.tile(np.arange(num_classes, dtype=np.int32), n)
        x = protos[y] + noise * rng.standard_normal((len(y), image_size, image_size, 3))
        return np.clip(np.round(x), 0, 255).astype(np.uint8), y

    x, y = draw(n_train)
    xt, yt = draw(n_test)
    classes = tuple(f"class{k}" for k in range(num_classes))
    return Dataset(x, y, xt, yt, classes, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))


# --------------------------------------------------------------------------- selection
def balanced_subset(x, y, per_class: int | None):
    """The first ``per_class`` images of every class, in original order (None: all)."""
    if per_class is None:
        return x, y
    keep = np.zeros(len(y), bool)
    for k in np.unique(y):
        keep[np.flatnonzero(y == k)[:per_class]] = True
    return x[keep], y[keep]


def load_dataset(cfg) -> Dataset:
    """The data set named by ``cfg.data`` (see :mod:`nclandscape.nets.config`)."""
    if cfg.data == "tiny":
        ds = tiny_dataset(num_classes=cfg.tiny_classes, n_train=cfg.tiny_train_per_class,
                          n_test=cfg.tiny_test_per_class, image_size=cfg.image_size or 8,
                          seed=cfg.data_seed)
    elif cfg.data == "cifar10_npz":
        ds = load_cifar10_npz(_resolve(cfg.data_path), cfg.shards)
    elif cfg.data == "cifar10_python":
        ds = load_cifar10_python(_resolve(cfg.data_path))
    elif cfg.data == "image_folder":
        ds = load_image_folder(_resolve(cfg.data_path), image_size=cfg.image_size,
                               test_fraction=cfg.test_fraction)
    elif cfg.data == "mini_imagenet":
        ds = load_mini_imagenet(_resolve(cfg.data_path),
                                image_size=84 if cfg.image_size is None else cfg.image_size,
                                test_fraction=cfg.test_fraction)
    else:
        raise ConfigError(f"unknown data={cfg.data!r}; choose one of {', '.join(SOURCES)}")
    x, y = balanced_subset(ds.x_train, ds.y_train, cfg.train_per_class)
    xt, yt = balanced_subset(ds.x_test, ds.y_test, cfg.test_per_class)
    return ds._replace(x_train=x, y_train=y, x_test=xt, y_test=yt)


def _resolve(path):
    """Expand ``~`` and ``$VARS``; relative paths are relative to the working directory."""
    return None if path is None else os.path.expandvars(os.path.expanduser(str(path)))


# --------------------------------------------------------------------------- device preprocessing
def preprocess(x_uint8, key, *, mean, std, augment: bool, pad: int = 4):
    """uint8 NHWC -> normalised float32, with random crop (zero padding ``pad``) + flip.

    Pure jnp, meant to run inside the jitted train step. Padding is in pixel space (value 0),
    as torchvision's ``RandomCrop(32, padding=4)`` before ``Normalize``.
    """
    import jax
    import jax.numpy as jnp

    x = x_uint8.astype(jnp.float32)
    if augment:
        B, H, W, C = x.shape
        kx, ky, kf = jax.random.split(key, 3)
        xp = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
        ox = jax.random.randint(kx, (B,), 0, 2 * pad + 1)
        oy = jax.random.randint(ky, (B,), 0, 2 * pad + 1)
        crop = lambda img, i, j: jax.lax.dynamic_slice(img, (i, j, 0), (H, W, C))
        x = jax.vmap(crop)(xp, oy, ox)
        flip = jax.random.bernoulli(kf, 0.5, (B,))
        x = jnp.where(flip[:, None, None, None], x[:, :, ::-1, :], x)
    m = jnp.asarray(mean, jnp.float32) * 255.0
    s = jnp.asarray(std, jnp.float32) * 255.0
    return (x - m) / s
