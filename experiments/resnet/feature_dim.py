"""Feature dimension d in {5, 9, 10, 512} via a linear layer before the classifier (MSE paper,
Fig. 5 layout): d < K-1, d = K-1, d = K and d >> K for K = 10 classes.

ResNet18 + Linear(512 -> d), MSE loss, full CIFAR-10 train set, SGD lr 0.05 (x0.1 every 40
epochs), weight decay 5e-4, batch 128, 200 epochs.

Run:   nclandscape train experiments/resnet/feature_dim.py --out runs/feature_dim
Tiny:  nclandscape train experiments/resnet/feature_dim.py --tiny --out /tmp/fdim  (~25 s, CPU)
       (K = 4 classes, d in {2, 3, 4, 32}: the same four regimes)
Time:  4 runs x 200 epochs; GPU time still to be measured (estimate ~10-15 min per run, H100).
Note:  on 200 real images at batch 20 and width 8 every run with the extra layer diverged at
       lr 0.05 (lr 0.01 was fine; experiments/RESULTS.md); check lr 0.05 at batch 128.
Expect (papers' trend): for d >= K-1 NC1-NC3 all go to ~0 as with d = 512; for d = 5 < K-1
       NC1 still collapses and NC2/NC3 go to ~0 against the rank-d target (the metrics use the
       best rank-d approximation of the ETF), with a lower test accuracy.
"""
from nclandscape.nets.config import TINY


def get_config(tiny: bool = False):
    cfg = dict(data="cifar10_npz", data_path="../shared/data/cifar10", loss="mse",
               optimizer="sgd", lr=0.05, schedule="step", lr_decay_epochs=40,
               weight_decay=5e-4, batch_size=128, epochs=200)
    return {**cfg, **TINY} if tiny else cfg


def variants(tiny: bool = False):
    dims = (2, 3, 4, 32) if tiny else (5, 9, 10, 512)
    return {f"d{d}": dict(feature_dim=d) for d in dims}
