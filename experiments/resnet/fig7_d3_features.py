"""MSE paper Fig. 7 (Appendix A): d = 3 features of ResNet18 on CIFAR-10, MSE vs CE.

The paper's set-up (Appendix A "Visual comparison ...", Fig. 7 caption) and ours, point by
point:

- Network: ResNet18 with feature dimension d = 3. Ours: the last residual block outputs 3
  channels (``feature_layer="last_block"``, as the authors' released model), CIFAR stem; the
  features are therefore non-negative (the block ends with a ReLU).
- Data: CIFAR-10; the CIFAR-10 setting of Appendix A (50k train, mean/std normalisation, crop
  + flip augmentation). Ours: the same.
- Optimiser: SGD (Appendix A: lr 0.05, momentum 0.9, x0.1 every 40 epochs, weight decay 5e-4,
  200 epochs). Ours: the same, batch 128.
- Losses: vanilla MSE and cross-entropy. Ours: runs "mse" and "ce".
- Figure: the train features of 100 randomly selected samples per class, in 3-D, one colour per
  class. Ours: ``features_3d.png`` (one 3-D panel per run) drawn from ``features_3d.npz``,
  which holds the eval-mode features of 100 train samples per class drawn with a fixed seed
  (``nclandscape.nets.features``).

Run:   nclandscape train experiments/resnet/fig7_d3_features.py --out runs/fig7
CPU:   nclandscape train experiments/resnet/fig7_d3_features.py --cpu --out runs_cpu/fig7
       (real CIFAR-10, 500 images, width 16, no augmentation, 24 epochs, SGD lr 0.01; the
       scatter shows all 50 train images per class)
Tiny:  nclandscape train experiments/resnet/fig7_d3_features.py --tiny --out /tmp/fig7
Time:  2 runs x 200 epochs on a GPU (~10-15 min each on an H100). CPU variant: 9 min (measured).
Expect (paper): CE features are more diverse and discriminative (classes spread in more
       directions) than MSE features, which crowd together when d = 3 < K - 1.
"""
from nclandscape.nets.config import CPU, TINY

FEATURE_SCATTER_PER_CLASS = 100  # samples per class in features_3d (the paper's 100)


def get_config(tiny: bool = False, cpu: bool = False):
    cfg = dict(data="cifar10_npz", data_path="../shared/data/cifar10", shards="abcde",
               augment=True, feature_dim=3, feature_layer="last_block", optimizer="sgd",
               lr=0.05, momentum=0.9, schedule="step", lr_decay_epochs=40, lr_decay=0.1,
               weight_decay=5e-4, batch_size=128, epochs=200)
    if tiny:
        return {**cfg, **TINY}
    return {**cfg, **CPU, "lr": 0.01} if cpu else cfg


def variants(tiny: bool = False, cpu: bool = False):
    return {"mse": dict(loss="mse", label="MSE, d = 3"), "ce": dict(loss="ce", label="CE, d = 3")}
