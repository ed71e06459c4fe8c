import importlib.util
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _render_module():
    spec = importlib.util.spec_from_file_location("render_results", REPO / "scripts" / "render_results.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_results_page_is_rendered_from_the_cards():
    """book/results.md shows exactly what checkpoints/*.json say (run scripts/render_results.py to refresh)."""
    assert _render_module().render() == (REPO / "book" / "results.md").read_text()


def test_every_shipped_checkpoint_has_a_card_that_names_how_it_was_made():
    shipped = [p for p in (REPO / "checkpoints").glob("*.pt") if not p.name.endswith(".stats.pt")]  # cache: ignored
    for pt in shipped:
        card = pt.with_suffix(".json")
        assert card.exists(), f"{pt.name} has no card"
        info = json.loads(card.read_text())
        assert "made_by" in info or "training" in info
        assert pt.stat().st_size < 6 * 2**20, f"{pt.name} is over 6 MB"
    total = sum(p.stat().st_size for p in shipped)
    assert total < 30 * 2**20


def test_fid_falls_along_the_ladder_of_the_shipped_cards():
    """TinyConv → MiniUNet → MiniUNetV2 → FiLM U-Net: each rung's shipped checkpoint scores a lower FID."""
    render = _render_module()
    cards = [json.loads((REPO / "checkpoints" / f"{name}.json").read_text()) for name in render.CLIMB]
    fids = [card["metrics"]["fid"] for card in cards]
    assert all(a > b for a, b in zip(fids, fids[1:])), dict(zip(render.CLIMB, fids))
    assert len({(c["metrics"]["num_samples"], c["metrics"]["sampler"], c["metrics"]["steps"]) for c in cards}) == 1
    assert len({json.dumps({k: v for k, v in c["training"].items() if k not in ("model", "model_kwargs")})
                for c in cards}) == 1, "the rungs must share one training budget"  # fmt: skip


def test_a_card_stopped_part_way_through_its_schedule_says_so():
    """A run trained with --stop-at (the guides: the first part of the long run) is described by the steps it
    trained, out of the steps its learning-rate schedule was planned for; a finished run by its steps alone."""
    recipe = _render_module()._recipe
    t = dict(objective="edm", sigma_p_mean=0.0, sigma_p_std=1.2, steps=45_000, batch_size=64, lr=1e-3,
             warmup_steps=300, lr_schedule="cosine", ema_decay=0.999, cpu_amp=True)  # fmt: skip
    assert "; the first 22,680 of 45,000 steps × 64 images, AdamW" in recipe(t, 22_680)
    assert "; 45,000 steps × 64 images, AdamW" in recipe(t, 45_000)
    assert "; 45,000 steps × 64 images, AdamW" in recipe(t)
    assert "300 warm-up steps and cosine decay, EMA" in recipe(t)


def test_a_cooled_run_names_its_cosine_horizon_and_its_cool_down():
    t = dict(objective="edm", sigma_p_mean=0.0, sigma_p_std=1.2, steps=25_200, batch_size=64, lr=1e-3,
             warmup_steps=300, lr_schedule="cosine", ema_decay=0.999, lr_horizon=45_000,
             cooldown_steps=2_520)  # fmt: skip
    text = _render_module()._recipe(t, 25_200)
    assert (
        "; 25,200 steps × 64 images, AdamW lr 0.001 with 300 warm-up steps and cosine decay towards 0 at step "
        "45,000, cut short by a linear cool-down to 0 over the last 2,520 steps, EMA 0.999"
    ) in text
