"""The report's plots stay readable: text contrasts with its cell, whole-number epochs,
log axes with more than two labels, labels clear of each other."""
import numpy as np
import pytest

from imsim.report._axes import contrast, readable_log_axis, text_color_on


def _figure():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure()
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def test_text_color_follows_the_background():
    assert text_color_on((1, 1, 1)) == "black" and text_color_on((0.4, 0, 0.05)) == "white"
    assert contrast((0, 0, 0), (1, 1, 1)) == pytest.approx(21)


def test_confusion_counts_contrast_with_their_cells():
    from matplotlib import colormaps
    from matplotlib.colors import to_rgb

    from imsim.report.classifier_plots import confusion_figure

    cm = np.diag([80, 120, 90, 85]) + np.array([[0, 0, 0, 20], [1, 0, 0, 0],
                                                [0, 9, 0, 2], [0, 0, 30, 0]])
    fig = confusion_figure(cm)
    fig.canvas.draw()
    ax = fig.axes[0]
    image = ax.get_images()[0]
    rgba = image.to_rgba(image.get_array())  # the cells' colours; masked (diagonal) -> 0 alpha
    for text in ax.texts:
        col, row = (int(round(v)) for v in text.get_position())
        r, g, b, a = rgba[row, col]
        background = (r, g, b) if a > 0 else (1.0, 1.0, 1.0)
        assert text.get_text() == str(cm[row, col])
        assert contrast(background, to_rgb(text.get_color())) >= 4.5, (row, col, text.get_color())
    # the darkest cell (row 3, 30 of 115 predicted 2) is the one that needs white text
    dark = next(t for t in ax.texts if t.get_position() == (2, 3))
    assert dark.get_color() == "white"
    assert colormaps["Reds"](1.0)[0] < 0.7


@pytest.mark.parametrize("lo, hi", [(0.0098, 0.069), (0.02, 0.031), (1e-3, 10.0), (0.5, 0.52)])
def test_log_axis_shows_more_than_two_labels(lo, hi):
    fig, ax = _figure()
    ax.plot([1, 2], [lo, hi])
    ax.set_yscale("log")
    ticks = readable_log_axis(ax, "y")
    fig.canvas.draw()
    ymin, ymax = ax.get_ylim()
    shown = [t.get_text() for t in ax.get_yticklabels()
             if t.get_text() and ymin <= t.get_position()[1] <= ymax]
    assert len(shown) >= 3 and len(ticks) >= 3, shown
    assert all("10^" not in s and "$" not in s for s in shown)  # plain numbers


def test_loss_plot_has_whole_epochs(tmp_path):
    from imsim.report import training_plots

    history = {"epochs": [{"epoch": e, "train_loss": 0.1 / e, "val_loss": 0.09 / e}
                          for e in (1, 2, 3)]}
    captured = {}
    save = training_plots._save
    training_plots._save = lambda fig, path: captured.setdefault("fig", fig) and save(fig, path)
    try:
        training_plots.plot_history(history, tmp_path / "loss.png")
    finally:
        training_plots._save = save
    ax = captured["fig"].axes[0]
    captured["fig"].canvas.draw()
    xmin, xmax = ax.get_xlim()
    ticks = [t for t in ax.get_xticks() if xmin <= t <= xmax]
    assert ticks and all(float(t).is_integer() for t in ticks), ticks
    assert (tmp_path / "loss.png").read_bytes()[:4] == b"\x89PNG"
