"""load_or_train and trace_shapes (tinydiff_lib.notebook)."""

import pytest
import torch

import tinydiff_lib as td


def test_notebook_helpers_are_public():
    for name in ["load_or_train", "LoadedModel", "trace_shapes", "StageShape", "glue", "read_results"]:
        assert name in td.__all__


def test_trace_shapes_lists_each_stage_in_the_order_it_ran():
    model = td.MiniUNet()
    x, t = torch.zeros(2, 1, 28, 28), torch.tensor([10, 900])
    rows, out = td.trace_shapes(model, ["conv_out", "downsample", "conv_in"], x, t)
    assert out.shape == x.shape
    assert [r.name for r in rows] == ["conv_in", "downsample", "conv_out"]  # execution order, not list order
    conv_in, down, conv_out = rows
    assert conv_in.module == "Conv2d" and conv_in.input_shape == (2, 1, 28, 28)
    assert down.output_shape[2:] == (14, 14) and down.input_shape[2:] == (28, 28)
    assert conv_out.output_shape == (2, 1, 28, 28)
    assert not any(m._forward_hooks for m in model.modules())  # hooks removed


def test_trace_shapes_removes_its_hooks_on_an_error():
    model = td.TinyConv()
    with pytest.raises(RuntimeError):
        td.trace_shapes(model, ["conv1"], torch.zeros(2, 3, 28, 28), torch.zeros(2, dtype=torch.long))
    assert not any(m._forward_hooks for m in model.modules())
    with pytest.raises(AttributeError):
        td.trace_shapes(model, ["no_such_stage"], torch.zeros(1, 1, 28, 28), torch.zeros(1, dtype=torch.long))


def test_load_or_train_loads_a_shipped_checkpoint(monkeypatch, tmp_path):
    model = td.TinyConv()
    ckpt = {"step": 7, "config": {"batch_size": 4}, "wall_time_s": 120.0, "device": "cpu", "history": {"loss": [1]}}
    monkeypatch.setattr(td.notebook, "checkpoint_path", lambda name: tmp_path / f"{name}.pt")
    monkeypatch.setattr(td.notebook, "load_model", lambda path, device: (model, td.NoiseSchedule(), ckpt))
    loaded = td.load_or_train("tiny_conv")
    assert isinstance(loaded, td.LoadedModel) and loaded.model is model and loaded.history == {"loss": [1]}
    m, schedule, history, note = loaded  # unpacks like a tuple
    assert note == "shipped checkpoint, 7 steps × 4 images, 2 min on cpu"


def test_load_or_train_trains_a_short_run_when_the_checkpoint_is_missing(monkeypatch, capsys):
    def missing(name):
        raise td.CheckpointError(f"no {name}")

    monkeypatch.setattr(td.notebook, "checkpoint_path", missing)
    data = torch.rand(16, 1, 28, 28) * 2 - 1
    loaded = td.load_or_train("tiny_conv", data=data, fallback_steps=2, fallback_batch_size=4)
    assert "NOTE: no shipped checkpoint for tiny_conv" in capsys.readouterr().out
    assert loaded.note.startswith("trained here, 2 steps × 4 images")
    assert len(loaded.history["loss"]) == 2 and not loaded.model.training


def test_load_or_train_from_scratch_trains_the_budget(monkeypatch):
    seen = {}

    def fake_train(config, data, device, progress):
        seen["config"] = config
        raise KeyboardInterrupt  # stop before any real training

    monkeypatch.setattr(td.notebook, "train", fake_train)
    with pytest.raises(KeyboardInterrupt):
        td.load_or_train("mini_unet", train_from_scratch=True, budget_steps=11, budget_batch_size=3, seed=5)
    c = seen["config"]
    assert (c.model, c.steps, c.batch_size, c.seed, c.lr, c.ema_decay) == ("mini_unet", 11, 3, 5, 1e-3, 0.995)


def test_glue_is_a_no_op_without_myst_nb(monkeypatch):
    """On Colab (no myst-nb) a notebook's glue calls must not fail; with myst-nb they emit a glue output."""
    import sys

    monkeypatch.setitem(sys.modules, "myst_nb", None)  # `import myst_nb` now raises ImportError
    td.glue("answer", 42)


def test_glue_with_myst_nb_emits_the_books_metadata(monkeypatch):
    import myst_nb

    shown = []
    monkeypatch.setattr("IPython.display.display", lambda *a, **k: shown.append((a, k)))
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display: shown.append((name, value, display)))
    td.glue("answer", 42)
    assert shown == [("answer", 42, False)]


def test_read_results_reads_a_results_file_or_says_none(tmp_path):
    """A notebook reads results/*.json through it; where the file is missing (Colab) it gets None, not an error."""
    path = tmp_path / "recipes.json"
    assert td.read_results(path) is None
    path.write_text('{"rows": [{"run": "a", "fid": 5.5}]}')
    assert td.read_results(str(path)) == {"rows": [{"run": "a", "fid": 5.5}]}
    assert td.read_results(tmp_path) is None  # a folder is not a results file


def test_lowest_share_picks_the_fewest_hesitant_samples_within_the_caps():
    """Of equal shares the lower FID; the caps leave out rows above the FID cap or below the precision floor."""
    rows = [dict(unsure=0.015, fid=20.0, precision=0.87), dict(unsure=0.015, fid=18.0, precision=0.87),
            dict(unsure=0.027, fid=8.6, precision=0.87), dict(unsure=0.02, fid=8.0, precision=0.79),
            dict(unsure=0.03, fid=5.9, precision=0.86)]  # fmt: skip
    assert td.lowest_share(rows) is rows[1]
    assert td.lowest_share(rows, fid_cap=9.46, min_precision=0.8) is rows[2]
    assert td.lowest_share(rows, fid_cap=9.46) is rows[3]  # without the precision floor
    assert td.lowest_share(rows, fid_cap=8.5, min_precision=0.8) is rows[4]
    assert td.lowest_share(rows, fid_cap=1.0) is None and td.lowest_share([]) is None
