"""Train the runs of the recipe study (tinydiff_lib.experiments.RECIPES) into runs/<name>.pt, resumably.

    OMP_NUM_THREADS=1 python scripts/run_recipes.py --runs recipe_ddpm      # one of two jobs on 2 cores
    python scripts/run_recipes.py --runs recipe_ddpm,recipe_edm_high        # one after the other
    OMP_NUM_THREADS=1 python scripts/run_recipes.py --runs recipe_edm_high_long   # the long run (LONG_RUNS)
    OMP_NUM_THREADS=1 python scripts/run_recipes.py --runs cap_film_unet_w32      # the capacity study, once
                                                                                  # its speeds are measured

Each run is the ``tinydiff train`` command of its budget (see ``train_command``); a finished run is skipped
and a half-finished one resumes. Scoring is scripts/score_recipes.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from row_file import native_bf16  # noqa: E402
from score_recipes import ALL  # noqa: E402  (the recipes, the long run and the capacity study's runs)

from tinydiff_lib.experiments import RECIPES, train_run  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", default=",".join(RECIPES), help=f"comma-separated, from: {', '.join(ALL)}")
    args = p.parse_args(argv)
    names = args.runs.split(",")
    unknown = [n for n in names if n not in ALL]
    if unknown:
        p.error(f"unknown run {', '.join(unknown)}; choose from {', '.join(ALL)}")
    if any(ALL[n][1].get("cpu_bf16") for n in names) and not native_bf16():
        print("error: these runs train under bfloat16, which this CPU only emulates (no bf16 units, "
              "td.native_bf16() is False: many times slower than float32); train them on a CPU with AVX-512 "
              "BF16 or AMX, or a GPU", file=sys.stderr)  # fmt: skip
        return 2
    for name in names:
        model, budget = ALL[name]
        train_run(name, model, budget, REPO / "runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
