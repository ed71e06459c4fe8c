"""Labels and prompts on the FiLM path, conditioning dropout and classifier-free guidance (Ho & Salimans 2022)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import tinydiff_lib as td
from tinydiff_lib import evaluation
from tinydiff_lib.batching import BatchSource
from tinydiff_lib.cli import main
from tinydiff_lib.conditioning import (
    NULL_LABEL,
    ConditionSource,
    Guided,
    dropout_mask,
    evaluation_condition,
    null_like,
    requested_accuracy,
)
from tinydiff_lib.edm import EDMPrecond, karras_sigmas
from tinydiff_lib.features import FEATURES_FORMAT, FeatureNet
from tinydiff_lib.ode_samplers import heun_sample, network_passes, sample_x_T
from tinydiff_lib.samplers import ddim_sample
from tinydiff_lib.sampling_io import SAMPLERS, generate
from tinydiff_lib.text import MAX_PROMPT_LENGTH, PAD, tokenize

from .conftest import needs_mnist
from .test_training import small_data

REPO = Path(__file__).resolve().parents[1]
TINY_UNET = dict(base_channels=8, channel_mults=(1, 2), attention=False)
TINY = dict(model="film_unet", model_kwargs=TINY_UNET, num_diffusion_steps=50)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def digits(n=64):
    return torch.arange(n) % 10


class Known(nn.Module):
    """A 'network' with known answers: C = x + c + level for a condition c, U = −2x for ∅; records its batches."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))  # samplers look up the device from a parameter
        self.batches = []

    def forward(self, x, level, cond):
        self.batches.append(len(x))
        is_null = (cond == NULL_LABEL).reshape(-1, 1, 1, 1)
        c = cond.reshape(-1, 1, 1, 1).to(x.dtype)
        cond_out = x + c + level.reshape(-1, 1, 1, 1).to(x.dtype)
        return self.scale * torch.where(is_null, -2 * x, cond_out)


# --- guidance ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("w", [0.0, 0.5, 2.5, 6.0])
def test_guided_is_one_plus_w_conditional_minus_w_unconditional(w):
    x, t, cond = torch.randn(3, 1, 4, 4, generator=gen()), torch.tensor([5.0, 7.0, 9.0]), torch.tensor([3, 1, 8])
    model = Known()
    out = Guided(model, cond, w)(x, t)
    conditional, unconditional = x + cond.reshape(-1, 1, 1, 1) + t.reshape(-1, 1, 1, 1), -2 * x
    torch.testing.assert_close(out, (1 + w) * conditional - w * unconditional)
    assert model.batches == ([3] if w == 0 else [6])  # w = 0: the conditional half only; else one pass of 2B


def test_guidance_zero_is_the_plain_conditional_model():
    torch.manual_seed(0)
    model = td.build_model("film_unet_class", **TINY_UNET).eval()
    x, t, cond = (
        torch.randn(4, 1, 28, 28, generator=gen()),
        torch.tensor([1, 200, 500, 900]),
        torch.tensor([0, 3, 3, 9]),
    )
    with torch.no_grad():
        torch.testing.assert_close(Guided(model, cond, 0.0)(x, t), model(x, t, cond))
        for p in model.parameters():  # wake the zero-initialised layers so that c matters
            p.add_(torch.randn(p.shape, generator=gen(1)) * 0.05)
        mixed = Guided(model, cond, 3.0)(x, t)
        expected = 4 * model(x, t, cond) - 3 * model(x, t)  # cond=None is the null label
    torch.testing.assert_close(mixed, expected, rtol=1e-4, atol=1e-5)


def test_the_wrapper_makes_one_network_pass_of_2b_per_step():
    schedule = td.NoiseSchedule(num_steps=50)
    model = Known()
    ddim_sample(Guided(model, digits(3), 1.5), schedule, (3, 1, 4, 4), num_steps=7, generator=gen())
    assert model.batches == [6] * 7
    model = Known()
    sigmas = karras_sigmas(5, 0.002, 80.0)
    heun_sample(Guided(EDMPrecond(model), digits(3), 1.5), sample_x_T((3, 1, 4, 4), 80.0, gen()), sigmas)
    assert model.batches == [6] * network_passes("heun", 5)


