"""(c) L⊥/f along a real ResNet18 CIFAR-10 MSE run: is Han–Papyan–Donoho's term (B) negligible?

Every evaluation of an MSE run records the five terms of the decomposition in ``metrics.jsonl``
(``L_nc1_within, L_nc1_ridge, L_nc23, L_perp, L_features, L_total, L_perp_over_f``), computed in
float64 on the eval-mode features of the whole train set with the network's (W, b), with
λ_W = λ_b = weight_decay and λ_H = 0 (the runner's objective has exactly f's 1/(2N) normalisation;
docs/central_path.md). A network-training config: ``nclandscape train`` runs it;
``experiments/central_path/runner.py`` draws the figure and checks the batch-norm mode.

Command (full run, GPU): ResNet18 width 64 on the 50k CIFAR-10 train images, SGD lr 0.05,
momentum 0.9, x0.1 every 40 epochs, weight decay 5e-4 on all parameters, batch 128, 200 epochs,
crop+flip:

    nclandscape train experiments/central_path/resnet_mse.py --out runs/central_path_resnet
    python -m experiments.central_path.runner terms runs/central_path_resnet
    python -m experiments.central_path.runner bn-check runs/central_path_resnet

CPU: the run experiments/RESULTS.md reports (500 real images, first 50 per class of shard a,
width 8, batch 25, no augmentation, 80 epochs, x0.1 at epoch 50; results in
experiments/central_path/results/resnet_mse_cpu/):

    nice -n 19 nclandscape train experiments/central_path/resnet_mse.py --cpu --out runs_cpu/central_path_resnet
    python -m experiments.central_path.runner terms runs_cpu/central_path_resnet
    python -m experiments.central_path.runner bn-check runs_cpu/central_path_resnet

Tiny (CI): ``nclandscape train experiments/central_path/resnet_mse.py --tiny --out /tmp/cp_resnet``.
Run time: tiny ~20 s; CPU ~12 min on a shared 2-core CPU (253 s of training); full: 1 run x 200
epochs on a GPU (the decomposition adds one float64 pass over the 50k x 512 features per epoch).
Expected (paper's claim): after the first epochs L⊥/f falls well below the (A) terms and stays
small, while f itself falls by orders of magnitude.
"""
from nclandscape.nets.config import TINY


def get_config(tiny: bool = False, cpu: bool = False):
    cfg = dict(data="cifar10_npz", data_path="../shared/data/cifar10", shards="abcde", loss="mse",
               optimizer="sgd", lr=0.05, momentum=0.9, schedule="step", lr_decay_epochs=40,
               weight_decay=5e-4, batch_size=128, epochs=200, eval_every=1)
    if tiny:
        return {**cfg, **TINY}
    if cpu:
        return {**cfg, "shards": "a", "train_per_class": 50, "test_per_class": 50, "width": 8, "epochs": 80,
                "batch_size": 25, "lr_decay_epochs": 50, "augment": False, "eval_every": 2, "progress": False}
    return cfg
