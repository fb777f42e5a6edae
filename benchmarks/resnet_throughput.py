"""Training throughput (images/s) of our Flax ResNet18 against a PyTorch ResNet18, same run.

The PyTorch model is the torchvision-style CIFAR ResNet18 the papers train (BasicBlock, 3x3
stem, no max-pool), written below. Both sides run the same training step: SGD momentum 0.9,
MSE loss, weight decay 5e-4, batch of 32x32 images. Ours is the library's jitted step
(:mod:`nclandscape.nets.runner`): it also gathers the batch from device-resident uint8 data and
does random crop + flip on device; PyTorch gets pre-normalised float tensors already on the
device and no augmentation (a conservative comparison for us). PyTorch is measured contiguous
and channels-last; "best" is its fastest setting of all.

PyTorch is a benchmark-only extra, never a library dependency:
    pip install torch          # then
    python benchmarks/resnet_throughput.py                      # GPU defaults
    python benchmarks/resnet_throughput.py --steps 3 --repeats 2  # a CPU spot check

Timing: compile / warm up first, then ``--repeats`` timings of ``--steps`` steps each,
ending in ``block_until_ready`` (JAX) / ``synchronize`` (PyTorch); min and median reported.
Targets on an H100 (MSE-paper recipe): >= 1.5x PyTorch at batch 128 fp32, >= 1.35x PyTorch's
best setting (reference once measured: batch 128 fp32 12.5k img/s, batch 512 bf16
channels-last 44.5k img/s).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np


def _timeit(run_steps, sync, steps, repeats, warmup):
    for _ in range(warmup):
        run_steps(1)
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run_steps(steps)
        sync()
        times.append(time.perf_counter() - t0)
    return times


# --------------------------------------------------------------------------- JAX (ours)
def bench_jax(batch, bf16, steps, repeats, warmup, width):
    import jax
    import jax.numpy as jnp

    from nclandscape.nets.config import TrainConfig
    from nclandscape.nets.data import Dataset
    from nclandscape.nets.runner import (hparams_of, init_state, make_init, make_model,
                                         make_train_step, optimizer_for)

    cfg = TrainConfig(data="tiny", width=width, bf16=bf16, batch_size=batch, loss="mse",
                      optimizer="sgd", lr=0.05, weight_decay=5e-4, augment=True)
    n = batch * 4
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 10, n).astype(np.int32)
    ds = Dataset(x, y, x, y, tuple(map(str, range(10))), (0.49, 0.48, 0.45), (0.25, 0.24, 0.26))
    model = make_model(cfg, 10)
    tx = optimizer_for(cfg, 4)
    state = init_state(*make_init(cfg, model, (32, 32, 3))(), tx)
    step = make_train_step(cfg, model, tx, ds)
    hp = hparams_of(cfg)
    xd, yd = jnp.asarray(x), jnp.asarray(y)
    idx = [jnp.asarray(rng.permutation(n)[:batch].astype(np.int32)) for _ in range(4)]
    box = [state]

    def run(k):
        s = box[0]
        for i in range(k):
            s, _ = step(s, xd, yd, idx[i % 4], hp)
        box[0] = s

    t0 = time.perf_counter()
    run(1)
    jax.block_until_ready(box[0])
    compile_s = time.perf_counter() - t0
    times = _timeit(run, lambda: jax.block_until_ready(box[0]), steps, repeats, warmup)
    return times, compile_s


# --------------------------------------------------------------------------- PyTorch (papers')
def torch_resnet18(torch, num_classes=10, width=64):
    nn = torch.nn
    F = torch.nn.functional

    class BasicBlock(nn.Module):
        expansion = 1

        def __init__(self, in_planes, planes, stride=1):
            super().__init__()
            self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.shortcut = nn.Sequential()
            if stride != 1 or in_planes != planes:
                self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False),
                                              nn.BatchNorm2d(planes))

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return F.relu(out + self.shortcut(x))

    class ResNet(nn.Module):
        def __init__(self, num_blocks=(2, 2, 2, 2)):
            super().__init__()
            self.in_planes = width
            self.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            self.layers = nn.Sequential(*[self._make_layer(width * 2**i, n, 1 if i == 0 else 2)
                                          for i, n in enumerate(num_blocks)])
            self.linear = nn.Linear(width * 8, num_classes)

        def _make_layer(self, planes, n, stride):
            layers = []
            for s in [stride] + [1] * (n - 1):
                layers.append(BasicBlock(self.in_planes, planes, s))
                self.in_planes = planes
            return nn.Sequential(*layers)

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            out = self.layers(out)
            out = F.adaptive_avg_pool2d(out, 1).flatten(1)
            return self.linear(out)

    return ResNet()


def bench_torch(torch, device, batch, bf16, channels_last, steps, repeats, warmup, width):
    torch.manual_seed(0)
    model = torch_resnet18(torch, width=width).to(device)
    mf = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=mf)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    n = batch * 4
    x = torch.randn(n, 3, 32, 32, device=device).contiguous(memory_format=mf)
    y = torch.nn.functional.one_hot(torch.randint(0, 10, (n,), device=device), 10).float()
    idx = [torch.randperm(n, device=device)[:batch] for _ in range(4)]
    model.train()

    def run(k):
        for i in range(k):
            xb, yb = x[idx[i % 4]], y[idx[i % 4]]
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16):
                out = model(xb)
            loss = 0.5 * ((out.float() - yb) ** 2).sum(1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    sync = (lambda: torch.cuda.synchronize()) if device.type == "cuda" else (lambda: None)
    return _timeit(run, sync, steps, repeats, warmup)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[128, 512])
    p.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    p.add_argument("--steps", type=int, default=50, help="steps per timed repeat")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--width", type=int, default=64, help="ResNet18 base width (64 = standard)")
    args = p.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("PyTorch is not installed; this benchmark compares against it. "
              "Install it for the benchmark only (pip install torch) and rerun.")
        return 1
    import jax

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cpu":
        torch.set_num_threads(os.cpu_count() or 1)
    print(f"jax {jax.__version__} on {jax.devices()[0].device_kind}; torch {torch.__version__} "
          f"on {torch.cuda.get_device_name() if device.type == 'cuda' else 'cpu'} "
          f"({os.cpu_count()} CPU threads); width {args.width}; {args.steps} steps x "
          f"{args.repeats} repeats after {args.warmup} warm-up steps")
    rows = []
    for batch in args.batch_sizes:
        for prec in args.precisions:
            bf16 = prec == "bf16"
            jt, cs = bench_jax(batch, bf16, args.steps, args.repeats, args.warmup, args.width)
            res = {"batch": batch, "prec": prec, "jax": [batch * args.steps / t for t in jt],
                   "compile_s": cs}
            for cl in (False, True):
                tt = bench_torch(torch, device, batch, bf16, cl, args.steps, args.repeats,
                                 args.warmup, args.width)
                res["torch_cl" if cl else "torch"] = [batch * args.steps / t for t in tt]
            rows.append(res)
            j = statistics.median(res["jax"])
            t = max(statistics.median(res["torch"]), statistics.median(res["torch_cl"]))
            print(f"batch {batch:4d} {prec}: ours {j:9.1f} img/s (max {max(res['jax']):.1f}, "
                  f"compile {cs:.1f} s) | torch {statistics.median(res['torch']):9.1f} "
                  f"channels-last {statistics.median(res['torch_cl']):9.1f} | ratio {j / t:.2f}x",
                  flush=True)
    best_torch = max(max(statistics.median(r["torch"]), statistics.median(r["torch_cl"]))
                     for r in rows)
    best_ours = max(statistics.median(r["jax"]) for r in rows)
    print("\n| batch | precision | ours img/s (median) | PyTorch img/s | PyTorch channels-last | "
          "ours / PyTorch same setting |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        j = statistics.median(r["jax"])
        t, tc = statistics.median(r["torch"]), statistics.median(r["torch_cl"])
        print(f"| {r['batch']} | {r['prec']} | {j:.1f} | {t:.1f} | {tc:.1f} | {j / max(t, tc):.2f}x |")
    print(f"\nbest ours {best_ours:.1f} img/s vs best PyTorch {best_torch:.1f} img/s: "
          f"ratio {best_ours / best_torch:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