def test_null_like_is_the_null_label_or_the_empty_prompt():
    assert null_like(torch.tensor([3, 4])).tolist() == [NULL_LABEL] * 2
    tokens = tokenize(["three", "7"])
    assert null_like(tokens).shape == tokens.shape and null_like(tokens).eq(PAD).all()


# --- the conditional FiLM U-Net ---------------------------------------------------------------------------------------


def test_the_unconditional_film_unet_keeps_its_state_dict_keys():
    plain = set(td.build_model("film_unet").state_dict())
    assert set(td.build_model("film_unet_class").state_dict()) - plain == {"label_emb.weight"}
    text = set(td.build_model("film_unet_text").state_dict()) - plain
    assert text and all(k.startswith("text_encoder.") for k in text)
    assert plain <= set(td.build_model("film_unet_text").state_dict())
    shipped = REPO / "checkpoints" / "film_unet.pt"
    if shipped.is_file():  # a checkpoint written before conditioning existed loads strictly
        model, _, _ = td.load_model(shipped)
        assert set(model.state_dict()) == plain and model.condition == "none"
    with pytest.raises(ValueError, match="unconditional"):
        td.build_model("film_unet", **TINY_UNET)(torch.zeros(1, 1, 28, 28), torch.tensor([3]), torch.tensor([3]))


@pytest.mark.parametrize("name", ["film_unet_class", "film_unet_text"])
def test_no_condition_is_the_null_condition(name):
    torch.manual_seed(0)
    model = td.build_model(name, **TINY_UNET).eval()
    x, t = torch.randn(2, 1, 28, 28, generator=gen()), torch.tensor([10, 600])
    with torch.no_grad():
        torch.testing.assert_close(model(x, t), model(x, t, model.null_condition(2)))
    assert model.null_condition(2).shape == ((2,) if name == "film_unet_class" else (2, MAX_PROMPT_LENGTH))


# --- conditioning dropout ----------------------------------------------------------------------------------------


def test_dropout_probability_zero_one_and_in_between():
    assert not dropout_mask(1000, 0.0, gen()).any() and dropout_mask(1000, 1.0, gen()).all()
    n, p = 20_000, 0.1
    rate = dropout_mask(n, p, gen(3)).float().mean().item()
    assert abs(rate - p) < 4 * (p * (1 - p) / n) ** 0.5  # within 4 standard errors


def source(condition, p, data_labels, rows=slice(None), batch=8, seed=0):
    batches = BatchSource(small_data(len(data_labels)), batch, seed, torch.device("cpu"), rows, labels=data_labels)
    return ConditionSource(condition, p, seed, batches, batch, rows, torch.device("cpu")), batches


def test_training_conditions_drop_with_p_and_are_a_function_of_the_step():
    labels = digits(40)
    keep, batches = source("label", 0.0, labels)
    drop, _ = source("label", 1.0, labels)
    for step in range(6):
        assert torch.equal(keep(step), batches.labels(step)) and drop(step).eq(NULL_LABEL).all()
    half, _ = source("label", 0.5, labels)
    again, _ = source("label", 0.5, labels)
    assert all(torch.equal(half(s), again(s)) for s in range(6))
    assert any(not torch.equal(half(s), half(s + 1)) for s in range(5))
    assert source("none", 0.1, labels)[0](0) is None
    text, _ = source("text", 1.0, labels)
    assert text(0).eq(PAD).all() and text(0).shape == (8, MAX_PROMPT_LENGTH)


@pytest.mark.parametrize("condition", ["label", "text"])
def test_each_rank_gets_its_rows_of_the_global_conditions(condition):
    labels = digits(40)
    whole, _ = source(condition, 0.3, labels)
    halves = [source(condition, 0.3, labels, rows=slice(r * 4, (r + 1) * 4))[0] for r in (0, 1)]
    for step in range(7):  # crosses an epoch (5 batches per epoch)
        assert torch.equal(torch.cat([h(step) for h in halves]), whole(step))


