"""Figures checked by what they draw: labels, titles, legends, numbers of lines and bars."""

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.patches import Rectangle

from maskstats import metrics, plot, tables
from maskstats.masks import random_masks


def _texts(fig) -> str:
    """Every text on the figure: titles, labels, legends, annotations."""
    found = [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]
    return "\n".join(t for t in found if t)


def _table5(seeds: int) -> pd.DataFrame:
    rows = ["untrained encoder", "MAE r=0.75", "flatten p2dist r=0.9"]
    return pd.DataFrame(
        {
            "linear probe": [0.90, 0.95, 0.96],
            "linear probe std": [0.0, 0.01 if seeds > 1 else 0.0, 0.02 if seeds > 1 else 0.0],
            "k-NN": [0.65, 0.74, 0.76],
            "k-NN std": [0.0, 0.01 if seeds > 1 else 0.0, 0.01 if seeds > 1 else 0.0],
            "seeds": [seeds] * 3,
        },
        index=pd.Index(rows, name="configuration"),
    )


def _bars(ax) -> list[Rectangle]:
    return [p for p in ax.patches if isinstance(p, Rectangle) and p.get_width() < 1]


@pytest.mark.parametrize("seeds", [1, 3])
def test_table5_bars(seeds):
    fig = plot.table5_bars(_table5(seeds))
    ax = fig.axes[0]
    assert len(_bars(ax)) == 6  # two bars per configuration
    # The legend sits outside the axes (a figure legend), naming both bars.
    assert ax.get_legend() is None and len(fig.legends) == 1
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["linear probe", "k-NN"]
    bottom = ax.get_ylim()[0]
    assert 0 < bottom <= 0.6 and f"starts at {bottom:.2f}, not 0" in ax.get_title(loc="left")
    error_bars = [c for c in ax.containers if getattr(c, "errorbar", None) is not None]
    if seeds == 1:
        assert "one seed" in ax.get_title(loc="left") and "1 seeds" not in _texts(fig)
        assert all(c.errorbar is None for c in ax.containers)
    else:
        assert "mean ± std over 3 seeds" in ax.get_title(loc="left")
        assert len(error_bars) == 2


def _outside(fig) -> list[str]:
    """The sides on which something drawn (a title, a label, a tick) runs past the figure's
    canvas, i.e. is cut off in the PNG: matplotlib's tight box of every drawn artist against
    the canvas."""
    fig.canvas.draw()
    box = fig.get_tightbbox(fig.canvas.get_renderer())  # inches
    width, height = fig.get_size_inches()
    sides = {"left": box.x0 < -0.01, "bottom": box.y0 < -0.01}
    sides.update({"right": box.x1 > width + 0.01, "top": box.y1 > height + 0.01})
    return [side for side, out in sides.items() if out]


