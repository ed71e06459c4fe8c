"""Train the MNIST feature network used by ``tinydiff_lib.metrics`` and write it with its JSON card.

    python scripts/train_feature_net.py            # -> checkpoints/mnist_features.pt + .json

A few epochs of a small CNN (:class:`tinydiff_lib.metrics.FeatureNet`) with light random-affine
augmentation, Adam and a one-cycle learning rate; a couple of minutes on a 2-core CPU. The checkpoint
holds plain types and tensors only (``torch.load(..., weights_only=True)`` reads it).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a source checkout without installing

from tinydiff_lib import __version__  # noqa: E402
from tinydiff_lib.data import mnist_tensor  # noqa: E402
from tinydiff_lib.metrics import FEATURES_FORMAT, FeatureNet, random_affine, weights_hash  # noqa: E402
from tinydiff_lib.utils import atomic_torch_save, count_parameters, get_device, seed_everything  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3, help="peak learning rate of the one-cycle schedule")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="auto, cpu, cuda or mps")
    p.add_argument("--out", default=str(ROOT / "checkpoints" / "mnist_features.pt"))
    p.add_argument("--data-root", help="folder holding MNIST/raw (default $TINYDIFF_DATA)")
    return p.parse_args(argv)


@torch.no_grad()
def accuracy(net: FeatureNet, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    """Fraction of ``x`` whose arg-max class is ``y`` (``net`` in eval mode)."""
    device = next(net.parameters()).device
    correct = sum(
        (net(x[i : i + batch_size].to(device)).argmax(1).cpu() == y[i : i + batch_size]).sum().item()
        for i in range(0, len(x), batch_size)
    )
    return correct / len(x)


def train(args) -> tuple[FeatureNet, dict]:
    """Minimise the cross-entropy of augmented MNIST-train images; returns the net and a log."""
    device = get_device(args.device)
    gen = seed_everything(args.seed)
    x, y = mnist_tensor(train=True, root=args.data_root)
    net = FeatureNet().to(device)
    steps_per_epoch = len(x) // args.batch_size
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch)
    log = []
    for epoch in range(args.epochs):
        net.train()
        perm = torch.randperm(len(x), generator=gen)
        total, correct = 0.0, 0
        for i in range(steps_per_epoch):
            idx = perm[i * args.batch_size : (i + 1) * args.batch_size]
            xb = random_affine(x[idx], generator=gen).to(device)  # (B, 1, 28, 28)
            logits = net(xb)
            loss = F.cross_entropy(logits, y[idx].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
            correct += (logits.argmax(1).cpu() == y[idx]).sum().item()
        log.append({"epoch": epoch + 1, "loss": round(total / steps_per_epoch, 5),
                    "train_accuracy": round(correct / (steps_per_epoch * args.batch_size), 5)})  # fmt: skip
        print(json.dumps(log[-1]), file=sys.stderr)
    return net.eval(), {"epochs": log, "device": str(device)}


def main(argv=None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    net, log = train(args)
    wall_time_s = time.perf_counter() - start
    x_test, y_test = mnist_tensor(train=False, root=args.data_root)
    test_accuracy = accuracy(net, x_test, y_test)
    net = net.cpu()
    kwargs = {"channels": 32, "feature_dim": 128, "num_classes": 10, "dropout": 0.3}
    training = {
        "command": " ".join(["python scripts/train_feature_net.py", *(sys.argv[1:] if argv is None else argv)]),
        "data": "MNIST train (60,000 images) in [-1, 1]",
        "augmentation": "random affine per image: rotation ±10°, zoom 1 ± 0.1, shift ±2 px (background fill)",
        "optimizer": "Adam, one-cycle learning rate",
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "seed": args.seed,
        "device": log["device"],
        "wall_time_s": round(wall_time_s, 1),
        "log": log["epochs"],
    }
    ckpt = {
        "format": FEATURES_FORMAT,
        "format_version": 1,
        "kwargs": kwargs,
        "state_dict": {k: v.detach().clone() for k, v in net.state_dict().items()},
        "test_accuracy": test_accuracy,
        "weights_sha256": weights_hash(net),
        "training": training,
        "library_version": __version__,
        "torch_version": str(torch.__version__),
    }
    out = atomic_torch_save(ckpt, args.out)
    card = {
        "name": "FeatureNet (MNIST classifier; features = its 128-d penultimate layer)",
        "file": out.name,
        "file_size_bytes": out.stat().st_size,
        "parameters": count_parameters(net),
        "test_accuracy": round(test_accuracy, 5),
        "test_set": "MNIST test (10,000 images)",
        **{k: v for k, v in ckpt.items() if k not in ("format", "state_dict", "test_accuracy")},
    }
    out.with_suffix(".json").write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps({"out": str(out), "test_accuracy": test_accuracy, "wall_time_s": round(wall_time_s, 1),
                      "file_size_bytes": card["file_size_bytes"]}))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