def test_batch_labels_belong_to_the_batch_images():
    data, labels = small_data(40), digits(40)
    batches = BatchSource(data, 8, 3, torch.device("cpu"), labels=labels)
    for step in range(12):
        images, y = batches[step], batches.labels(step)
        rows = [int(torch.nonzero((data == im).flatten(1).all(1))[0]) for im in images]
        assert y.tolist() == labels[rows].tolist()


# --- training -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("condition", ["label", "text"])
@pytest.mark.parametrize("objective", ["ddpm", "edm"])
def test_a_conditional_run_resumes_bit_identically(tmp_path, condition, objective):
    name = "film_unet_class" if condition == "label" else "film_unet_text"
    cfg = td.TrainConfig(model=name, model_kwargs=TINY_UNET, num_diffusion_steps=50, condition=condition,
                         objective=objective, steps=6, batch_size=8, checkpoint_every=2,
                         cond_drop_prob=0.3)  # fmt: skip
    kw = dict(data=small_data(), labels=digits(), device="cpu", progress=False)
    full = td.train(cfg, out=tmp_path / "a.pt", **kw)
    td.train(cfg, out=tmp_path / "b.pt", stop_after=3, **kw)
    resumed = td.train(cfg, out=tmp_path / "b.pt", resume=True, **kw)
    for a, b in zip(full.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)
    assert full.history == resumed.history
    ckpt = td.load_checkpoint(tmp_path / "b.pt")
    assert ckpt["config"]["condition"] == condition and ckpt["config"]["cond_drop_prob"] == 0.3
    assert ckpt["model"]["kwargs"]["condition"] == condition
    assert td.load_model(ckpt)[0].condition == condition


def test_conditional_training_settings_are_checked(tmp_path):
    kw = dict(data=small_data(), labels=digits(), device="cpu", progress=False)
    for bad in (
        dict(condition="colour"),
        dict(cond_drop_prob=1.5),
        dict(condition="none", model_kwargs={"condition": "label"}),
    ):  # noqa: E501
        with pytest.raises(td.UsageError):
            td.TrainConfig(**{**TINY, **bad})
    with pytest.raises(td.UsageError, match="takes no condition"):
        td.train(td.TrainConfig(model="tiny_conv", condition="label", steps=1, batch_size=8), **kw)
    with pytest.raises(td.UsageError, match="train it with --condition label"):
        td.train(td.TrainConfig(model="film_unet_class", model_kwargs=TINY_UNET, steps=1, batch_size=8), **kw)
    with pytest.raises(td.UsageError, match="needs the labels"):
        td.train(td.TrainConfig(**TINY, condition="label", steps=1, batch_size=8), data=small_data(), device="cpu")
    with pytest.raises(td.UsageError, match="digits 0 to 9"):
        td.train(td.TrainConfig(**TINY, condition="label", steps=1, batch_size=8), **{**kw, "labels": digits() + 5})


# --- sampling and evaluation ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """Three-step runs: a DDPM and an EDM class-conditional model, a text model, an unconditional one."""
    folder = tmp_path_factory.mktemp("cond")
    runs = {"label": dict(condition="label"), "label_edm": dict(condition="label", objective="edm"),
            "text": dict(condition="text"), "none": dict()}  # fmt: skip
    for name, kwargs in runs.items():
        cfg = td.TrainConfig(**TINY, **kwargs, steps=3, batch_size=8)
        td.train(cfg, data=small_data(), labels=digits(), out=folder / f"{name}.pt", device="cpu", progress=False)
    return {name: folder / f"{name}.pt" for name in runs}


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_every_sampler_runs_with_guidance(checkpoints, sampler):
    for name, ask in [("label", dict(labels=torch.tensor([3, 7, 0]))), ("text", dict(prompts="a handwritten seven"))]:
        model, schedule, _ = td.load_model(checkpoints[name])
        steps = None if sampler == "ddpm" else 3
        x = generate(model, schedule, 3, sampler, steps, progress=False, guidance=2.0, **ask)
        assert x.shape == (3, 1, 28, 28) and torch.isfinite(x).all()
    model, schedule, _ = td.load_model(checkpoints["label_edm"])
    if sampler not in ("ddpm", "ddim"):
        x = generate(model, schedule, 3, sampler, 3, progress=False, objective="edm", guidance=4.0, labels=5)
        assert x.shape == (3, 1, 28, 28) and torch.isfinite(x).all()


