"""The figure helpers return figures (or HTML) with the expected axes, without a display."""

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import tinydiff_lib as td  # noqa: E402


@pytest.fixture
def images():
    return torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1  # in [-1, 1]


def test_plotting_names_are_public():
    for name in ["show_images", "plot_schedules", "forward_grid", "plot_loss", "scatter_2d"]:
        assert name in td.__all__


def test_show_images_grid_shape(images):
    fig = td.show_images(images, nrow=4, title="digits")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 1
    grid = fig.axes[0].get_images()[0].get_array()
    # make_grid with padding 2: 4 columns and 2 rows of 28-pixel images, a 2-pixel border around each
    assert grid.shape == (2 * (28 + 2) + 2, 4 * (28 + 2) + 2, 3)
    assert fig.axes[0].get_title() == "digits"


def test_show_images_maps_minus_one_to_black_and_one_to_white():
    x = torch.stack([-torch.ones(1, 4, 4), torch.ones(1, 4, 4)])  # (2, 1, 4, 4)
    grid = td.show_images(x, nrow=2).axes[0].get_images()[0].get_array()
    assert grid[2:6, 2:6].max() == 0.0  # first image: black
    assert grid[2:6, 8:12].min() == 1.0  # second image: white


def test_show_images_accepts_bhw_and_rejects_other_shapes(images):
    assert isinstance(td.show_images(images[:, 0]), Figure)
    with pytest.raises(ValueError):
        td.show_images(torch.zeros(28, 28))


def test_plot_schedules_three_axes_one_line_per_schedule():
    schedules = [td.NoiseSchedule(name=n, num_steps=50) for n in ("linear", "cosine", "sigmoid")]
    fig = td.plot_schedules(schedules)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3
    for ax in fig.axes:
        assert len(ax.get_lines()) == 3
    # the ᾱ panel plots exactly the schedule's ᾱ_t
    y = fig.axes[1].get_lines()[1].get_ydata()
    torch.testing.assert_close(torch.as_tensor(y), schedules[1].alpha_bar)
    assert isinstance(td.plot_schedules(schedules[0]), Figure)
    assert len(td.plot_schedules({"a": schedules[0]}).axes[0].get_lines()) == 1


def test_forward_grid_axes_and_content(images):
    schedule = td.NoiseSchedule(name="linear", num_steps=100)
    ts = [0, 10, 50, 99]
    eps = torch.randn_like(images[:3])
    fig = td.forward_grid(schedule, images[:3], ts, eps=eps, title="forward")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3 * len(ts)
    # the panel in row 1, column 2 shows q_sample at t = 50, mapped to [0, 1] and clamped
    shown = torch.as_tensor(fig.axes[1 * len(ts) + 2].get_images()[0].get_array())
    xt = td.q_sample(schedule, images[1:2], torch.tensor([50]), eps[1:2])
    torch.testing.assert_close(shown.float(), td.to_unit(xt)[0, 0])


def test_plot_loss():
    history = {"step": list(range(1, 201)), "loss": [1.0 / s for s in range(1, 201)]}
    fig = td.plot_loss(history, smooth=20)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 1
    assert len(fig.axes[0].get_lines()) == 2
    assert len(td.plot_loss({"loss": [1.0]}).axes[0].get_lines()) == 1


def test_scatter_2d_one_panel_per_tensor():
    p = torch.randn(100, 2)
    assert len(td.scatter_2d(p).axes) == 1
    fig = td.scatter_2d([p, p, p], titles=["a", "b", "c"])
    assert len(fig.axes) == 3
    assert [ax.get_title() for ax in fig.axes] == ["a", "b", "c"]
    with pytest.raises(ValueError):
        td.scatter_2d(torch.randn(10, 3))


def test_forward_grid_does_not_move_the_callers_schedule(images):
    schedule = td.NoiseSchedule(num_steps=100)
    calls = []
    inner = schedule._apply
    schedule._apply = lambda fn, *a, **k: calls.append(fn) or inner(fn, *a, **k)  # records .to / .cpu / ...
    td.forward_grid(schedule, images[:2], [0, 50])
    assert calls == [], "forward_grid converted the caller's schedule in place"


def test_figures_are_drawn_no_wider_than_the_books_column(images):
    """At 100 dpi and at most MAX_WIDTH inches, the book shows figures 1:1 (text keeps its size)."""
    from tinydiff_lib.plotting import DPI, MAX_WIDTH

    wide = torch.cat([images] * 4)  # 24 images
    schedule = td.NoiseSchedule(num_steps=100)
    figures = [
        td.show_images(wide, nrow=24),
        td.plot_schedules(schedule),
        td.forward_grid(schedule, images[:2], list(range(0, 100, 5))),
        td.scatter_2d([torch.randn(10, 2)] * 5),
        td.plot_loss({"loss": [1.0, 0.5]}),
    ]
    for fig in figures:
        assert fig.dpi == DPI and fig.get_figwidth() <= MAX_WIDTH + 1e-9
