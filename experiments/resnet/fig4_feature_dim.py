"""MSE paper Fig. 4: feature dimension d below and above K - 1, MSE and CE (Fig. 4(e)).

The paper's set-up (Sec. 4, Fig. 4 caption, Appendix A) and ours, point by point:

- Data: CIFAR-10, 50k train / 10k test, mean/std normalisation, "with data augmentation"
  (the CE paper's random crop + flip). Ours: the same (random crop with 4-pixel zero padding
  + horizontal flip, on the device).
- Network: ResNet18 whose penultimate features have dimension d. Ours: the last residual block
  outputs d channels (its second 3x3 convolution and its 1x1 projection shortcut), as the
  authors' released model does (``feature_layer="last_block"``); CIFAR stem.
- d: the text says d < K - 1 and d >= K - 1 without listing values (the legend is not in our
  copy). Ours: d in {5, 8, 9, 10, 512}, the values of the authors' released commands.
- Loss: vanilla MSE, weight decay 5e-4; Fig. 4(e): cross-entropy at the same d. Ours: both
  arms, "mse_d<d>" and "ce_d<d>".
- Optimiser: SGD, lr 0.05, momentum 0.9, x0.1 every 40 epochs, 200 epochs, batch 128 (the
  CIFAR-10 setting of Appendix A). Ours: the same.

Run:   nclandscape train experiments/resnet/fig4_feature_dim.py --out runs/fig4
       (10 runs; --run mse_d5 --run ce_d5 ... for a subset)
CPU:   nclandscape train experiments/resnet/fig4_feature_dim.py --cpu --out runs_cpu/fig4
       (real CIFAR-10, 500 images, width 16 so the natural d is 128, no augmentation, 24
       epochs, SGD lr 0.01; d in {5, 128} for both losses; fig7_d3_features.py --cpu adds
       d = 3 for both)
Tiny:  nclandscape train experiments/resnet/fig4_feature_dim.py --tiny --out /tmp/fig4
       (K = 4 classes, d in {2, 32}: d < K-1 and d >> K)
Time:  10 runs x 200 epochs on a GPU (~10-15 min each on an H100). CPU variant: 7-15 min (measured).
Expect (paper): every run shows NC1 falling; for MSE, d < K - 1 fits the training data worse
       and generalises worse (more samples with cosine margin ~0); CE performs alike for
       every d.
"""
from nclandscape.nets.config import CPU, TINY

DIMS = (5, 8, 9, 10, 512)
CPU_DIMS = (5, 128)
TINY_DIMS = (2, 32)


def get_config(tiny: bool = False, cpu: bool = False):
    cfg = dict(data="cifar10_npz", data_path="../shared/data/cifar10", shards="abcde",
               augment=True, feature_layer="last_block", optimizer="sgd", lr=0.05,
               momentum=0.9, schedule="step", lr_decay_epochs=40, lr_decay=0.1,
               weight_decay=5e-4, batch_size=128, epochs=200)
    if tiny:
        return {**cfg, **TINY}
    return {**cfg, **CPU, "lr": 0.01} if cpu else cfg


def variants(tiny: bool = False, cpu: bool = False):
    dims = TINY_DIMS if tiny else CPU_DIMS if cpu else DIMS
    return {f"{loss}_d{d}": dict(loss=loss, feature_dim=d, label=f"{loss.upper()}, d = {d}")
            for loss in ("mse", "ce") for d in dims}
