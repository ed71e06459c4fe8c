"""Write the ladder table of book/results.md from the checkpoint cards (checkpoints/<model>.json).

    python scripts/render_results.py          # rewrites the block between the LADDER markers
    python scripts/render_results.py --check  # exits 1 when the page is out of date with the cards

Every number in the table is read from a card that `scripts/make_checkpoints.py` wrote.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PAGE = REPO / "book" / "results.md"
BEGIN, END = "<!-- LADDER:BEGIN (scripts/render_results.py) -->", "<!-- LADDER:END -->"
LADDER = ["tiny_conv", "mini_unet", "mini_unet_v2", "film_unet", "batchnorm_unet", "dilated_convnet"]


def _metric(m: dict | None, name: str, fmt: str) -> str:
    if not m or m.get(name) is None:
        return "–"
    floor = m.get(f"{name}_floor")
    return f"{m[name]:{fmt}} ({floor:{fmt}})" if floor is not None else f"{m[name]:{fmt}}"


def table(cards: dict[str, dict]) -> str:
    head = ("| model | parameters | steps × batch | train images/s | wall time | final loss | "
            "FID (floor) | KID (floor) | precision (floor) | recall (floor) |")  # fmt: skip
    rows = [head, "|" + "---|" * 10]
    for name in LADDER:
        card = cards.get(name)
        if card is None:
            rows.append(f"| `{name}` | not trained yet | | | | | | | | |")
            continue
        m = card.get("metrics")
        rows.append(
            f"| `{name}` | {card['parameters']:,} | {card['steps']} × {card['training']['batch_size']} | "
            f"{card['train_images_per_s']:.0f} | {card['wall_time_s'] / 60:.0f} min | {card['final_loss']:.4f} | "
            f"{_metric(m, 'fid', '.1f')} | {_metric(m, 'kid', '.3f')} | {_metric(m, 'precision', '.2f')} | "
            f"{_metric(m, 'recall', '.2f')} |"
        )
    evaluated = [c["metrics"] for c in cards.values() if c.get("metrics")]
    if evaluated:
        m = evaluated[0]
        rows.append("")
        rows.append(
            f"Sample quality: {m['num_samples']:,} samples per model, {m['sampler'].upper()} with {m['steps']} steps, "
            f"seed {m.get('seed', 0)}, scored against the MNIST test set; the floor is {m['num_floor']:,} real "
            "MNIST-train images scored the same way."
        )
    devices = sorted({c["device"] for c in cards.values()})
    rows.append("")
    rows.append(f"Trained on: {', '.join(devices)} (torch {next(iter(cards.values()))['torch_version']}).")
    return "\n".join(rows)


def render() -> str:
    cards = {}
    for name in LADDER:
        path = REPO / "checkpoints" / f"{name}.json"
        if path.exists():
            cards[name] = json.loads(path.read_text())
    page = PAGE.read_text()
    if BEGIN not in page or END not in page:
        raise SystemExit(f"{PAGE} lacks the markers {BEGIN} ... {END}")
    before, rest = page.split(BEGIN, 1)
    _, after = rest.split(END, 1)
    body = table(cards) if cards else "No checkpoint cards yet: run `make checkpoints`."
    return f"{before}{BEGIN}\n{body}\n{END}{after}"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true")
    args = p.parse_args(argv)
    new = render()
    if args.check:
        if new != PAGE.read_text():
            print("book/results.md is out of date: run `python scripts/render_results.py`", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(new)
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
