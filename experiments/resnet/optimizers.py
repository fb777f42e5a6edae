"""NC under different optimisers: SGD, SGD with cosine warm restarts, Adam, L-BFGS (MSE paper,
Fig. 6 layout; the CE paper's optimiser comparison).

ResNet18, MSE loss, full CIFAR-10 train set, weight decay 5e-4 in the loss, 200 epochs.
SGD: lr 0.05, momentum 0.9, x0.1 every 40 epochs, batch 128. SGD + SGDR: cosine annealing with
warm restarts (T_0 = 10 epochs, T_mult = 2). Adam: lr 1e-3 (x0.1 every 40 epochs), batch 128.
L-BFGS: optax.lbfgs, history 10, zoom line search, large batches (2048, no augmentation).

Run:   nclandscape train experiments/resnet/optimizers.py --out runs/optimizers
Tiny:  nclandscape train experiments/resnet/optimizers.py --tiny --out /tmp/opt  (~30 s, CPU)
Time:  4 runs x 200 epochs; GPU time still to be measured (SGD/Adam estimate ~10-15 min per run
       on an H100; L-BFGS costs up to 20 forward passes per step in its line search).
Expect (papers' trend): every optimiser drives the network to NC (NC1-NC4 -> ~0 with train
       accuracy -> 100%); SGD and Adam generalise best, L-BFGS (no augmentation) worst.
"""
from nclandscape.nets.config import TINY


def get_config(tiny: bool = False):
    cfg = dict(data="cifar10_npz", data_path="../shared/data/cifar10", loss="mse",
               weight_decay=5e-4, batch_size=128, epochs=200, lr_decay_epochs=40)
    return {**cfg, **TINY} if tiny else cfg


def variants(tiny: bool = False):
    return {
        "sgd": dict(optimizer="sgd", lr=0.05, schedule="step"),
        "sgd_restarts": dict(optimizer="sgd", lr=0.05, schedule="cosine_restarts",
                             restart_epochs=2 if tiny else 10, restart_mult=2),
        "adam": dict(optimizer="adam", lr=1e-3, schedule="step"),
        "lbfgs": dict(optimizer="lbfgs", schedule="constant", augment=False,
                      batch_size=64 if tiny else 2048),
    }
