"""MSE paper Fig. 3: NC under different optimisers (SGD, Adam, L-BFGS), vanilla MSE, CIFAR-10.

The paper's set-up (Sec. 4, Fig. 3 caption, Appendix A) and ours, point by point:

- Data: CIFAR-10, 50k train / 10k test, channel-wise mean/std normalisation. Ours: the same
  (shards a..e, the official test set).
- Augmentation: none ("The networks are trained without data augmentation"). Ours: none.
- Network: ResNet18. Ours: ResNet18 with the CIFAR stem (3x3 conv, no max-pool). The authors'
  released commands run this figure with torchvision's ImageNet stem (7x7/2 conv + max-pool);
  we keep one architecture for every figure.
- Loss: vanilla MSE (eq. 3, one-hot targets), weight decay 5e-4. Ours: the same, the decay
  written in the loss on all parameters.
- Epochs: 200. Ours: 200.
- SGD: lr 0.05, momentum 0.9, x0.1 every 40 epochs. Ours: the same, batch 128.
- Adam: lr 0.001, betas (0.9, 0.999), x0.1 every 40 epochs. Ours: the same, batch 128.
- L-BFGS: "initial learning rate of 0.01 and strong Wolfe line search". Ours: optax.lbfgs with
  lr 0.01 as the first trial step of every zoom (strong-Wolfe) line search, as
  torch.optim.LBFGS(lr=0.01, line_search_fn="strong_wolfe"); history 10 and batch 512 (the
  paper gives neither; the authors' released commands use these). Differences: one L-BFGS
  iteration per minibatch (torch's default max_iter runs up to 20), at most 20 line-search
  steps, no learning-rate schedule.

Run:   nclandscape train experiments/resnet/fig3_optimizers.py --out runs/fig3
CPU:   nclandscape train experiments/resnet/fig3_optimizers.py --cpu --out runs_cpu/fig3
       (real CIFAR-10, 500 images, width 16, 24 epochs; SGD at lr 0.01, because lr 0.05 at
       batch 64 on 1,000 images stalled at chance accuracy for 6 epochs while lr 0.01 reached
       99.6% train accuracy in 12; L-BFGS on batches of 100, 12 epochs = 60 iterations, at
       most 5 line-search steps each: with 20, one epoch of 5 iterations took over 8 minutes)
Tiny:  nclandscape train experiments/resnet/fig3_optimizers.py --tiny --out /tmp/fig3 (~30 s)
Time:  3 runs x 200 epochs on a GPU (SGD/Adam ~10-15 min each on an H100; L-BFGS pays a
       forward-backward pass per line-search step). CPU variant, measured on a shared 2-core
       CPU: SGD + Adam 9 min; L-BFGS gave no epoch in 14 min (experiments/RESULTS.md).
Expect (paper): NC1, NC2, NC3 fall towards 0 as training proceeds for all three optimisers
       while the train accuracy reaches 100%; test accuracy differs between optimisers and
       follows the cosine-margin distribution.
"""
from nclandscape.nets.config import CPU, TINY


def get_config(tiny: bool = False, cpu: bool = False):
    cfg = dict(data="cifar10_npz", data_path="../shared/data/cifar10", shards="abcde",
               loss="mse", weight_decay=5e-4, augment=False, batch_size=128, epochs=200,
               schedule="step", lr_decay_epochs=40, lr_decay=0.1)
    if tiny:
        return {**cfg, **TINY}
    return {**cfg, **CPU} if cpu else cfg


def variants(tiny: bool = False, cpu: bool = False):
    lbfgs_batch = 64 if tiny else 100 if cpu else 512
    lbfgs_cpu = dict(epochs=12, lbfgs_linesearch_steps=5) if cpu else {}
    return {
        "sgd": dict(optimizer="sgd", lr=0.01 if cpu else 0.05, momentum=0.9),
        "adam": dict(optimizer="adam", lr=1e-3),
        "lbfgs": dict(optimizer="lbfgs", lr=0.01, schedule="constant", lbfgs_memory=10,
                      lbfgs_linesearch="zoom", batch_size=lbfgs_batch, **lbfgs_cpu),
    }
