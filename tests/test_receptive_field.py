"""Receptive fields measured by back-propagation against what the architecture implies."""

import pytest
import torch
from torch import nn

from tinydiff_lib import receptive_field
from tinydiff_lib.models import FiLMUNet, MiniUNet, MiniUNetV2, TinyConv, build_model
from tinydiff_lib.receptive_field import frozen_norm_statistics


class ConvStack(nn.Module):
    """k 3×3 convolutions (padding 1) with SiLU between: a receptive field of exactly (2k + 1)×(2k + 1)."""

    def __init__(self, k: int, channels: int = 4):
        super().__init__()
        widths = [1] + [channels] * (k - 1) + [1]
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 3, padding=1) for a, b in zip(widths[:-1], widths[1:]))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        for i, conv in enumerate(self.convs):
            x = conv(x) if i == 0 else conv(nn.functional.silu(x))
        return x


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_stack_of_k_convs_sees_2k_plus_1_pixels(k):
    torch.manual_seed(k)
    grad_map, extent = receptive_field(ConvStack(k))
    assert extent == (2 * k + 1, 2 * k + 1)
    assert grad_map.shape == (28, 28) and grad_map.dtype == torch.float64
    inside = torch.zeros(28, 28, dtype=torch.bool)
    inside[14 - k : 14 + k + 1, 14 - k : 14 + k + 1] = True
    assert (grad_map[inside] > 0).all()  # every pixel inside counts, however small
    assert (grad_map[~inside] == 0).all()  # and nothing outside does


def test_tiny_conv_sees_seven_by_seven():
    torch.manual_seed(0)
    _, extent = receptive_field(TinyConv())
    assert extent == (7, 7)  # three 3×3 convolutions


def test_group_norm_statistics_couple_every_pixel():
    """GroupNorm's mean and variance run over the whole feature map, so without freezing them every input
    pixel has a (small) influence on the centre output."""
    torch.manual_seed(0)
    grad_map, extent = receptive_field(TinyConv(), freeze_norm_statistics=False)
    assert extent == (28, 28)
    assert grad_map[0, 0] < 1e-2 * grad_map.max()  # the coupling is weak next to the local field


def test_frozen_statistics_leave_the_forward_values_unchanged():
    torch.manual_seed(0)
    model = MiniUNetV2().eval()
    x, t = torch.rand(2, 1, 28, 28) * 2 - 1, torch.tensor([10, 900])
    with torch.no_grad():
        expected = model(x, t)
        with frozen_norm_statistics(model):
            frozen = model(x, t)
        after = model(x, t)
    torch.testing.assert_close(frozen, expected, rtol=1e-5, atol=1e-5)
    assert torch.equal(after, expected)  # hooks removed on exit


def test_one_level_unet_sees_more_than_tiny_conv_and_two_levels_see_the_whole_image():
    torch.manual_seed(0)
    _, one_level = receptive_field(MiniUNet())
    _, two_levels = receptive_field(MiniUNetV2())
    assert 7 < one_level[0] < 28
    assert min(two_levels) >= 26  # (nearly) the whole 28×28 digit


@pytest.mark.parametrize("name", ["batchnorm_unet", "dilated_convnet"])
def test_appendix_models_see_the_whole_image(name):
    torch.manual_seed(0)
    _, extent = receptive_field(build_model(name))
    assert extent == (28, 28)


def test_film_unet_sees_the_whole_image_once_its_zero_output_layer_has_moved():
    torch.manual_seed(0)
    model = FiLMUNet(base_channels=8)
    grad_map, extent = receptive_field(model)
    assert extent == (0, 0) and grad_map.sum() == 0  # zero-initialised out_conv: ε̂ = 0 whatever x is
    with torch.no_grad():
        for p in model.parameters():
            if not p.any():
                p.normal_(0.0, 0.02)
    _, extent = receptive_field(model)
    assert extent == (28, 28)  # self-attention at 7×7 mixes all positions


def test_caller_model_is_left_untouched():
    model = TinyConv().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    receptive_field(model)
    assert model.training
    assert all(v.dtype == torch.float32 and torch.equal(v, before[k]) for k, v in model.state_dict().items())
