"""(c) L⊥/f along a real ResNet18 CIFAR-10 MSE run: is Han–Papyan–Donoho's term (B) negligible?

Every evaluation of an MSE run records the five terms of the decomposition in ``metrics.jsonl``
(``L_nc1_within, L_nc1_ridge, L_nc23, L_perp, L_features, L_total, L_perp_over_f``), computed in
float64 on the eval-mode features of the whole train set with the network's (W, b), with
λ_W = λ_b = weight_decay and λ_H = 0 (the runner's objective has exactly f's 1/(2N) normalisation;
docs/central_path.md). ``experiments/central_path/plot_resnet.py`` draws the figure.

Full run (GPU): ResNet18 width 64 on the 50k CIFAR-10 train images, SGD lr 0.05, momentum 0.9,
x0.1 every 40 epochs, weight decay 5e-4 on all parameters, batch 128, 200 epochs, crop+flip:

    nclandscape train experiments/central_path/resnet_mse.py --out runs/central_path_resnet
    python -m experiments.central_path.plot_resnet runs/central_path_resnet

CPU-sized run on real images (what RESULTS.md reports; ~10 min on a shared 2-core CPU):

    nice -n 19 nclandscape train experiments/central_path/resnet_mse.py --out runs_cpu/central_path_resnet \
        --set shards=a --set train_per_class=50 --set test_per_class=50 --set width=8 --set epochs=80 \
        --set batch_size=25 --set lr_decay_epochs=50 --set augment=false --set eval_every=2 --set progress=false
    python -m experiments.central_path.plot_resnet runs_cpu/central_path_resnet

Tiny (CI): ``nclandscape train experiments/central_path/resnet_mse.py --tiny --out /tmp/cp_resnet`` (~20 s).
Expect (paper's claim): after the first epochs L⊥/f falls well below the (A) terms and stays
small, while f itself falls by orders of magnitude.
"""
from nclandscape.nets.config import TINY


def get_config(tiny: bool = False):
    cfg = dict(data="cifar10_npz", data_path="../shared/data/cifar10", shards="abcde", loss="mse",
               optimizer="sgd", lr=0.05, momentum=0.9, schedule="step", lr_decay_epochs=40,
               weight_decay=5e-4, batch_size=128, epochs=200, eval_every=1)
    return {**cfg, **TINY} if tiny else cfg
