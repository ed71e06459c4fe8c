"""Command line: ``tinydiff {train,sample,evaluate,params}`` (also ``python -m tinydiff_lib ...``).

The contract (relied on by the notebooks, the scripts and users' own code):

* ``train --model NAME [--objective ddpm|edm] [--steps N] [--batch-size B] [--lr LR]
  [--schedule linear|cosine|sigmoid] [--seed S] [--ema-decay D] [--weight-decay W]
  [--device auto|cpu|cuda|mps] [--compile] [--out PATH] [--checkpoint-every K] [--resume]
  [--condition none|label|text] [--cond-drop-prob P] [--warmup-steps W] [--sigma-p-mean M --sigma-p-std S]
  [--extra-ema D1,D2] [--cpu-bf16] [--keep-at K1,K2] [--stop-at K] [--lr-horizon H] [--cooldown-steps C]``:
  ``--steps``
  is the total number of optimiser steps; a run file is written (atomically) to ``--out`` every K steps and
  at the end; ``--resume`` continues it up to the same
  N with the same weights as an uninterrupted run (bit for bit on the CPU). Under
  ``torchrun --nproc_per_node P -m tinydiff_lib train ...`` each of P processes trains on B / P rows of
  the same global batch (DistributedDataParallel); rank 0 writes the run file.
  ``--cpu-bf16`` trains under bfloat16 autocast on the CPU too; ``--extra-ema`` keeps more EMAs of the run
  (``export_checkpoint(..., ema=D)``); ``--keep-at`` keeps copies ``<out>.step<K>.pt`` at those steps;
  ``--stop-at K`` stops at step K of the ``--steps`` schedule (``--resume`` later continues it).
  ``--lr-horizon H`` puts the cosine's zero at step H instead of N; ``--cooldown-steps C`` ends the run with a
  linear decay of the learning rate to 0 over its last C steps. A run resumes with another H or C only where its
  learning rate at every step already taken is unchanged (a run can be forked into a cool-down).
  Prints one JSON line: checkpoint, model, step, final_loss, wall_time_s, images_per_s.
* ``sample --checkpoint PATH --num-samples N [--sampler ddpm|ddim|euler|heun|dpmpp_2m|stochastic]
  [--steps K] [--eta E] [--seed S] [--compile] [--label D | --prompt TEXT] [--guidance W]
  [--guide-checkpoint GUIDE [--guide-interval LO,HI]] --out FILE.npy|FILE.png``: ``.npy`` is uint8 (N, 28, 28),
  0 = background, 255 = ink; ``.png`` a grid at 4 screen pixels per MNIST pixel. Without ``--sampler``
  (and ``--steps``) the sampler the checkpoint recommends is used. The same checkpoint and seed give the
  same samples on the same device. ``--guide-checkpoint GUIDE --guidance W`` samples an unconditional
  checkpoint with autoguidance (:mod:`tinydiff_lib.autoguidance`): pushed by w away from the weaker GUIDE,
  at every noise level, or only for LO < σ <= HI with ``--guide-interval LO,HI``.
* ``evaluate --checkpoint PATH [--num-samples N] [--sampler ...] [--steps K] [--seeds 0,1,2] [--guidance W]
  [--guide-checkpoint GUIDE [--guide-interval LO,HI]] [--prompts train|held_out] [--bf16]``: prints one JSON
  object with at least fid, precision, recall, num_samples, sampler, steps, sampling_dtype, each score next to
  its real-data floor (``--bf16`` samples under bfloat16 autocast, as the cards' scores were, where the device
  has bf16 units);
  for a conditional checkpoint (an equal number of samples per digit) also accuracy, accuracy_per_digit and
  guidance.
* A user mistake (bad argument, missing or wrong file, missing optional package) prints one line starting
  with ``error:`` and exits with status 2; anything else is a bug and shows its traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .errors import TinyDiffError

__all__ = ["main", "build_parser"]

SAMPLER_CHOICES = ["ddpm", "ddim", "euler", "heun", "dpmpp_2m", "stochastic"]  # = sampling_io.SAMPLERS


class UserError(TinyDiffError):
    """A mistake on the command line: printed as one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of usage + message
        raise UserError(f"{message} (see '{self.prog} --help')")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a probability, got {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a probability in [0, 1], got {text!r}")
    return value


def _digit(text: str) -> int:
    if text.strip() not in [str(d) for d in range(10)]:
        raise argparse.ArgumentTypeError(f"{text!r} is not a digit; --label takes 0 to 9")
    return int(text)


def _decay_list(text: str) -> list[float]:
    """``0.9995,0.9999`` -> [0.9995, 0.9999]: EMA decays, each in (0, 1)."""
    try:
        decays = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected decays like 0.9995,0.9999, got {text!r}") from None
    if not all(0 < d < 1 for d in decays):
        raise argparse.ArgumentTypeError(f"every EMA decay must be in (0, 1), got {text!r}")
    return decays


def _step_list(text: str) -> list[int]:
    """``2000,4000`` -> [2000, 4000]: positive step numbers."""
    try:
        steps = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected steps like 2000,4000, got {text!r}") from None
    if not all(k >= 1 for k in steps):
        raise argparse.ArgumentTypeError(f"every step must be >= 1, got {text!r}")
    return steps


def _sigma_interval(text: str) -> tuple[float, float]:
    """``0.28,5.42`` -> (0.28, 5.42): a σ range (σ_lo, σ_hi] with 0 <= σ_lo < σ_hi (``inf`` allowed for σ_hi)."""
    try:
        lo, hi = (float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected two noise levels like 0.28,5.42, got {text!r}") from None
    if not 0 <= lo < hi:
        raise argparse.ArgumentTypeError(f"expected 0 <= sigma_lo < sigma_hi, got {text!r}")
    return lo, hi


def _seed_list(text: str) -> list[int]:
    try:
        seeds = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 0,1,2, got {text!r}") from None
    if len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"seeds must differ, got {text!r}")
    return seeds


def _run_step(out: Path, resume: bool) -> int:
    """The step a run starts from: the run file's when resuming, else 0."""
    from .checkpoint import load_checkpoint

    return load_checkpoint(out)["step"] if resume and out.exists() else 0


def cmd_train(args) -> int:
    from .experiments import final_loss
    from .models import MODELS, OPTIONAL_MODELS
    from .training import TrainConfig, train

    if args.model not in MODELS and args.model not in OPTIONAL_MODELS:
        known = sorted({*MODELS, *OPTIONAL_MODELS})
        raise UserError(f"unknown model {args.model!r}; known models: {', '.join(known)}")
    out = Path(args.out or f"runs/{args.model}.pt")
    if out.exists() and not args.resume:
        raise UserError(f"{out} exists; pass --resume to continue it or choose another --out")
    if args.stop_at is not None and args.stop_at > args.steps:
        raise UserError(f"--stop-at {args.stop_at} is past the run's end (--steps {args.steps})")
    stop_after = None if args.stop_at is None else max(0, args.stop_at - _run_step(out, args.resume))
    config = TrainConfig(
        model=args.model,
        schedule=args.schedule,
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        objective=args.objective,
        checkpoint_every=args.checkpoint_every,
        ema_decay=args.ema_decay,
        extra_ema_decays=tuple(args.extra_ema),
        weight_decay=args.weight_decay,
        warmup_steps=args.warmup_steps,
        lr_horizon=args.lr_horizon,
        cooldown_steps=args.cooldown_steps,
        sigma_p_mean=args.sigma_p_mean,
        sigma_p_std=args.sigma_p_std,
        cpu_amp=args.cpu_bf16,
        condition=args.condition,
        cond_drop_prob=args.cond_drop_prob,
    )
    result = train(config, out=out, resume=args.resume, device=args.device, progress=not args.quiet,
                   data_root=args.data_root, compile=args.compile, keep_at=tuple(args.keep_at),
                   stop_after=stop_after)  # fmt: skip
    if int(os.environ.get("RANK", "0")) != 0:
        return 0  # under torchrun only rank 0 reports
    print(
        json.dumps(
            {
                "checkpoint": str(out),
                "model": config.model,
                "step": result.step,
                "final_loss": final_loss(result.history),
                "wall_time_s": round(result.wall_time_s, 1),
                "images_per_s": round(result.step * config.batch_size / max(result.wall_time_s, 1e-9), 1),
            }
        )
    )
    return 0


def cmd_sample(args) -> int:
    import torch

    from .autoguidance import load_sampling_model
    from .sampling_io import generate, resolve_steps, sampling_plan, save_samples
    from .utils import get_device

    if Path(args.out).suffix not in (".npy", ".png"):
        raise UserError(f"--out must end in .npy or .png, got {args.out}")
    device = get_device(args.device)
    model, schedule, ckpt, cfg_w = load_sampling_model(
        args.checkpoint, args.guide_checkpoint, args.guidance, device, args.guide_interval
    )
    sampler, steps = sampling_plan(ckpt, args.sampler, args.steps)
    net = torch.compile(model) if args.compile else model
    x = generate(net, schedule, args.num_samples, sampler, steps, args.eta, args.seed, batch_size=args.batch_size,
                 progress=not args.quiet, objective=ckpt["config"].get("objective", "ddpm"), labels=args.label,
                 prompts=args.prompt, guidance=cfg_w)  # fmt: skip
    path = save_samples(x, args.out)
    guided = {"guide": args.guide_checkpoint, "autoguidance": args.guidance} if args.guide_checkpoint else {}
    if args.guide_interval:
        guided["guide_interval"] = list(args.guide_interval)
    asked = {k: v for k, v in {"label": args.label, "prompt": args.prompt}.items() if v is not None}
    print(json.dumps({"out": str(path), "num_samples": len(x), "sampler": sampler,
                      "steps": resolve_steps(sampler, steps, schedule.num_steps),
                      **({**asked, "guidance": args.guidance} if asked else {}), **guided}))  # fmt: skip
    return 0


def _short(value):
    """Floats to six significant digits for the one-line report; everything else as it is."""
    return float(f"{value:.6g}") if isinstance(value, float) else value


def cmd_evaluate(args) -> int:
    from .evaluation import evaluate_checkpoint

    result = evaluate_checkpoint(args.checkpoint, args.num_samples, args.sampler, args.steps, args.eta, args.seed,
                                 seeds=args.seeds, batch_size=args.batch_size, device=args.device,
                                 feature_net=args.features, data_root=args.data_root, progress=not args.quiet,
                                 guidance=args.guidance, prompts=args.prompts,
                                 guide=args.guide_checkpoint, guide_interval=args.guide_interval,
                                 bf16=args.bf16)  # fmt: skip
    result.pop("per_seed", None)  # the summary only: one line of JSON
    print(json.dumps({k: [_short(a) for a in v] if isinstance(v, list) else _short(v) for k, v in result.items()}))
    return 0


def cmd_params(args) -> int:
    from .models import MODELS, build_model
    from .utils import count_parameters

    counts = {name: count_parameters(build_model(name)) for name in MODELS}
    if args.json:
        print(json.dumps(counts))
        return 0
    width = max(len(name) for name in counts)
    print(f"{'model':<{width}}  {'parameters':>12}")
    for name, count in counts.items():
        print(f"{name:<{width}}  {count:>12,}")
    return 0


def _add_sampling_options(p: argparse.ArgumentParser) -> None:
    """The options ``sample`` and ``evaluate`` share."""
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--sampler", choices=SAMPLER_CHOICES, help="default: the one the checkpoint recommends")
    p.add_argument("--steps", type=_positive_int, help="sampler steps (default: the checkpoint's); DDPM uses all T")
    p.add_argument("--eta", type=_non_negative_float, default=0.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--guidance", type=_non_negative_float, default=0.0,
                   help="guidance scale w >= 0: classifier-free for conditional checkpoints (0: purely "
                        "conditional), or autoguidance with --guide-checkpoint")  # fmt: skip
    p.add_argument("--guide-checkpoint", help="autoguidance: a weaker checkpoint of the same kind to push away from")
    p.add_argument("--guide-interval", type=_sigma_interval, metavar="LO,HI",
                   help="autoguidance only for noise levels LO < sigma <= HI (default: every sigma)")  # fmt: skip
    p.add_argument("--batch-size", type=_positive_int, help="sampling batch (default 256 on a CPU, 4096 on a GPU)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], default="auto")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tinydiff", description="Train and sample TinyDiff denoisers on MNIST.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("train", help="train a denoiser (resumable)")
    p.add_argument("--model", required=True, help="model name (see tinydiff_lib.MODELS)")
    p.add_argument("--steps", type=_positive_int, default=1000, help="total optimiser steps")
    p.add_argument("--batch-size", type=_positive_int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--objective", choices=["ddpm", "edm"], default="ddpm",
                   help="ddpm: ε-prediction, L_simple; edm: the preconditioned σ view (Karras 2022)")  # fmt: skip
    p.add_argument("--schedule", choices=["linear", "cosine", "sigmoid"], default="linear")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ema-decay", type=float, default=0.999, help="0 disables the EMA")
    p.add_argument("--extra-ema", type=_decay_list, default=[], help="more EMA decays to keep, e.g. 0.9995,0.9999")
    p.add_argument("--warmup-steps", type=int, default=0, help="linear LR warm-up before the cosine decay")
    p.add_argument(
        "--lr-horizon",
        type=int,
        default=0,
        help="the step at which the cosine reaches 0 (default: --steps; later: end part way down it)",
    )
    p.add_argument(
        "--cooldown-steps",
        type=int,
        default=0,
        help="the last K steps decay the learning rate linearly to 0 from its value at their start",
    )
    p.add_argument("--sigma-p-mean", type=float, default=-1.2, help="edm: ln σ ~ N(mean, std²) in training")
    p.add_argument("--sigma-p-std", type=float, default=1.2)
    p.add_argument("--cpu-bf16", action="store_true",
                   help="bfloat16 autocast on the CPU: about 2x faster where the CPU has bf16 units (AVX-512 BF16, "
                   "AMX); emulated and slower than float32 elsewhere")  # fmt: skip
    p.add_argument("--keep-at", type=_step_list, default=[], help="keep snapshots <out>.step<k>.pt at these steps")
    p.add_argument("--weight-decay", type=_non_negative_float, default=0.0,
                   help="AdamW decay of weight matrices and kernels (biases and norm gains never decay)")  # fmt: skip
    p.add_argument("--compile", action="store_true", help="torch.compile the network (GPU speed-up; slow to start)")
    p.add_argument("--condition", choices=["none", "label", "text"], default="none",
                   help="condition the network on the digit (label) or a caption of it (text)")  # fmt: skip
    p.add_argument("--cond-drop-prob", type=_probability, default=0.1,
                   help="drop the condition with this probability (classifier-free guidance)")  # fmt: skip
    p.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], default="auto")
    p.add_argument("--out", help="checkpoint path (default runs/<model>.pt)")
    p.add_argument("--checkpoint-every", type=_positive_int, default=500)
    p.add_argument("--resume", action="store_true", help="continue the run in --out up to --steps")
    p.add_argument("--stop-at", type=_positive_int,
                   help="stop at this step of the --steps schedule (a checkpoint; --resume continues it)")  # fmt: skip
    p.add_argument("--data-root", help="folder holding MNIST/raw (default $TINYDIFF_DATA)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("sample", help="draw samples from a checkpoint")
    p.add_argument("--num-samples", type=_positive_int, required=True)
    _add_sampling_options(p)
    p.add_argument("--compile", action="store_true", help="torch.compile the network before sampling")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--label", type=_digit, help="a class-conditional checkpoint: draw this digit (0-9)")
    which.add_argument("--prompt", help='a text-conditional checkpoint: draw this, e.g. "a handwritten number three"')
    p.add_argument("--out", required=True, help="FILE.npy (uint8 N×28×28) or FILE.png (grid)")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("evaluate", help="score samples of a checkpoint (FID, KID, precision/recall) next to real data")
    p.add_argument("--num-samples", type=_positive_int, default=1000)
    _add_sampling_options(p)
    p.add_argument("--seeds", type=_seed_list, help="several sampling seeds, e.g. 0,1,2: mean and std over them")
    p.add_argument("--features", help="feature-network checkpoint (default checkpoints/mnist_features.pt)")
    p.add_argument("--prompts", choices=["train", "held_out"], help="text checkpoints: the template split (train)")
    p.add_argument("--data-root", help="folder holding MNIST/raw (default $TINYDIFF_DATA)")
    p.add_argument("--bf16", action="store_true", help="sample under bfloat16 autocast, as the cards' and the "
                   "studies' scores were, where the device has bf16 units (else float32, with a warning); the "
                   "output's sampling_dtype says which")  # fmt: skip
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("params", help="print the parameter count of every registered model")
    p.add_argument("--json", action="store_true", help="one JSON object {model: parameters} instead of a table")
    p.set_defaults(func=cmd_params)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except TinyDiffError as exc:  # ours: a user mistake (bad argument, file, data, missing optional package)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; rerun with --resume to continue from the last checkpoint", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
