"""Learned vs fixed simplex-ETF classifier, with and without bias (MSE paper, Fig. 4 layout).

ResNet18, MSE loss, full CIFAR-10 train set, SGD lr 0.05 (x0.1 every 40 epochs), weight decay
5e-4, batch 128, 200 epochs. The fixed ETF is a constant (not a parameter): it never moves.

Run:   nclandscape train experiments/resnet/etf.py --out runs/etf
Tiny:  nclandscape train experiments/resnet/etf.py --tiny --out /tmp/etf   (~15 s, CPU)
Time:  3 runs x 200 epochs; GPU time still to be measured (estimate ~10-15 min per run, H100).
Expect (papers' trend): fixing the classifier as a simplex ETF reaches the same NC and test
       accuracy as learning it, with NC2 = 0 from the start (W is an exact ETF) and NC3
       falling faster; the bias makes little difference. Tiny: the fixed-ETF run reports NC2
       ~ 0 (up to float32 rounding) at every epoch.
"""
from nclandscape.nets.config import TINY


def get_config(tiny: bool = False):
    cfg = dict(data="cifar10_npz", data_path="../shared/data/cifar10", loss="mse",
               optimizer="sgd", lr=0.05, schedule="step", lr_decay_epochs=40,
               weight_decay=5e-4, batch_size=128, epochs=200)
    return {**cfg, **TINY} if tiny else cfg


def variants(tiny: bool = False):
    return {"learned": dict(fixed_etf=False),
            "fixed_etf": dict(fixed_etf=True),
            "fixed_etf_nobias": dict(fixed_etf=True, classifier_bias=False)}
