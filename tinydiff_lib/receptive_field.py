"""Which input pixels can one output pixel see? The receptive field measured by back-propagation.

The gradient ∂ε_θ(x, t)[centre] / ∂x is nonzero exactly at the input pixels the centre output depends on
(Luo et al. 2016, "effective receptive field"). A stack of k 3×3 convolutions sees (2k + 1)×(2k + 1) pixels;
TinyConv (three convs) sees 7×7, far less than a digit; the U-Nets see (nearly) all of 28×28.
"""

from __future__ import annotations

import contextlib
import copy

import torch
from torch import nn

__all__ = ["receptive_field", "frozen_norm_statistics"]


def _group_norm_with_constant_statistics(module: nn.GroupNorm, inputs: tuple[torch.Tensor], output: torch.Tensor):
    """Forward hook: the same GroupNorm output, but with mean and variance treated as constants for autograd."""
    x = inputs[0]
    b, c = x.shape[:2]
    xg = x.reshape(b, module.num_groups, -1)  # (B, G, C/G · H · W)
    mean = xg.mean(dim=-1, keepdim=True).detach()
    var = xg.var(dim=-1, unbiased=False, keepdim=True).detach()
    y = ((xg - mean) / torch.sqrt(var + module.eps)).reshape(x.shape)  # (B, C, H, W)
    if module.affine:
        shape = (1, c) + (1,) * (x.ndim - 2)
        y = y * module.weight.reshape(shape) + module.bias.reshape(shape)
    return y


def _cast_inputs_to_float64(module: nn.Module, inputs: tuple) -> tuple:
    """Forward pre-hook: float inputs become float64 (e.g. the float32 sinusoidal embedding entering TimeMLP)."""
    return tuple(x.double() if torch.is_tensor(x) and x.is_floating_point() else x for x in inputs)


@contextlib.contextmanager
def frozen_norm_statistics(model: nn.Module):
    """Within the block, every ``nn.GroupNorm`` of ``model`` passes no gradient through its mean and variance.

    The forward values are unchanged (up to rounding); only the gradient path through the statistics, which
    couples every pixel of a feature map to every other one, is cut. BatchNorm in ``eval()`` already uses
    fixed running statistics and needs nothing.
    """
    handles = [m.register_forward_hook(_group_norm_with_constant_statistics)
               for m in model.modules() if isinstance(m, nn.GroupNorm)]  # fmt: skip
    try:
        yield model
    finally:
        for handle in handles:
            handle.remove()


def receptive_field(
    model: nn.Module,
    size: int = 28,
    t: int = 500,
    in_channels: int = 1,
    freeze_norm_statistics: bool = True,
    seed: int = 0,
) -> tuple[torch.Tensor, tuple[int, int]]:
    """Gradient of the centre output pixel w.r.t. the input, and the extent of its nonzero part.

    Returns ``(grad_map, (height, width))``: ``grad_map`` is |∂ε_θ(x, t)[:, size//2, size//2] / ∂x| summed
    over channels, a float64 (size, size) tensor; (height, width) is the bounding box of its nonzero entries.

    How it is measured, and why each choice:

    * A copy of the model in ``eval()`` (dropout off, BatchNorm on running statistics), converted to float64;
      the caller's model is untouched. x is one N(0, I) image (seeded), like an x_t at large t: the
      gradient of a nonlinear network depends on x, and a random x makes an accidental zero (a dead ReLU
      everywhere along a path) vanishingly unlikely.
    * "Nonzero" means exactly nonzero. Outside the receptive field no computational path exists, so the
      gradient there is an exact 0.0 in any precision, while inside it a gradient can be tiny (a corner of
      the field is reached through one kernel tap per layer). Float64 keeps those tiny values far from
      underflow, so no threshold is needed and none is guessed.
    * ``freeze_norm_statistics`` (default True): GroupNorm's mean and variance are computed over the whole
      feature map, so strictly every output depends on every input through them; the gradient along that path
      is O(1 / (group size · H · W)) and would make every GroupNorm model "see" all 28×28 pixels. With the
      statistics held constant (:func:`frozen_norm_statistics`) the map shows what the convolutions and
      attention see, the receptive field the book talks about. Pass False to see the coupling itself.

    A freshly built FiLMUNet zero-initialises its output convolution, so its output ignores x and the map is
    all zeros (extent (0, 0)): measure it after some training.
    """
    net = copy.deepcopy(model).to(dtype=torch.float64).eval()
    for module in net.modules():  # layers holding weights get float64 inputs, whatever made them
        if any(True for _ in module.parameters(recurse=False)):
            module.register_forward_pre_hook(_cast_inputs_to_float64)
    device = next(net.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(1, in_channels, size, size, generator=generator, dtype=torch.float64).to(device)
    x.requires_grad_(True)
    t_batch = torch.full((1,), t, dtype=torch.long, device=device)
    with frozen_norm_statistics(net) if freeze_norm_statistics else contextlib.nullcontext():
        out = net(x, t_batch)  # (1, C, size, size)
    centre = size // 2
    (grad,) = torch.autograd.grad(out[0, :, centre, centre].sum(), x)
    grad_map = grad[0].abs().sum(dim=0).detach().cpu()  # (size, size)
    rows = torch.nonzero(grad_map.sum(dim=1)).flatten()
    cols = torch.nonzero(grad_map.sum(dim=0)).flatten()
    if len(rows) == 0:
        return grad_map, (0, 0)
    extent = (int(rows[-1] - rows[0]) + 1, int(cols[-1] - cols[0]) + 1)
    return grad_map, extent
