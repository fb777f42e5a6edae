"""Data loaders: real CIFAR-10 shards, the official pickle format, image folders, errors."""
import pickle
from pathlib import Path

import numpy as np
import pytest

from nclandscape.errors import ConfigError
from nclandscape.nets.config import TrainConfig, apply_overrides
from nclandscape.nets.data import (balanced_subset, load_cifar10_npz, load_cifar10_python,
                                   load_dataset, load_image_folder, tiny_dataset)

CIFAR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "cifar10"


def test_cifar10_npz_real_shard():
    ds = load_cifar10_npz(CIFAR, shards="a")
    assert ds.x_train.shape == (10000, 32, 32, 3) and ds.x_train.dtype == np.uint8
    assert ds.y_train.shape == (10000,) and ds.y_train.dtype == np.int32
    assert ds.x_test.shape == (10000, 32, 32, 3)
    # known values of the official release (shared/data/cifar10/README.md)
    assert ds.y_train[:10].tolist() == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]
    assert ds.x_train[0, 0, 0].tolist() == [59, 62, 63]
    assert ds.y_test[:10].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]
    assert ds.x_test[0, 0, 0].tolist() == [158, 112, 49]
    assert np.bincount(ds.y_train).tolist() == [1000] * 10  # shard a is balanced
    assert ds.classes[0] == "airplane" and ds.num_classes == 10
    x, y = balanced_subset(ds.x_train, ds.y_train, 3)
    assert np.bincount(y).tolist() == [3] * 10 and y[:3].tolist() == [6, 9, 9]


def _write_batches(root: Path, n=3, seed=0):
    rng = np.random.default_rng(seed)
    root.mkdir()
    imgs = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        hwc = rng.integers(0, 256, (n, 32, 32, 3)).astype(np.uint8)
        data = hwc.transpose(0, 3, 1, 2).reshape(n, 3072)  # official layout: R, G, B planes
        labels = rng.integers(0, 10, n).tolist()
        with open(root / name, "wb") as f:
            pickle.dump({b"data": data, b"labels": labels, b"batch_label": b"x"}, f)
        imgs[name] = (hwc, labels)
    return imgs


def test_cifar10_python_pickles(tmp_path):
    imgs = _write_batches(tmp_path / "cifar-10-batches-py")
    ds = load_cifar10_python(tmp_path / "cifar-10-batches-py")
    assert ds.x_train.shape == (15, 32, 32, 3) and ds.x_train.dtype == np.uint8
    np.testing.assert_array_equal(ds.x_train[:3], imgs["data_batch_1"][0])
    np.testing.assert_array_equal(ds.x_train[12:], imgs["data_batch_5"][0])
    np.testing.assert_array_equal(ds.x_test, imgs["test_batch"][0])
    assert ds.y_train[3:6].tolist() == imgs["data_batch_2"][1]
    cfg = apply_overrides(TrainConfig(), ["data=cifar10_python",
                                          f"data_path={tmp_path / 'cifar-10-batches-py'}"])
    assert load_dataset(cfg).x_train.shape == (15, 32, 32, 3)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(ConfigError, match="cannot read.*data_batch_3"):
        load_cifar10_python(tmp_path / "cifar-10-batches-py")


