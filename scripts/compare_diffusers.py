"""Our FiLM U-Net side by side with a library U-Net: diffusers' ``UNet2DModel`` in the MNIST configuration
of the Hugging Face diffusion course (block channels 32/64/64, two layers per block, attention at 14×14 and 7×7).

    pip install -e ".[benchmark]"                # diffusers: needed by this script only
    python scripts/compare_diffusers.py          # writes results/library_unet.json

The library U-Net is trained by *our* loop (``tinydiff train --model diffusers_unet``) under exactly the
ladder's BUDGET (schedule, optimiser, batch size, steps: see ``tinydiff_lib.experiments``) into
``runs/diffusers_unet.pt`` (resumable, not shipped), and both models are scored by our metric with the same
sampler, sample count and seed. Training and sampling images/s are measured back to back on this machine
with the probe of ``tinydiff_lib.benchmark``, so the two speeds are comparable even on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import tinydiff_lib as td  # noqa: E402
from tinydiff_lib.benchmark import benchmark_model  # noqa: E402
from tinydiff_lib.experiments import BUDGET, final_loss, train_run  # noqa: E402

#: what the comparison keeps of evaluate_checkpoint's report
SCORES = ("fid", "fid_floor", "kid", "kid_floor", "precision", "precision_floor", "recall", "recall_floor",
          "num_samples")  # fmt: skip


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--num-samples", type=int, default=1000, help="samples scored per model (DDIM-20, seed 0)")
    args = p.parse_args(argv)

    ours = REPO / "checkpoints" / "film_unet.pt"  # the ladder's FiLM U-Net: same budget
    run = train_run("diffusers_unet", "diffusers_unet", BUDGET, REPO / "runs")
    library = td.export_checkpoint(run, REPO / "runs" / "diffusers_unet.export.pt")
    rows = {}
    for name, path in [("film_unet", ours), ("diffusers_unet", library)]:
        speed = benchmark_model(name, torch.device("cpu"), steps=5, max_seconds=15)
        ckpt = td.load_checkpoint(path)
        m = td.evaluate_checkpoint(path, num_samples=args.num_samples, sampler="ddim", steps=20, seed=0,
                                   progress=False)  # fmt: skip
        rows[name] = {
            "parameters": speed["parameters"],
            "train_images_per_s": round(speed["train"], 1),
            "sample_images_per_s": round(speed["sample"], 1),
            "steps": ckpt["step"],
            "batch_size": ckpt["config"]["batch_size"],
            "final_loss": final_loss(ckpt["history"]),
            **{k: m[k] for k in SCORES},
        }
        print(json.dumps({name: {k: rows[name][k] for k in ("parameters", "train_images_per_s", "fid")}}), flush=True)
    result = {
        "budget": BUDGET,
        "sampling": "DDIM (eta 0), 20 steps, seed 0",
        "speed_probe": f"tinydiff_lib.benchmark probe, cpu, {torch.get_num_threads()} threads, "
        "batch 64 training, batch 128 sampling",
        "torch_version": torch.__version__,
        "made_by": "python scripts/compare_diffusers.py",
        "models": rows,
    }
    out = REPO / "results" / "library_unet.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
