"""MSE paper Fig. 6: the rescaled MSE's alpha (top row, M fixed) and M (bottom row, alpha fixed).

The paper's set-up (Sec. 4 "Experiments of the rescaled MSE loss", Fig. 6 caption, Appendix A)
and ours, point by point:

- Data: miniImageNet, all 100 classes, its 60,000 images split 50,000 train / 10,000 test so
  both hold every class, mean/std normalisation. Ours: CIFAR-10 by default, since
  miniImageNet cannot ship here; with a copy, ``--set data=mini_imagenet --set
  data_path=ROOT`` applies exactly that split (the last 1/6 of each class's files by name are
  test: 500 / 100 per class; ``nclandscape.nets.data.load_mini_imagenet``, 84x84 images).
  Augmentation: the paper states none for miniImageNet; ours uses the CIFAR crop + flip.
- Network: ResNet18. Ours: ResNet18, CIFAR stem (84x84 inputs keep the same stem).
- Loss: rescaled MSE (eq. 4), 1/2 [alpha (z_y - M)^2 + sum_{j != y} z_j^2]. alpha and M: the
  values are in the figure's legend, not in our text; ours are those of the authors' released
  commands: alpha in {1, 5, 15, 20} at M = 1, and M in {1, 3, 5, 7, 10} at alpha = 1.
- Optimiser: SGD, lr 0.01, momentum 0.9, weight decay 1e-3. Ours: the same (decay in the
  loss on all parameters), batch 128.
- Schedule: cosine annealing with warm restarts, first restart after 200 epochs, minimum lr
  1e-4. Ours: ``schedule=cosine_restarts``, T_0 = 200 epochs, min_lr 1e-4 (torch's
  CosineAnnealingWarmRestarts, stepped per iteration instead of per epoch). Epochs: not
  stated; ours 200 (one full cosine period).

Run:   nclandscape train experiments/resnet/fig6_rescaled.py --out runs/fig6
       (8 runs; figures nc_curves.png with all runs, alpha_row.png and M_row.png per row)
       miniImageNet: add --set data=mini_imagenet --set data_path=/path/to/mini-imagenet
CPU:   nclandscape train experiments/resnet/fig6_rescaled.py --cpu --out runs_cpu/fig6
       (real CIFAR-10, 500 images, width 16, no augmentation, 24 epochs = one cosine
       period from 0.01 to 1e-4; alpha in {1, 5, 15} at M = 1, M = 10 at alpha = 1)
Tiny:  nclandscape train experiments/resnet/fig6_rescaled.py --tiny --out /tmp/fig6
Time:  8 runs x 200 epochs on a GPU (~10-15 min each on an H100 for CIFAR-10). CPU: 7-10 min
       (measured).
Expect (paper): with one factor fixed, a larger alpha or a larger M gives more collapse (lower
       NC1-NC3) and higher train and test accuracy.
"""
from nclandscape.nets.config import CPU, TINY

ALPHAS = (1.0, 5.0, 15.0, 20.0)   # top row, at M = 1
MS = (1.0, 3.0, 5.0, 7.0, 10.0)   # bottom row, at alpha = 1
CPU_ALPHAS, CPU_MS = (1.0, 5.0, 15.0), (1.0, 10.0)
TINY_ALPHAS, TINY_MS = (1.0, 4.0), (1.0, 4.0)


def _name(a, m):
    return f"alpha{a:g}_M{m:g}"


def _grid(tiny: bool, cpu: bool):
    if tiny:
        return TINY_ALPHAS, TINY_MS
    return (CPU_ALPHAS, CPU_MS) if cpu else (ALPHAS, MS)


def get_config(tiny: bool = False, cpu: bool = False):
    cfg = dict(data="cifar10_npz", data_path="../shared/data/cifar10", shards="abcde",
               test_fraction=1 / 6, image_size=None, augment=True, loss="rescaled_mse",
               optimizer="sgd", lr=0.01, momentum=0.9, weight_decay=1e-3,
               schedule="cosine_restarts", restart_epochs=200, restart_mult=1, min_lr=1e-4,
               batch_size=128, epochs=200)
    if tiny:
        return {**cfg, **TINY, "restart_epochs": TINY["epochs"]}
    return {**cfg, **CPU, "restart_epochs": CPU["epochs"]} if cpu else cfg


def variants(tiny: bool = False, cpu: bool = False):
    alphas, ms = _grid(tiny, cpu)
    runs = {_name(a, 1.0): dict(alpha=a, M=1.0, label=f"alpha = {a:g}, M = 1") for a in alphas}
    runs.update({_name(1.0, m): dict(alpha=1.0, M=m, label=f"alpha = 1, M = {m:g}")
                 for m in ms})
    return runs


def figures(tiny: bool = False, cpu: bool = False):
    """The paper's two rows: ``{figure name: [run names]}`` (drawn by ``nclandscape train``)."""
    alphas, ms = _grid(tiny, cpu)
    return {"alpha_row": [_name(a, 1.0) for a in alphas],
            "M_row": [_name(1.0, m) for m in ms]}
