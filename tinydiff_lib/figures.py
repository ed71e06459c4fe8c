"""Labelled image figures for the notebooks: rows and panels of digits, receptive-field maps, animations.

Like :mod:`tinydiff_lib.plotting`, every function builds a ``matplotlib.figure.Figure`` directly (no
``pyplot``) and returns it (the animation returns HTML). Figures are drawn at the size the book shows them:
``DPI`` = 100 and at most ``MAX_WIDTH`` inches wide, the width of the book's text column, so a figure is shown
1:1 and its text keeps the size it was given (10 pt ≈ 14 CSS px). Images are (B, C, H, W) in [-1, 1].
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from .plotting import DPI, MAX_WIDTH, _figure, _grid
from .samplers import Trajectory

__all__ = ["image_rows", "image_panels", "show_receptive_field", "animate_trajectory"]


def _padded(x: torch.Tensor, n: int) -> torch.Tensor:
    """(B, C, H, W) -> (n, C, H, W), missing images white (1.0) so that rows of different lengths line up."""
    x = torch.as_tensor(x).detach().float().cpu()
    if len(x) >= n:
        return x[:n]
    return torch.cat([x, torch.ones(n - len(x), *x.shape[1:])])  # (n, C, H, W)


def image_rows(
    rows: Mapping[str, torch.Tensor],
    title: str | None = None,
    scale: float = 0.55,
    width: float = MAX_WIDTH,
    label_width: float = 1.4,
    fontsize: float = 10,
):
    """One labelled row of images per entry of ``rows`` (label -> (B, 1, H, W) in [-1, 1]).

    Rows are left-aligned on a common grid of n = the longest row's B columns (shorter rows end in white).
    Each image is ``scale`` inches, shrunk so that the figure fits ``width`` inches including ``label_width``
    for the labels. Returns a Figure with one axes per row.
    """
    n = max(len(x) for x in rows.values())
    scale = min(scale, (width - label_width) / n)
    h, w = next(iter(rows.values())).shape[-2:]
    row_height = scale * (h + 4) / (w + 2) + 0.06  # one padded grid row, plus the gap between rows
    fig = _figure((label_width + scale * n, row_height * len(rows) + (0.35 if title else 0.05)))
    axes = fig.subplots(len(rows), 1, squeeze=False)[:, 0]
    for ax, (label, x) in zip(axes, rows.items()):
        ax.imshow(_grid(_padded(x, n), nrow=n).numpy(), interpolation="nearest")  # (H', W', 3)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_frame_on(False)
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=fontsize)
    if title:
        fig.suptitle(title, fontsize=fontsize + 1)
    return fig


def image_panels(
    panels: Mapping[str, torch.Tensor],
    nrow: int = 8,
    scale: float = 0.4,
    width: float = MAX_WIDTH,
    fontsize: float = 10,
):
    """Grids side by side, one per entry of ``panels`` (title -> (B, 1, H, W) in [-1, 1]), ``nrow`` per row.

    ``scale`` inches per image, shrunk so that all panels fit ``width`` inches. Returns a Figure with one
    axes per panel.
    """
    k = len(panels)
    scale = min(scale, (width - 0.2 * k) / (k * nrow))
    rows = max(-(-len(x) // nrow) for x in panels.values())  # ceil
    fig = _figure((k * (scale * nrow + 0.2), scale * rows + 0.45))
    for ax, (title, x) in zip(fig.subplots(1, k, squeeze=False)[0], panels.items()):
        ax.imshow(_grid(x, nrow).numpy(), interpolation="nearest")  # (H', W', 3)
        ax.set_title(title, fontsize=fontsize)
        ax.set_axis_off()
    return fig


def show_receptive_field(ax, grad_map: torch.Tensor, digit: torch.Tensor, title: str, fontsize: float = 10):
    """Draw a receptive-field map on ``ax``: log10 |∂ε_θ[centre] / ∂x| per input pixel, exact zeros in grey.

    ``grad_map``: (H, W), e.g. from :func:`tinydiff_lib.receptive_field`; ``digit``: (1, H, W) or (H, W) in
    [-1, 1], whose outline (cyan) is drawn for scale; a green + marks the centre output pixel. Returns the
    image artist (for a colorbar).
    """
    import matplotlib
    import numpy as np

    grad_map = torch.as_tensor(grad_map).detach().double().cpu()
    cmap = matplotlib.colormaps["magma"].with_extremes(bad="0.85")
    image = ax.imshow(np.ma.log10(np.ma.masked_equal(grad_map.numpy(), 0.0)), cmap=cmap, interpolation="nearest")
    ax.contour(torch.as_tensor(digit).float().cpu().squeeze().numpy(), levels=[0.0], colors="cyan", linewidths=1.0)
    h, w = grad_map.shape
    ax.plot(w // 2, h // 2, "+", color="lime", ms=10, mew=2)  # the output pixel whose gradient this is
    ax.set_title(title, fontsize=fontsize)
    ax.set_xticks([])
    ax.set_yticks([])
    return image


def animate_trajectory(
    xs: Trajectory | torch.Tensor,
    ts: Sequence | None = None,
    num_frames: int = 40,
    interval: int = 100,
    lim: float = 3.0,
    nrow: int = 8,
    count: int | None = None,
    with_x0_pred: bool = False,
    size: float = 3.0,
    width: float = MAX_WIDTH,
    dpi: int = DPI,
) -> str:
    """An HTML animation (``FuncAnimation(...).to_jshtml()``) of a sampling trajectory; plays with no kernel.

    ``xs``: a :class:`~tinydiff_lib.samplers.Trajectory` (frames ``xs.xt``, captions from its labels), or a
    stack of (S, N, 2) points or (S, B, C, H, W) images in [-1, 1], frame 0 first, with ``ts`` a caption
    per frame (optional). ``count`` keeps the first images/points of each frame (images: ``nrow`` by
    default). ``with_x0_pred`` (a Trajectory of images): x_t on the top row, the x̂_0 predicted from it below.
    At most ``num_frames`` evenly spaced frames are kept (always the first and the last). Points are drawn
    in a square of ``size`` inches, images ``width`` inches wide, at ``dpi``. Returns the HTML string;
    show it with ``IPython.display.HTML``.
    """
    from matplotlib.animation import FuncAnimation

    if isinstance(xs, Trajectory):
        traj, ts = xs, xs.labels()
        xs = traj.xt
        if with_x0_pred:
            n = count or nrow
            xs = torch.cat([traj.xt[:, :n], traj.x0_pred[:, :n]], dim=1)  # (S, 2n, C, H, W): x_t, then x̂_0
            count, nrow = 2 * n, n
    elif with_x0_pred:
        raise ValueError("with_x0_pred needs a Trajectory")
    xs = torch.as_tensor(xs).detach().float().cpu()
    if xs.ndim not in (3, 5) or (xs.ndim == 3 and xs.shape[-1] != 2):
        raise ValueError(f"expected (S, N, 2) points or (S, B, C, H, W) images, got {tuple(xs.shape)}")
    if count is None and xs.ndim == 5:
        count = nrow
    if count is not None:
        xs = xs[:, :count]
    keep = torch.linspace(0, len(xs) - 1, min(num_frames, len(xs))).round().long().unique().tolist()
    labels = [f"frame {i}" if ts is None else str(ts[i]) for i in keep]
    if xs.ndim == 3:
        fig = _figure((size, size + 0.3), dpi)
    else:
        h, w = _grid(xs[0], nrow).shape[:2]
        fig = _figure((width, width * h / w + 0.35), dpi)  # the grid's aspect ratio: no blank margins
    ax = fig.add_subplot()
    ax.set_xticks([])
    ax.set_yticks([])
    if xs.ndim == 3:
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        artist = ax.scatter(xs[keep[0], :, 0], xs[keep[0], :, 1], s=1.5, linewidths=0)

        def draw(k):
            artist.set_offsets(xs[keep[k]].numpy())
            ax.set_title(labels[k], fontsize=10)
            return (artist,)
    else:
        ax.set_frame_on(False)
        artist = ax.imshow(_grid(xs[keep[0]], nrow).numpy(), interpolation="nearest")

        def draw(k):
            artist.set_data(_grid(xs[keep[k]], nrow).numpy())
            ax.set_title(labels[k], fontsize=10)
            return (artist,)

    draw(0)
    anim = FuncAnimation(fig, draw, frames=len(keep), interval=interval, blit=False)
    html = anim.to_jshtml(default_mode="once")
    fig.clear()
    # matplotlib's controls sit in a <form action="#n">: a link to an anchor that does not exist (link checkers
    # flag it); the form is never submitted, so drop the action
    return html.replace(' action="#n"', "")