def test_one_seed_gives_one_x_T_for_every_condition(checkpoints):
    """The noise does not depend on the condition: the same seed with w = 0 and a label-blind network (before it
    learned anything, ε̂ ignores c) gives the same samples for every digit."""
    model, schedule, _ = td.load_model(checkpoints["label"])
    with torch.no_grad():
        model.label_emb.weight.zero_()  # every label now embeds alike
    a = generate(model, schedule, 2, "ddim", 3, seed=4, progress=False, labels=1)
    assert torch.equal(a, generate(model, schedule, 2, "ddim", 3, seed=4, progress=False, labels=8))
    guided = generate(model, schedule, 2, "ddim", 3, seed=4, progress=False, labels=8, guidance=3.0)
    torch.testing.assert_close(guided, a)  # ε(x, c) = ε(x, ∅) here, so any w gives the same (up to rounding)


def test_evaluation_asks_for_every_digit_equally():
    y, cond = evaluation_condition("label", 25)
    assert torch.bincount(y).tolist() == [3] * 5 + [2] * 5 and torch.equal(cond["labels"], y)
    y, cond = evaluation_condition("text", 20, "held_out", seed=1)
    assert (
        len(cond["prompts"]) == 20 and cond["prompts"] == evaluation_condition("text", 20, "held_out", 1)[1]["prompts"]
    )
    assert evaluation_condition("none", 20) == (None, {})


def test_requested_accuracy_counts_the_classifiers_agreement():
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    probs = torch.nn.functional.one_hot(torch.tensor([0, 5, 1, 1, 2, 0]), 10).float()  # (6, 10)
    result = requested_accuracy(probs, y)
    assert result["accuracy"] == pytest.approx(4 / 6)
    assert result["accuracy_per_digit"][:3] == [0.5, 1.0, 0.5] and result["accuracy_per_digit"][3:] == [None] * 7


@pytest.fixture
def fake_features(tmp_path, monkeypatch):
    """A random 8-d feature network and 200 random images standing in for both MNIST splits."""
    images = torch.rand(200, 1, 28, 28, generator=gen()) * 2 - 1
    monkeypatch.setattr(evaluation, "mnist_tensor", lambda train=True, root=None: (images, torch.zeros(200).long()))
    kwargs = {"channels": 4, "feature_dim": 8}
    path = tmp_path / "features.pt"
    torch.save({"format": FEATURES_FORMAT, "kwargs": kwargs, "state_dict": FeatureNet(**kwargs).state_dict()}, path)
    return path


@pytest.mark.parametrize("name, prompts", [("label", None), ("text", "held_out")])
def test_evaluate_reports_accuracy_per_requested_digit(checkpoints, fake_features, capsys, name, prompts):
    result = td.evaluate_checkpoint(checkpoints[name], num_samples=20, sampler="ddim", steps=2, device="cpu",
                                    feature_net=str(fake_features), guidance=1.5, prompts=prompts,
                                    progress=False)  # fmt: skip
    per_digit = result["accuracy_per_digit"]
    assert len(per_digit) == 10 and all(0 <= a <= 1 for a in per_digit)
    assert result["accuracy"] == pytest.approx(sum(per_digit) / 10)  # two samples per digit
    assert result["guidance"] == 1.5 and result["condition"] == name and {"fid", "fid_floor"} <= set(result)
    assert result.get("prompts") == prompts
    argv = ["evaluate", "--checkpoint", str(checkpoints[name]), "--num-samples", "20", "--sampler", "ddim", "--steps",
            "2", "--device", "cpu", "--features", str(fake_features), "--guidance", "1.5", "--quiet"]  # fmt: skip
    assert main(argv + (["--prompts", prompts] if prompts else [])) == 0
    printed = json.loads(capsys.readouterr().out)  # the same seed: the same samples and scores
    assert printed["accuracy"] == pytest.approx(result["accuracy"], abs=1e-5) and printed["guidance"] == 1.5
    assert printed["accuracy_per_digit"] == pytest.approx(per_digit, abs=1e-5)


# --- the command line ----------------------------------------------------------------------------------------------


