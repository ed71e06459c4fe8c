"""Parameters, training speed and sampling speed of registered models on a device, as a markdown table.

    python scripts/benchmark_models.py                                   # every image model, fp32, --device auto
    python scripts/benchmark_models.py --models film_unet --device cuda \\
        --variants fp32,bf16,bf16+channels_last,bf16+channels_last+compile

One row per model and variant (see :mod:`tinydiff_lib.benchmark`): the effect of bfloat16 autocast,
channels_last and torch.compile on the device it runs on.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a source checkout without installing

from tinydiff_lib.benchmark import VARIANTS, benchmark_model  # noqa: E402
from tinydiff_lib.models import MODELS, OPTIONAL_MODELS  # noqa: E402
from tinydiff_lib.utils import get_device, native_bf16  # noqa: E402

IMAGE_MODELS = [name for name in MODELS if name != "mlp"]  # the MLP denoises 2-D points, not images


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=",".join(IMAGE_MODELS),
                   help="comma-separated registry names (diffusers_unet too, with diffusers installed)")  # fmt: skip
    p.add_argument("--variants", default="fp32", help=f"comma-separated, from: {', '.join(VARIANTS)}")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    p.add_argument("--train-batch", type=int, default=64)
    p.add_argument("--sample-batch", type=int, default=128)
    p.add_argument("--warmup", type=int, default=1, help="untimed steps before each measurement (compile here)")
    p.add_argument("--steps", type=int, default=3, help="timed steps per measurement (at most)")
    p.add_argument("--max-seconds", type=float, default=10.0, help="stop timing a phase after this long")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="also write the rows to this JSON file (e.g. results/cpu_speed.json)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    device = get_device(args.device)
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [n for n in names if n not in MODELS and n not in OPTIONAL_MODELS]
    unknown += [v for v in variants if v not in VARIANTS]
    if unknown:
        print(f"error: unknown model(s)/variant(s) {', '.join(unknown)}; models: {', '.join(MODELS)}; "
              f"variants: {', '.join(VARIANTS)}", file=sys.stderr)  # fmt: skip
        return 2
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    hardware = {"native_bf16": native_bf16(device), "cpu_capability": torch.backends.cpu.get_cpu_capability()}
    print(f"device: {where}; bf16 units: {'yes' if hardware['native_bf16'] else 'no'}; torch {torch.__version__}; "
          f"{args.warmup} warm-up + up to {args.steps} timed steps per phase\n")  # fmt: skip
    print(f"| model | variant | parameters | training images/s (batch {args.train_batch}) | sampling images/s per "
          f"network pass (batch {args.sample_batch}) | 1000-step DDPM images/min |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|")
    rows = []
    for name in names:
        for variant in variants:
            r = benchmark_model(name, device, VARIANTS[variant], args.train_batch, args.sample_batch, args.warmup,
                                args.steps, args.max_seconds, args.seed)  # fmt: skip
            rows.append(r)
            print(f"| `{r['model']}` | {r['variant']} | {r['parameters']:,} | {r['train']:,.0f} | {r['sample']:,.0f} "
                  f"| {r['sample'] * 60 / 1000:,.1f} |", flush=True)  # fmt: skip
    if args.json:
        info = {"device": where, **hardware, "torch_version": torch.__version__, "date": time.strftime("%Y-%m-%d"),
                "train_batch": args.train_batch, "sample_batch": args.sample_batch,
                "command": "python scripts/benchmark_models.py " + " ".join(argv or sys.argv[1:]),
                "rows": rows}  # fmt: skip
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(info, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
