"""Plot helpers for the notebooks: each returns a matplotlib ``Figure`` (labelled image figures and the
trajectory animation are in :mod:`tinydiff_lib.figures`).

Figures are built with ``matplotlib.figure.Figure`` directly, not through ``pyplot``: nothing is shown
twice in a notebook (the returned figure is displayed once, as the cell's value) and nothing piles up in
pyplot's figure manager. matplotlib is imported inside the functions, so ``import tinydiff_lib`` stays fast
for the command line.

Figures are drawn at the size the book shows them: ``DPI`` = 100 and at most ``MAX_WIDTH`` inches wide (the
book's text column is about 690 CSS px), so they are shown 1:1 and 10 pt text is about 14 px on the page.
No function moves a tensor or schedule it was given (a CPU copy is made where one is needed).

Images follow the library's convention: (B, C, H, W) tensors in [-1, 1]. 2-D toy data is (N, 2).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from .diffusion import q_sample
from .schedule import NoiseSchedule

__all__ = ["show_images", "plot_schedules", "forward_grid", "plot_loss", "scatter_2d"]

DPI = 100
MAX_WIDTH = 6.8  # inches at DPI: the width of the book's text column


def _figure(figsize: tuple[float, float], dpi: int = DPI):
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, dpi=dpi, layout="constrained")


def _as_images(x: torch.Tensor) -> torch.Tensor:
    """(B, H, W) or (B, C, H, W) in [-1, 1] -> (B, C, H, W) float in [0, 1] on the CPU."""
    x = torch.as_tensor(x).detach().float().cpu()
    if x.ndim == 3:
        x = x.unsqueeze(1)  # (B, H, W) -> (B, 1, H, W)
    if x.ndim != 4:
        raise ValueError(f"expected images of shape (B, C, H, W) or (B, H, W), got {tuple(x.shape)}")
    return ((x + 1) / 2).clamp(0, 1)


def _grid(x: torch.Tensor, nrow: int, padding: int = 2) -> torch.Tensor:
    """A torchvision ``make_grid`` of images in [-1, 1]: (B, C, H, W) -> (H', W', 3) in [0, 1]."""
    from torchvision.utils import make_grid

    grid = make_grid(_as_images(x), nrow=nrow, padding=padding, pad_value=1.0)  # (3, H', W')
    return grid.permute(1, 2, 0)  # (H', W', 3)


def show_images(
    x: torch.Tensor,
    nrow: int = 8,
    title: str | None = None,
    scale: float = 0.7,
    dpi: int = DPI,
):
    """A grid of images ``x`` ((B, 1, H, W) or (B, H, W), values in [-1, 1]) with ``nrow`` images per row.

    Uses ``torchvision.utils.make_grid``; ``scale`` is inches per image, shrunk so that the figure is at most
    ``MAX_WIDTH`` wide. Returns a Figure with one axes.
    """
    x = torch.as_tensor(x)
    n = x.shape[0]
    ncol = min(nrow, n)
    nrows = -(-n // nrow)  # ceil
    scale = min(scale, MAX_WIDTH / ncol)
    fig = _figure((max(2.0, scale * ncol), scale * nrows + (0.3 if title else 0.0)), dpi)
    ax = fig.add_subplot()
    ax.imshow(_grid(x, nrow).numpy(), interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return fig


def _named(schedules) -> dict[str, NoiseSchedule]:
    if isinstance(schedules, NoiseSchedule):
        return {schedules.name: schedules}
    if isinstance(schedules, Mapping):
        return dict(schedules)
    return {s.name: s for s in schedules}


def plot_schedules(schedules: Mapping[str, NoiseSchedule] | Sequence[NoiseSchedule] | NoiseSchedule):
    """β_t, ᾱ_t and log SNR(t) = log(ᾱ_t / (1 − ᾱ_t)) against t for one or several schedules.

    ``schedules``: a NoiseSchedule, a list of them (labelled by ``.name``) or a dict label -> schedule.
    Returns a Figure with three axes (β_t, ᾱ_t, log SNR).
    """
    fig = _figure((MAX_WIDTH, 2.6))
    axes = fig.subplots(1, 3)
    for label, s in _named(schedules).items():
        t = torch.arange(s.num_steps)
        axes[0].plot(t, s.betas.cpu(), label=label)
        axes[1].plot(t, s.alpha_bar.cpu(), label=label)
        axes[2].plot(t, s.snr().double().log().cpu(), label=label)
    for ax, name in zip(axes, [r"$\beta_t$", r"$\bar\alpha_t$", r"$\log \mathrm{SNR}(t)$"]):
        ax.set_title(name)
        ax.set_xlabel("t")
        ax.grid(alpha=0.3)
    axes[0].set_yscale("log")
    axes[0].legend()
    return fig


def forward_grid(
    schedule: NoiseSchedule,
    x0: torch.Tensor,
    ts: Sequence[int],
    eps: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    title: str | None = None,
    scale: float = 0.9,
):
    """x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε (Ho et al. Eq. 4) for each image in ``x0`` (rows) and each t in ``ts`` (columns).

    The same ε is used in every column of a row, so the columns differ only in t. ``x0``: (B, 1, H, W) in
    [-1, 1]; ``eps`` like ``x0`` (drawn from ``generator`` when None). Returns a Figure with B × len(ts) axes.
    """
    x0 = torch.as_tensor(x0).detach().float().cpu()
    schedule = schedule.on("cpu")  # itself on the CPU, else a private CPU copy: the caller's stays put
    if eps is None:
        eps = torch.randn(x0.shape, generator=generator)
    eps = torch.as_tensor(eps).detach().float().cpu()
    ts = [int(t) for t in ts]
    scale = min(scale, MAX_WIDTH / len(ts))
    fig = _figure((scale * len(ts), scale * len(x0) + (0.5 if title else 0.3)))
    axes = fig.subplots(len(x0), len(ts), squeeze=False)
    for j, t in enumerate(ts):
        xt = q_sample(schedule, x0, torch.full((len(x0),), t, dtype=torch.long), eps)  # (B, 1, H, W)
        for i in range(len(x0)):
            ax = axes[i, j]
            ax.imshow(_as_images(xt[i : i + 1])[0, 0].numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(f"t={t}", fontsize=9)
    if title:
        fig.suptitle(title)
    return fig


def plot_loss(history: Mapping[str, Sequence[float]], smooth: int = 50, title: str = "training loss", log: bool = True):
    """The loss per step (``history["loss"]`` against ``history["step"]``) and its moving average over ``smooth``.

    Returns a Figure with one axes.
    """
    loss = torch.as_tensor(history["loss"], dtype=torch.float64)
    steps = torch.as_tensor(history.get("step", range(1, len(loss) + 1)), dtype=torch.float64)
    fig = _figure((6, 3.2))
    ax = fig.add_subplot()
    ax.plot(steps, loss, alpha=0.3, lw=0.8, label="per step")
    k = max(1, min(smooth, len(loss)))
    if k > 1:
        avg = torch.nn.functional.avg_pool1d(loss[None, None], k, stride=1)[0, 0]  # (N − k + 1,)
        ax.plot(steps[k - 1 :], avg, lw=1.8, label=f"mean of {k}")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def scatter_2d(
    points: torch.Tensor | Sequence[torch.Tensor],
    titles: str | Sequence[str] | None = None,
    lim: float = 3.0,
    size: float = 2.6,
    s: float = 1.5,
    alpha: float = 1.0,
):
    """Scatter plots of 2-D points: one panel for an (N, 2) tensor, or one panel per tensor in a list.

    Axes are square with limits ±``lim``; ``s`` and ``alpha`` set the marker area and opacity (opaque, small
    markers keep the PNG small). Returns a Figure with one axes per panel.
    """
    if isinstance(points, torch.Tensor) and points.ndim == 2:
        points = [points]
    if isinstance(titles, str):
        titles = [titles]
    size = min(size, MAX_WIDTH / len(points))
    fig = _figure((size * len(points), size + 0.2))
    axes = fig.subplots(1, len(points), squeeze=False)[0]
    for k, (ax, p) in enumerate(zip(axes, points)):
        p = torch.as_tensor(p).detach().float().cpu()
        if p.ndim != 2 or p.shape[1] != 2:
            raise ValueError(f"expected points of shape (N, 2), got {tuple(p.shape)}")
        ax.scatter(p[:, 0], p[:, 1], s=s, alpha=alpha, linewidths=0)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        if titles is not None and k < len(titles):
            ax.set_title(titles[k], fontsize=10)
    return fig
