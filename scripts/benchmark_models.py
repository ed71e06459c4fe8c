"""Parameters, training speed and sampling speed of every registered image model, as a markdown table.

    python scripts/benchmark_models.py                        # every image model, --device auto
    python scripts/benchmark_models.py --models tiny_conv,film_unet --device cpu --steps 5

Training: images/s through one optimiser step (forward, L_simple backward, Adam) at ``--train-batch``.
Sampling: images/s through one network evaluation in eval() without gradients at ``--sample-batch``; a DDPM
sample needs T = 1000 of them (DDIM: ``--steps`` of ``sample``), so the last column divides by 1000.
Each phase runs ``--warmup`` untimed steps, then ``--steps`` timed ones (fewer if ``--max-seconds`` runs
out after the first). A throughput probe, not a test: on a shared machine the numbers are noisy.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a source checkout without installing

from tinydiff_lib.models import MODELS, OPTIONAL_MODELS, build_model  # noqa: E402
from tinydiff_lib.utils import count_parameters, get_device  # noqa: E402

IMAGE_MODELS = [name for name in MODELS if name != "mlp"]  # the MLP denoises 2-D points, not images


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=",".join(IMAGE_MODELS),
                   help="comma-separated registry names (diffusers_unet too, with diffusers installed)")  # fmt: skip
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    p.add_argument("--train-batch", type=int, default=64)
    p.add_argument("--sample-batch", type=int, default=128)
    p.add_argument("--warmup", type=int, default=1, help="untimed steps before each measurement")
    p.add_argument("--steps", type=int, default=3, help="timed steps per measurement (at most)")
    p.add_argument("--max-seconds", type=float, default=10.0, help="stop timing a phase after this long")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def _images_per_second(step, batch: int, device: torch.device, warmup: int, steps: int, max_seconds: float) -> float:
    """Run ``step()`` ``warmup`` times untimed, then up to ``steps`` times timed; batch · steps / seconds."""
    for _ in range(warmup):
        step()
    _sync(device)
    done, start = 0, time.perf_counter()
    while done < steps:
        step()
        _sync(device)
        done += 1
        if time.perf_counter() - start > max_seconds:
            break
    return batch * done / (time.perf_counter() - start)


def benchmark(name: str, args: argparse.Namespace, device: torch.device) -> dict:
    torch.manual_seed(args.seed)
    model = build_model(name).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    xt = torch.randn(args.train_batch, 1, 28, 28, device=device)  # (B, 1, 28, 28)
    eps = torch.randn_like(xt)
    t = torch.randint(0, 1000, (args.train_batch,), device=device)

    def train_step() -> None:
        opt.zero_grad(set_to_none=True)
        F.mse_loss(model(xt, t), eps).backward()
        opt.step()

    model.train()
    train_rate = _images_per_second(train_step, args.train_batch, device, args.warmup, args.steps, args.max_seconds)

    xs = torch.randn(args.sample_batch, 1, 28, 28, device=device)
    ts = torch.randint(0, 1000, (args.sample_batch,), device=device)

    @torch.no_grad()
    def sample_step() -> None:
        model(xs, ts)

    model.eval()
    sample_rate = _images_per_second(sample_step, args.sample_batch, device, args.warmup, args.steps, args.max_seconds)
    return {"model": name, "parameters": count_parameters(model), "train": train_rate, "sample": sample_rate}


def main(argv=None) -> int:
    args = parse_args(argv)
    device = get_device(args.device)
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = [n for n in names if n not in MODELS and n not in OPTIONAL_MODELS]
    if unknown:
        print(f"error: unknown model(s) {', '.join(unknown)}; known: {', '.join(MODELS)}", file=sys.stderr)
        return 2
    threads = f", {torch.get_num_threads()} threads" if device.type == "cpu" else ""
    print(f"device: {device}{threads}; torch {torch.__version__}; float32; "
          f"{args.warmup} warm-up + up to {args.steps} timed steps per phase\n")  # fmt: skip
    print(f"| model | parameters | training images/s (batch {args.train_batch}) | sampling images/s per "
          f"network pass (batch {args.sample_batch}) | 1000-step DDPM images/min |")  # fmt: skip
    print("|---|---:|---:|---:|---:|")
    for name in names:
        r = benchmark(name, args, device)
        print(f"| `{r['model']}` | {r['parameters']:,} | {r['train']:,.0f} | {r['sample']:,.0f} "
              f"| {r['sample'] * 60 / 1000:,.1f} |", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