def test_sample_a_digit_and_a_prompt_from_the_command_line(checkpoints, tmp_path, capsys):
    assert main(["sample", "--checkpoint", str(checkpoints["label"]), "--num-samples", "4", "--label", "3",
                 "--guidance", "2", "--steps", "2", "--out", str(tmp_path / "three.png"), "--quiet"]) == 0  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    assert report["label"] == 3 and report["guidance"] == 2.0 and (tmp_path / "three.png").is_file()
    assert main(["sample", "--checkpoint", str(checkpoints["text"]), "--num-samples", "2", "--steps", "2",
                 "--prompt", "a handwritten number three", "--out", str(tmp_path / "x.npy"),
                 "--quiet"]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out)["prompt"] == "a handwritten number three"


LONG = "a handwritten number three drawn slowly in black ink"  # 52 characters


@pytest.mark.parametrize(
    "run, args, message",
    [
        ("label", ["--label", "12"], "argument --label: '12' is not a digit; --label takes 0 to 9"),
        ("label", ["--label", "3", "--guidance", "-1"], "argument --guidance: expected a finite number >= 0"),
        ("text", ["--prompt", LONG], "has 52 characters; the text encoder takes at most 48: shorten it"),
        ("none", ["--prompt", "three"], "this checkpoint is unconditional: drop --prompt"),
        ("none", ["--label", "3"], "this checkpoint is unconditional: drop --label"),
        ("label", ["--prompt", "three"], "conditioned on class labels: use --label D instead of --prompt"),
        ("text", ["--label", "3"], "conditioned on text: use --prompt TEXT"),
        ("label", ["--guidance", "2"], "--guidance needs a condition to push towards"),
    ],
)
def test_conditional_sampling_mistakes_give_one_line(checkpoints, tmp_path, capsys, run, args, message):
    argv = ["sample", "--checkpoint", str(checkpoints[run]), "--num-samples", "2", "--steps", "2",
            "--out", str(tmp_path / "x.npy"), *args]  # fmt: skip
    assert main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--model", "tiny_conv", "--condition", "label", "--steps", "1"], "takes no condition"),
        (["train", "--model", "film_unet_class", "--steps", "1"], "train it with --condition label"),
        (["train", "--model", "film_unet_text", "--condition", "label"], "train it with --condition text"),
        (["train", "--model", "film_unet", "--cond-drop-prob", "2"], "expected a probability in [0, 1]"),
        (["evaluate", "--checkpoint", "{label}", "--prompts", "held_out"], "--prompts train|held_out is for text"),
        (["evaluate", "--checkpoint", "{none}", "--guidance", "2"], "--guidance needs a conditional checkpoint"),
    ],
)
def test_conditional_training_and_evaluation_mistakes_give_one_line(checkpoints, tmp_path, monkeypatch, capsys,
                                                                   argv, message):  # fmt: skip
    import tinydiff_lib.data as data_module

    monkeypatch.setattr(data_module, "mnist_tensor", lambda train=True, root=None: (small_data(), digits()))
    argv = [a.format(**{k: str(v) for k, v in checkpoints.items()}) for a in argv]
    monkeypatch.chdir(tmp_path)
    assert main([*argv, "--quiet"] if argv[0] != "train" else argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines


@needs_mnist
@pytest.mark.slow
def test_two_gloo_processes_train_a_text_model_like_one(tmp_path):
    """Under torchrun each rank keeps its rows of the global batch's captions and dropout: one process's run."""
    args = ["-m", "tinydiff_lib", "train", "--model", "film_unet_text", "--condition", "text",
            "--cond-drop-prob", "0.3", "--batch-size", "8", "--steps", "3", "--device", "cpu", "--quiet"]  # fmt: skip
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    weights = []
    for name, cmd in [("one", [sys.executable]), ("two", launcher)]:
        out = tmp_path / f"{name}.pt"
        done = subprocess.run([*cmd, *args, "--out", str(out)], cwd=REPO, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        weights.append(torch.load(out, weights_only=True)["train_state"]["model"])
    assert max((weights[0][k] - weights[1][k]).abs().max().item() for k in weights[0]) < 1e-5