def test_image_folder(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    want = {}
    for c, n in (("cat", 5), ("dog", 4), ("emu", 5)):
        (tmp_path / "imgs" / c).mkdir(parents=True)
        for i in range(n):
            a = rng.integers(0, 256, (12, 12, 3)).astype(np.uint8)
            Image.fromarray(a).save(tmp_path / "imgs" / c / f"{i:02d}.png")
            want[(c, i)] = a
    (tmp_path / "imgs" / "notes.txt").write_text("ignored, not a folder")
    ds = load_image_folder(tmp_path / "imgs", test_fraction=0.2)
    assert ds.classes == ("cat", "dog", "emu")
    # round(0.2 * n) files of each class, the last ones, go to the test split
    assert ds.y_train.tolist() == [0] * 4 + [1] * 3 + [2] * 4
    assert ds.y_test.tolist() == [0, 1, 2]
    np.testing.assert_array_equal(ds.x_train[4], want[("dog", 0)])  # PNG is lossless
    np.testing.assert_array_equal(ds.x_test[2], want[("emu", 4)])
    small = load_image_folder(tmp_path / "imgs", image_size=8)
    assert small.x_train.shape == (11, 8, 8, 3) and small.x_train.dtype == np.uint8
    (tmp_path / "imgs" / "fox").mkdir()
    with pytest.raises(ConfigError, match="fox.*has no"):
        load_image_folder(tmp_path / "imgs")


def test_tiny_dataset_is_deterministic():
    a, b = tiny_dataset(seed=1), tiny_dataset(seed=1)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert a.x_train.shape == (64, 8, 8, 3) and a.x_train.dtype == np.uint8
    assert np.bincount(a.y_train).tolist() == [16] * 4


def test_missing_or_malformed_paths_raise_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not a folder.*data_path"):
        load_cifar10_npz(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="missing file.*cifar10_train_a.npz"):
        load_cifar10_npz(tmp_path)
    (tmp_path / "cifar10_train_a.npz").write_bytes(b"garbage")
    with pytest.raises(ConfigError, match="cannot read"):
        load_cifar10_npz(tmp_path, shards="a")
    np.savez(tmp_path / "cifar10_train_b.npz", x=np.zeros((2, 28, 28), np.uint8), y=np.zeros(2))
    with pytest.raises(ConfigError, match=r"expected x uint8 \(N,32,32,3\)"):
        load_cifar10_npz(tmp_path, shards="b")
    with pytest.raises(ConfigError, match="shards='az'"):
        load_cifar10_npz(CIFAR, shards="za")
    with pytest.raises(ConfigError, match="cifar-10-batches-py"):
        load_cifar10_python(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="no class sub-folders"):
        load_image_folder(tmp_path)
    with pytest.raises(ConfigError, match="unknown data"):
        load_dataset(TrainConfig(data="imagenet"))
    # a few hundred real images: the tiny settings switched to the CIFAR-10 shards
    from nclandscape.nets.config import TINY

    cfg = apply_overrides(TrainConfig(**TINY), ["data=cifar10_npz", f"data_path={CIFAR}",
                                                "shards=a", "train_per_class=30",
                                                "test_per_class=20"])
    ds = load_dataset(cfg)
    assert ds.x_train.shape == (300, 32, 32, 3) and ds.x_test.shape == (200, 32, 32, 3)
    assert ds.num_classes == 10 and ds.y_train[:3].tolist() == [6, 9, 9]
    assert issubclass(ConfigError, ValueError)


def test_set_overrides_parse_types():
    cfg = apply_overrides(TrainConfig(), ["epochs=7", "feature_dim=none", "fixed_etf=true",
                                          "lr=1e-3", "shards=ab", "train_per_class=None"])
    assert (cfg.epochs, cfg.feature_dim, cfg.fixed_etf, cfg.lr, cfg.shards) == (7, None, True,
                                                                                 1e-3, "ab")
    with pytest.raises(ConfigError, match="unknown key"):
        apply_overrides(TrainConfig(), ["epoch=3"])
    with pytest.raises(ConfigError, match="expected int"):
        apply_overrides(TrainConfig(), ["epochs=three"])
    with pytest.raises(ConfigError, match="key=value"):
        apply_overrides(TrainConfig(), ["epochs"])


def _png(path, a):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(a).save(path)


def test_mini_imagenet_pools_the_few_shot_split_and_holds_out_one_sixth(tmp_path):
    """The few-shot layout (train/val/test with disjoint classes) is pooled into one set of
    classes, and the last 1/6 of each class's files (by name) are the test split: 600 images
    per class give the paper's 500 / 100."""
    from nclandscape.nets.data import load_mini_imagenet

    rng = np.random.default_rng(1)
    want = {}
    for split, classes in (("train", ("n02", "n01")), ("val", ("n05",)), ("test", ("n03",))):
        for c in classes:
            for i in range(12):
                a = rng.integers(0, 256, (6, 6, 3)).astype(np.uint8)
                _png(tmp_path / "mini" / split / c / f"{c}_{i:03d}.png", a)
                want[(c, i)] = a
    ds = load_mini_imagenet(tmp_path / "mini", image_size=None, test_fraction=1 / 6)
    assert ds.classes == ("n01", "n02", "n03", "n05")  # all splits' classes, sorted
    assert ds.y_train.tolist() == sum(([k] * 10 for k in range(4)), [])
    assert ds.y_test.tolist() == sum(([k] * 2 for k in range(4)), [])
    np.testing.assert_array_equal(ds.x_test[0], want[("n01", 10)])  # last two files of n01
    np.testing.assert_array_equal(ds.x_test[7], want[("n05", 11)])
    np.testing.assert_array_equal(ds.x_train[10], want[("n02", 0)])
    # the channel statistics are those of the train split
    np.testing.assert_allclose(ds.mean, ds.x_train.reshape(-1, 3).mean(0) / 255, rtol=1e-12)
    # 600 images per class: 500 / 100 (the paper's 50,000 / 10,000 over 100 classes)
    from nclandscape.nets.data import _split_last

    tr, te = _split_last({"c": [f"{i:03d}" for i in range(600)]}, ("c",), 1 / 6, "t")
    assert (len(tr), len(te)) == (500, 100) and te[0][0] == "500"
    # the csv layout (images/ + train.csv, label column = class)
    (tmp_path / "csv" / "images").mkdir(parents=True)
    rows = ["filename,label"]
    for i in range(6):
        for c in ("a", "b"):
            _png(tmp_path / "csv" / "images" / f"{c}{i}.png", want[("n01", i)])
            rows.append(f"{c}{i}.png,{c}")
    (tmp_path / "csv" / "train.csv").write_text("\n".join(rows) + "\n")
    ds = load_mini_imagenet(tmp_path / "csv", image_size=4)
    assert ds.classes == ("a", "b") and ds.x_train.shape == (10, 4, 4, 3) and len(ds.y_test) == 2
    cfg = TrainConfig(data="mini_imagenet", data_path=str(tmp_path / "mini"), image_size=6,
                      test_fraction=0.25)
    assert load_dataset(cfg).y_test.tolist() == sum(([k] * 3 for k in range(4)), [])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="mini_imagenet: no images"):
        load_mini_imagenet(tmp_path / "empty")