def test_p2dist_distributions_are_cumulative_shares():
    rng = np.random.default_rng(0)
    values = {"random": {0.75: rng.random(500) * 2 + 0.1, 0.9: rng.random(500) * 3 + 0.1}}
    fig = plot.p2dist_distributions(values, img_size=224, patch_size=16, hard_threshold=1.0)
    ax = fig.axes[0]
    lines = [line for line in ax.get_lines() if line.get_label() in ("0.75", "0.9")]
    assert len(lines) == 2  # one line per ratio
    for line, sample in zip(lines, values["random"].values(), strict=True):
        x, y = line.get_xdata(), line.get_ydata()
        # Each line is the share of the sample below x (an oracle: numpy's mean).
        for k in (0, len(x) // 3, len(x) // 2, -1):
            assert y[k] == pytest.approx(np.mean(sample < x[k]))
        assert (np.diff(y) >= 0).all() and y[-1] == pytest.approx(1.0, abs=0.01)
        assert 0.5 in x and 1.0 in x  # the shares at the thresholds are exact points
    assert ax.get_xscale() == "log" and ax.get_ylim() == (0.0, 1.0)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["0.75", "0.9"]
    # The threshold labels sit above the axes (y in axes fraction >= 1): no line under them.
    labels = [t for t in ax.texts if "easy" in t.get_text() or "hard" in t.get_text()]
    assert len(labels) == 2 and all(t.xy[1] >= 1.0 for t in labels)
    title = fig._suptitle.get_text()
    assert "random masks" in title and "224 px image" in title and "16 px patches" in title
    assert _outside(fig) == []


def test_p2dist_distributions_one_panel_per_strategy_in_its_colour():
    rng = np.random.default_rng(1)
    values = {s: {0.75: rng.random(100) + 0.1} for s in ("random", "block", "simmim")}
    fig = plot.p2dist_distributions(values, img_size=64, patch_size=8)
    assert [ax.get_title() for ax in fig.axes] == ["random masks", "block masks", "simmim masks"]
    # Five strategies: two rows of three; each panel in shades of its strategy's colour
    # (darker = higher ratio), so a colour never means a ratio in one figure and a strategy
    # in another.
    values = {s: {0.5: rng.random(50) + 0.1, 0.75: rng.random(50) + 0.1} for s in "abcde"}
    values["e"] = {0.75: rng.random(50) + 0.1}
    fig = plot.p2dist_distributions(values)
    drawn = [ax for ax in fig.axes if ax.get_lines()]
    assert len(drawn) == 5 and len(fig.axes) == 6
    colours = plot.strategy_colours(list(values))
    for ax, name in zip(drawn, values, strict=True):
        ratio_lines = [line for line in ax.get_lines() if line.get_label() in ("0.5", "0.75")]
        top = matplotlib.colors.to_hex(ratio_lines[-1].get_color())
        assert top == colours[name].lower()  # the highest ratio in the strategy's own colour
        if len(ratio_lines) == 2:
            light = matplotlib.colors.to_rgb(ratio_lines[0].get_color())
            assert sum(light) > sum(matplotlib.colors.to_rgb(top))  # the lower ratio lighter
    assert _outside(fig) == []


def test_difficulty_vs_ratio_title_fits():
    rows = []
    for strategy in ("random", "block", "simmim", "grid", "multiblock"):
        for ratio in (0.5, 0.75, 0.9) if strategy != "multiblock" else (0.58,):
            for mask in range(4):
                rows.append(
                    {
                        "strategy": strategy,
                        "mask_ratio": ratio,
                        "mask": mask,
                        **{m: ratio + 0.1 * mask for m in plot.REGISTRY},
                    }
                )
    fig = plot.difficulty_vs_ratio(pd.DataFrame(rows))
    assert "Difficulty vs mask ratio" in fig._suptitle.get_text()
    assert _outside(fig) == []


def test_gallery_names_strategy_and_size():
    masks = random_masks(4, 8, 0.75, seed=0)
    values = metrics.p2dist(masks, patch_size=8)
    fig = plot.mask_gallery(
        np.random.default_rng(0).random((64, 64, 3)),
        masks,
        values,
        ["a", "b"],
        "p2dist",
        8,
        rows=["random", "block"],
        img_size=64,
    )
    image_axes = [ax for ax in fig.axes if ax.images]
    assert len(image_axes) == 4
    assert [ax.get_ylabel() for ax in image_axes[::2]] == ["random", "block"]
    assert _outside(fig) == []
    assert "64 px image" in fig._suptitle.get_text()
    assert "p2dist [patch] (harder ↑)" in _texts(fig)


def test_agreement_heatmap_is_one_panel_of_metric_pairs():
    masks = random_masks(16, 8, 0.75, seed=0)
    agreement = pd.concat(
        [
            tables.metric_agreement({0.75: masks, 0.9: random_masks(16, 8, 0.9, seed=1)}, 8).assign(
                strategy="random"
            ),
            tables.metric_agreement({0.6: masks}, 8).assign(strategy="grid"),
        ]
    )
    fig = plot.agreement_heatmap(agreement, img_size=64, patch_size=8)
    text = _texts(fig)
    assert "oriented: higher = harder" in text  # the colour bar says it; the caption explains
    assert "turned to higher = harder" not in text  # not a second caption inside the PNG
    assert fig._suptitle.get_text().endswith("64 px image, 8 px patches")
    heat = [ax for ax in fig.axes if ax.images]
    assert len(heat) == 1 and len(heat[0].texts) == 3 * 6  # 3 settings x 6 pairs, each printed
    rows = [t.get_text() for t in heat[0].get_yticklabels()]
    assert rows == ["random, ratio 0.75", "random, ratio 0.9", "grid, ratio 0.6"]
    matrix = plot.agreement_pairs(agreement)
    spearman = agreement[(agreement.method == "spearman") & (agreement.strategy == "grid")]
    expected = spearman[(spearman.metric_a == "density3") & (spearman.metric_b == "nearest")]
    assert matrix.loc[("grid", 0.6), "density3–nearest"] == expected["correlation"].item()
    # The colour bar is attached to the heatmap: as wide as it, just below it.
    fig.canvas.draw()
    bar = [ax for ax in fig.axes if not ax.images][0].get_position()
    panel = heat[0].get_position()
    assert abs(bar.width - panel.width) < 0.05 * panel.width and bar.y1 < panel.y0
    assert _outside(fig) == []
    # One strategy: its name joins the title, which still fits.
    one = agreement[agreement.strategy == "random"]
    fig = plot.agreement_heatmap(one, img_size=224, patch_size=16)
    assert "random masks, 224 px image, 16 px patches" in fig._suptitle.get_text()
    assert _outside(fig) == []


def test_loss_per_bin_shows_patch_shares():
    records = [
        {
            "metric": "p2dist",
            "epoch": epoch,
            "bin_centre": [0.125, 0.375, 0.625, None],
            "bin_loss": [1.0, 1.2, None, 2.0],
            "bin_share": [0.5, 0.3, 0.0, 0.2],
        }
        for epoch in (1, 2)
    ]
    fig = plot.loss_per_bin(records)
    loss_ax, share_ax = fig.axes
    assert len(loss_ax.lines) == 2  # one line per epoch
    assert [len(line.get_xdata()) for line in loss_ax.lines] == [3, 3]  # the empty bin skipped
    heights = [p.get_height() for p in share_ax.patches]
    assert heights == pytest.approx([50, 30, 0, 20])
    assert "% of masked patches" in share_ax.get_ylabel()
    assert [t.get_text() for t in loss_ax.get_xticklabels()][-1] == "> 0.62"


def test_achievable_range_plot_draws_the_range_and_each_strategy():
    from maskstats import plot

    range_table = pd.DataFrame({"mask_ratio": [0.5, 0.75], "low": [4.0, 6.0], "high": [60, 80]})
    sweep_table = pd.DataFrame(
        {
            "strategy": ["random"] * 4 + ["block"] * 4,
            "mask_ratio": [0.5, 0.5, 0.75, 0.75] * 2,
            "avgdist": [5.0, 6.0, 9.0, 11.0, 20.0, 24.0, 30.0, 36.0],
        }
    )
    fig = plot.achievable_range_plot(range_table, sweep_table)
    ax = fig.axes[0]
    labels = ax.get_legend_handles_labels()[1]
    assert labels == ["achievable", "random", "block", "SimMIM moderate"]
    random_line = next(line for line in ax.lines if line.get_label() == "random")
    np.testing.assert_allclose(random_line.get_ydata(), [5.5, 10.0])
    assert ax.get_yscale() == "log" and "AvgDist" in ax.get_ylabel()
    plt.close(fig)


def test_effective_difficulty_figure_draws_every_setting_and_the_band():
    from maskstats import sweeps

    masks = {r: random_masks(32, 8, r, seed=k) for k, r in enumerate((0.5, 0.75, 0.9))}
    table = sweeps.loss_difficulty_sweep(masks, 4, batch_size=16)
    fig = plot.effective_difficulty(table)
    left, right = fig.axes[:2]
    weighted = [s.name for s in sweeps.LOSS_SETTINGS if s.decoder_mask_ratio == 0]
    assert [line.get_label() for line in left.get_lines()] == weighted
    assert len(right.get_lines()) == 1 + len(sweeps.LOSS_SETTINGS) - len(weighted)
    plain = next(line for line in left.get_lines() if line.get_label() == "plain MAE")
    np.testing.assert_allclose(
        plain.get_ydata(), table[table["setting"] == "plain MAE"]["effective_avgdist"]
    )
    spans = [p for p in left.patches if p.get_label().startswith("SimMIM")]
    assert len(spans) == 1 and spans[0].get_y() == 10.0 and spans[0].get_height() == 10.0
    assert "effective AvgDist" in _texts(fig)
    plt.close(fig)


@pytest.mark.parametrize(("env", "expected"), [(None, "agg"), ("svg", "svg")])
def test_plot_keeps_a_chosen_backend(env, expected):
    """Without MPLBACKEND the figures go to files (Agg); a backend the user or a Jupyter kernel
    chose (ipykernel sets MPLBACKEND to its inline backend) is kept, so notebooks show them."""
    import os
    import subprocess
    import sys

    environ = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    if env is not None:
        environ["MPLBACKEND"] = env
    code = "import maskstats.plot, matplotlib; print(matplotlib.get_backend().lower())"
    result = subprocess.run(
        [sys.executable, "-c", code], env=environ, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == expected
