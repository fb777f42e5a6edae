"""NC under different training losses: CE vs MSE vs rescaled MSE (MSE paper, Fig. 3 layout).

ResNet18 on the full CIFAR-10 train set (shards a..e), SGD lr 0.05, momentum 0.9, x0.1 every
40 epochs, weight decay 5e-4 on all parameters, batch 128, 200 epochs, crop+flip augmentation.

Run:   nclandscape train experiments/resnet/losses.py --out runs/losses
Tiny:  nclandscape train experiments/resnet/losses.py --tiny --out /tmp/losses   (~15 s, CPU)
Time:  3 runs x 200 epochs; GPU time still to be measured (estimate ~10-15 min per run on one
       H100 at >= 19k img/s); impractical on a 2-core CPU (~30 img/s, see
       benchmarks/RESULTS.md).
Expect (papers' trend): all three losses reach ~100% train accuracy; NC1, NC2, NC3 fall by
       orders of magnitude after the first lr decay and NC4 goes to ~0; MSE and rescaled MSE
       reach test accuracy comparable to CE (~93-95%). Tiny: finishes, NC metrics finite,
       training loss decreasing.
"""
from nclandscape.nets.config import TINY


def get_config(tiny: bool = False):
    cfg = dict(data="cifar10_npz", data_path="../shared/data/cifar10", shards="abcde",
               optimizer="sgd", lr=0.05, momentum=0.9, schedule="step", lr_decay_epochs=40,
               weight_decay=5e-4, batch_size=128, epochs=200, loss="mse")
    return {**cfg, **TINY} if tiny else cfg


def variants(tiny: bool = False):
    # alpha/M of the rescaled MSE are our choice (Hui & Belkin use k=1, M=1 for 10 classes).
    return {"ce": dict(loss="ce"), "mse": dict(loss="mse"),
            "rescaled_mse": dict(loss="rescaled_mse", alpha=2.0, M=5.0)}
