"""The model zoo: every registered denoiser keeps the (x, t) -> ε̂ contract (output shaped like x)."""

import json
import sys

import pytest
import torch
import torch.nn.functional as F

from tinydiff_lib import NoiseSchedule, cli, q_sample
from tinydiff_lib.models import MODELS, NULL_LABEL, BatchNormUNet, DilatedConvNet, MiniUNet, MiniUNetV2, build_model
from tinydiff_lib.models.blocks import ConvNormAct
from tinydiff_lib.text import tokenize
from tinydiff_lib.utils import count_parameters

EXPECTED_NAMES = {
    "tiny_conv", "mini_unet", "mini_unet_v2", "film_unet", "film_unet_base64", "batchnorm_unet",
    "dilated_convnet", "dilated_convnet_256", "mlp",
}  # fmt: skip

#: narrower versions of the slow presets, for the tests that train (the contract does not depend on width)
FAST_KWARGS = {"film_unet_base64": dict(base_channels=16), "dilated_convnet_256": dict(width=32)}


def make_batch(name: str, batch: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """x in [-1, 1] of the model's data shape and int64 timesteps t in [0, 1000)."""
    g = torch.Generator().manual_seed(seed)
    shape = (batch, 2) if name == "mlp" else (batch, 1, 28, 28)
    x = torch.rand(shape, generator=g) * 2 - 1
    t = torch.randint(0, 1000, (batch,), generator=g)
    return x, t


def test_registry_holds_every_model_of_the_source_documents():
    assert EXPECTED_NAMES <= set(MODELS)


def test_unknown_name_raises_value_error_listing_known_names():
    with pytest.raises(ValueError, match="nope") as info:
        build_model("nope")
    for name in MODELS:
        assert name in str(info.value)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_output_shape_equals_input_shape(name):
    x, t = make_batch(name, 3)
    out = build_model(name)(x, t)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_gradients_reach_every_parameter(name):
    """Every parameter lies on a path to the output, so after a few steps every gradient is nonzero.

    Zero-initialised layers delay it (FiLMUNet): step 1 only out_conv gets a gradient (everything behind a zero
    weight gets zero); step 2 the FiLM projections, now reached; step 3 the time MLP behind them. A conditional
    model sees half real conditions, half the null one, so both the encoder and the null entry are on a path."""
    torch.manual_seed(0)
    model = build_model(name, **FAST_KWARGS.get(name, {}))
    x, t = make_batch(name, 4)
    eps = torch.randn_like(x)
    cond = {"label": torch.tensor([3, NULL_LABEL, 7, NULL_LABEL]),
            "text": tokenize(["three", "", "the digit 7", ""])}.get(getattr(model, "condition", "none"))  # fmt: skip
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(3):
        opt.zero_grad()
        F.mse_loss(model(x, t) if cond is None else model(x, t, cond), eps).backward()
        for pname, p in model.named_parameters():
            assert p.grad is not None, f"{pname} got no gradient"
            assert torch.isfinite(p.grad).all(), f"{pname} has a non-finite gradient"
        opt.step()
    zero = [pname for pname, p in model.named_parameters() if not p.grad.abs().sum() > 0]
    assert not zero, f"parameters with an all-zero gradient after two steps: {zero}"


@pytest.mark.parametrize("name", sorted(MODELS))
def test_eval_mode_handles_a_batch_of_one_and_treats_images_independently(name):
    """In eval() no layer mixes images (BatchNorm uses its running statistics), so denoising one image alone
    gives the same result as denoising it inside a batch."""
    model = build_model(name)
    x, t = make_batch(name, 3)
    with torch.no_grad():
        model.train()(x, t)  # one training-mode pass moves BatchNorm's running statistics off their init
        model.eval()
        single = model(x[:1], t[:1])
        batched = model(x, t)
    assert single.shape == x[:1].shape
    torch.testing.assert_close(single, batched[:1], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_seeded_construction_and_forward_are_repeatable(name):
    x, t = make_batch(name, 2)
    outs = []
    for _ in range(2):
        torch.manual_seed(1234)
        model = build_model(name, **FAST_KWARGS.get(name, {})).eval()
        with torch.no_grad():
            outs.append(model(x, t))
    assert torch.equal(outs[0], outs[1])


@pytest.mark.parametrize("name", sorted(MODELS))
def test_twenty_steps_on_a_fixed_batch_lower_the_loss(name):
    """L_simple = ‖ε − ε_θ(x_t, t)‖² on one fixed batch x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε (Ho et al. Eq. 4, Alg. 1).

    With one shared x_0 (a bar on a dark background) ε = (x_t − √ᾱ_t x_0) / √(1 − ᾱ_t) is a fixed affine
    function of x_t for each t, which every model can start to fit; a model that has learned something gives
    different answers at different t."""
    torch.manual_seed(0)
    model = build_model(name, **FAST_KWARGS.get(name, {}))
    x0, t = make_batch(name, 4, seed=1)
    if name != "mlp":
        x0 = torch.full_like(x0, -1.0)
        x0[:, :, 6:22, 12:16] = 1.0  # (B, 1, 28, 28): a "1"
    t = torch.linspace(50, 950, len(t)).long()
    eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(2))
    xt = q_sample(NoiseSchedule(), x0, t, eps)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(20):
        opt.zero_grad()
        loss = F.mse_loss(model(xt, t), eps)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses
    model.eval()
    with torch.no_grad():
        same = torch.allclose(model(xt, torch.zeros_like(t)), model(xt, torch.full_like(t, 999)))
    assert same == (name == "film_unet_no_time")  # only the ablation without a time input ignores t


def test_parameter_counts_match_the_source_documents():
    """Seed 002 reports 858,305 parameters for its BatchNorm U-Net (layer list not given); seed 003 ~4.9 M for
    the 256-wide dilated ConvNet."""
    assert abs(count_parameters(BatchNormUNet()) - 858_305) / 858_305 < 1e-3
    assert abs(count_parameters(DilatedConvNet(width=256)) - 4.9e6) / 4.9e6 < 0.02
    assert count_parameters(build_model("dilated_convnet")) < count_parameters(build_model("dilated_convnet_256"))


def test_dilated_convnet_dilations_grow_as_three_to_the_layer_over_two():
    model = DilatedConvNet(width=16)
    assert model.dilations == (1, 1, 3, 3, 9, 9, 27, 27)
    assert [block.conv.dilation for block in model.blocks] == [(d, d) for d in model.dilations]


def test_registry_kwargs_override_presets():
    assert build_model("dilated_convnet").in_proj.out_channels == 64
    assert build_model("dilated_convnet_256").in_proj.out_channels == 256
    assert build_model("dilated_convnet", width=8).in_proj.out_channels == 8


@pytest.mark.parametrize(("cls", "bottleneck"), [(MiniUNet, 14), (MiniUNetV2, 7), (BatchNormUNet, 7)])
def test_unets_reach_their_bottleneck_resolution(cls, bottleneck):
    model = cls()
    seen = []
    model.mid.register_forward_hook(lambda module, inputs, output: seen.append(output.shape[-2:]))
    x, t = make_batch("unet", 2)
    model(x, t)
    assert seen == [torch.Size([bottleneck, bottleneck])]


@pytest.mark.parametrize(
    ("kwargs", "out_size"), [(dict(), 28), (dict(down=True), 14), (dict(up=True), 56), (dict(batch_norm=True), 28)]
)
def test_conv_norm_act_shapes(kwargs, out_size):
    block = ConvNormAct(3, 8, **kwargs)
    assert block(torch.randn(2, 3, 28, 28)).shape == (2, 8, out_size, out_size)
    conv = next(m for m in block if isinstance(m, torch.nn.Conv2d))
    assert (conv.bias is None) == kwargs.get("batch_norm", False)  # BatchNorm's shift replaces the conv bias


def test_conv_norm_act_rejects_down_and_up_together():
    with pytest.raises(ValueError):
        ConvNormAct(3, 8, down=True, up=True)


def test_cli_params_prints_every_model(capsys):
    assert cli.main(["params", "--json"]) == 0
    counts = json.loads(capsys.readouterr().out)
    assert set(counts) == set(MODELS)
    assert counts["batchnorm_unet"] == count_parameters(BatchNormUNet())
    assert cli.main(["params"]) == 0
    table = capsys.readouterr().out
    assert all(name in table for name in MODELS)


def test_optional_library_unet_explains_a_missing_package(monkeypatch):
    """diffusers_unet is not part of the zoo; without diffusers, building it says how to install it."""
    from tinydiff_lib.models import OPTIONAL_MODELS

    assert "diffusers_unet" in OPTIONAL_MODELS and "diffusers_unet" not in MODELS
    monkeypatch.setitem(sys.modules, "diffusers", None)  # makes `import diffusers` fail
    with pytest.raises(ImportError, match="pip install"):
        build_model("diffusers_unet")


def test_optional_library_unet_matches_the_course_configuration():
    pytest.importorskip("diffusers")
    model = build_model("diffusers_unet")
    assert count_parameters(model) == 1_707_009  # the course's MNIST UNet2DModel: about 1.7 M parameters
    x, t = torch.randn(2, 1, 28, 28), torch.tensor([0, 999])
    assert model(x, t).shape == (2, 1, 28, 28)
