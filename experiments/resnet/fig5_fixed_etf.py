"""MSE paper Fig. 5: learned vs fixed simplex-ETF classifier, at d = 512 and at d = K.

The paper's set-up (Sec. 4 "Improving network efficiency", Fig. 5 caption, Appendix A) and
ours, point by point:

- Claim: by Thm 3.1 the optimal classifier is a simplex ETF when d >= K - 1, so one can (i)
  fix the last layer as a simplex ETF and (ii) reduce the feature dimension to d = K, with
  fewer trainable parameters and no loss of accuracy.
- Data: CIFAR-10, 50k / 10k, mean/std normalisation, with data augmentation. Ours: the same.
- Network: ResNet18 (CIFAR stem); d = K by giving the last residual block K output channels,
  as the authors' released model does (``feature_layer="last_block"``).
- Fixed classifier: W = sqrt(K/(K-1)) (I - 1 1^T/K) in the first K coordinates (unit rows; a
  constant, not a parameter); the bias b stays trainable. Ours: the same
  (``nclandscape.nets.resnet.simplex_etf``).
- Loss / optimiser: vanilla MSE, weight decay 5e-4; SGD lr 0.05, momentum 0.9, x0.1 every 40
  epochs, 200 epochs, batch 128. Ours: the same.
- Runs: learned (d = 512), fixed ETF (d = 512), learned d = K, fixed ETF d = K.
- Trainable parameters (K = 10, width 64; every record's ``trainable_params``): learned
  11,173,962; fixed ETF 11,168,842; learned d = K 8,859,862; fixed ETF d = K 8,859,762
  (-20.7%). CPU width 16: 701,466 / 700,186 / 565,414 / 565,314.

Run:   nclandscape train experiments/resnet/fig5_fixed_etf.py --out runs/fig5
CPU:   nclandscape train experiments/resnet/fig5_fixed_etf.py --cpu --out runs_cpu/fig5
       (real CIFAR-10, 500 images, width 16 so "d = 512" is the natural 128, no
       augmentation, 24 epochs, SGD lr 0.01)
Tiny:  nclandscape train experiments/resnet/fig5_fixed_etf.py --tiny --out /tmp/fig5  (~20 s)
Time:  4 runs x 200 epochs on a GPU (~10-15 min each on an H100). CPU variant: 15 min (measured).
Expect (paper): the fixed-ETF runs reach the same train/test accuracy and NC1/NC3 as the
       learned ones, d = K included; NC2 of a fixed ETF is 0 from the start (float32
       rounding: ~1e-7).
"""
from nclandscape.nets.config import CPU, TINY


def get_config(tiny: bool = False, cpu: bool = False):
    cfg = dict(data="cifar10_npz", data_path="../shared/data/cifar10", shards="abcde",
               augment=True, loss="mse", feature_layer="last_block", optimizer="sgd", lr=0.05,
               momentum=0.9, schedule="step", lr_decay_epochs=40, lr_decay=0.1,
               weight_decay=5e-4, batch_size=128, epochs=200)
    if tiny:
        return {**cfg, **TINY}
    return {**cfg, **CPU, "lr": 0.01} if cpu else cfg


def variants(tiny: bool = False, cpu: bool = False):
    K = TINY["tiny_classes"] if tiny else 10
    return {
        "learned": dict(fixed_etf=False, label="learned W"),
        "fixed_etf": dict(fixed_etf=True, label="fixed ETF W"),
        "learned_dK": dict(fixed_etf=False, feature_dim=K, label=f"learned W, d = K = {K}"),
        "fixed_etf_dK": dict(fixed_etf=True, feature_dim=K, label=f"fixed ETF W, d = K = {K}"),
    }
