"""The labelled image figures and the trajectory animation (tinydiff_lib.figures), without a display."""

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import tinydiff_lib as td  # noqa: E402
from tinydiff_lib.plotting import DPI, MAX_WIDTH  # noqa: E402


@pytest.fixture
def images():
    return torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1  # in [-1, 1]


def test_figure_names_are_public():
    for name in ["image_rows", "image_panels", "show_receptive_field", "animate_trajectory", "Trajectory"]:
        assert name in td.__all__


def test_image_rows_one_labelled_row_per_entry_aligned_on_one_grid(images):
    fig = td.image_rows({"six": images, "two": images[:2]}, title="rows")
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert [ax.get_ylabel() for ax in fig.axes] == ["six", "two"]
    short, full = (torch.as_tensor(ax.get_images()[0].get_array()) for ax in fig.axes[::-1])
    assert short.shape == full.shape == (28 + 4, 6 * (28 + 2) + 2, 3)  # the short row is padded to 6 columns
    assert short[2:30, 2 * 30 + 2 :].min() == 1.0  # ... with white
    torch.testing.assert_close(short[2:30, 2:30, 0].float(), td.to_unit(images[0, 0]))
    assert fig._suptitle.get_text() == "rows"


def test_image_rows_and_panels_fit_the_column(images):
    many = torch.cat([images] * 5)  # 30 images
    for fig in [td.image_rows({"a": many, "b": many}), td.image_panels({"a": many, "b": many, "c": many})]:
        assert fig.dpi == DPI and fig.get_figwidth() <= MAX_WIDTH + 1e-9


def test_image_panels_one_titled_grid_per_entry(images):
    fig = td.image_panels({"first": images, "second": images[:4]}, nrow=3)
    assert [ax.get_title() for ax in fig.axes] == ["first", "second"]
    grid = fig.axes[0].get_images()[0].get_array()
    assert grid.shape == (2 * 30 + 2, 3 * 30 + 2, 3)  # 6 images, 3 per row


def test_show_receptive_field_masks_exact_zeros_and_marks_the_centre():
    grad_map = torch.zeros(28, 28, dtype=torch.float64)
    grad_map[11:18, 11:18] = 10.0 ** -torch.arange(49, dtype=torch.float64).view(7, 7) / 10
    fig = Figure()
    ax = fig.add_subplot()
    image = td.show_receptive_field(ax, grad_map, torch.zeros(1, 28, 28), "field")
    shown = image.get_array()
    assert shown.mask.sum() == 28 * 28 - 49  # exact zeros: masked (drawn grey)
    torch.testing.assert_close(torch.as_tensor(shown.data[11:18, 11:18]), grad_map[11:18, 11:18].log10())
    assert ax.get_title() == "field"
    assert tuple(ax.get_lines()[0].get_xydata()[0]) == (14, 14)


def test_animate_trajectory_points_and_images(images):
    xs = torch.randn(30, 50, 2)  # (S, N, 2)
    html = td.animate_trajectory(xs, ts=list(range(29, -1, -1)), num_frames=5)
    assert isinstance(html, str) and "<script" in html
    assert html.count("data:image/png;base64") == 5  # one embedded frame per kept step
    html = td.animate_trajectory(images[None].repeat(3, 1, 1, 1, 1), nrow=3)  # (S, B, 1, 28, 28)
    assert html.count("data:image/png;base64") == 3
    with pytest.raises(ValueError):
        td.animate_trajectory(torch.randn(4, 5, 3))
    with pytest.raises(ValueError):
        td.animate_trajectory(xs, with_x0_pred=True)


def test_animate_trajectory_takes_a_trajectory_with_its_labels(images, monkeypatch):
    traj = td.Trajectory((2, 1, 0, -1), images[None].repeat(4, 1, 1, 1, 1), images[None].repeat(4, 1, 1, 1, 1))
    titles = []
    from matplotlib.axes import Axes

    original = Axes.set_title
    monkeypatch.setattr(Axes, "set_title", lambda ax, label, **kw: titles.append(label) or original(ax, label, **kw))
    html = td.animate_trajectory(traj, with_x0_pred=True, nrow=4)
    assert html.count("data:image/png;base64") == 4
    assert titles[-4:] == ["t = 2", "t = 1", "t = 0", "clean"]  # one label per frame, the last one clean
