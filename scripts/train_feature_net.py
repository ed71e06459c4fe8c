"""Train the MNIST feature network used by ``tinydiff_lib.evaluation`` and write it with its JSON card.

    python scripts/train_feature_net.py            # -> checkpoints/mnist_features.pt + .json

A few epochs of a small CNN (:class:`tinydiff_lib.features.FeatureNet`) with light random-affine
augmentation, Adam and a one-cycle learning rate; a couple of minutes on a 2-core CPU. The training is
:func:`tinydiff_lib.features.train_feature_net`; this script only reads the arguments. The checkpoint
holds plain types and tensors only (``torch.load(..., weights_only=True)`` reads it).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a source checkout without installing

from tinydiff_lib.features import DEFAULT_FEATURE_NET, TRAIN_FEATURE_NET_COMMAND, train_feature_net  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3, help="peak learning rate of the one-cycle schedule")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="auto, cpu, cuda or mps")
    p.add_argument("--out", default=str(DEFAULT_FEATURE_NET))
    p.add_argument("--data-root", help="folder holding MNIST/raw (default $TINYDIFF_DATA)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    command = " ".join([TRAIN_FEATURE_NET_COMMAND, *(sys.argv[1:] if argv is None else argv)])
    card = train_feature_net(args.out, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                             device=args.device, data_root=args.data_root, command=command)  # fmt: skip
    summary = {"out": args.out, "test_accuracy": card["test_accuracy"], "wall_time_s": card["training"]["wall_time_s"],
               "file_size_bytes": card["file_size_bytes"]}  # fmt: skip
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
