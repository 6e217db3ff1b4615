import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from maskstats.io import to_markdown
from maskstats.mae import table5
from maskstats.mae.config import Table5Settings
from maskstats.mae.table5 import (
    SHOWN_COLUMNS,
    Row,
    best_flatten_metric,
    display_table,
    row_config,
    run_one,
    run_table5,
    summarize,
)


@pytest.mark.slow
def test_table5_micro_writes_every_row_and_skips_finished(tmp_path):
    settings = _micro_settings(tmp_path, eval_max_images=200, gallery_images=2)
    lines = []
    tables = run_table5(settings, echo=lines.append)
    table = tables["table"]
    # untrained, MAE at two ratios, flatten per metric, histogram, one more alpha, one q
    assert len(table) == 1 + 2 + 4 + 1 + 1 + 1
    assert table.index[0] == "untrained encoder" and "dec=0.2" in table.index[-1]
    assert "histogram p2dist r=0.9" in table.index
    assert any(name.endswith("alpha=1") for name in table.index)
    assert table.loc["MAE r=0.75", "step-time ratio"] == pytest.approx(1.0)
    # What each row's loss trained on: plain MAE's weights are all 1, flatten's favour the
    # easy targets, and the untrained row has none.
    plain, flat = table.loc["MAE r=0.9"], table.loc["flatten p2dist r=0.9"]
    assert plain["ESS share"] == pytest.approx(1.0)
    assert plain["effective AvgDist px"] == pytest.approx(plain["target AvgDist px"])
    assert flat["effective AvgDist px"] < flat["target AvgDist px"] and flat["ESS share"] < 1
    assert np.isnan(table.loc["untrained encoder", "effective AvgDist px"])
    for name in (
        "table5.csv",
        "table5.md",
        "table5.tex",
        "table5.png",
        "spearman_by_metric.md",
        "separation.md",
    ):
        assert (tmp_path / name).stat().st_size > 100
    assert not any("] skip " in line for line in lines)
    # Each run says where the comparison is: "run i of n", and from the second on the time left.
    started = [line for line in lines if "] run " in line]
    assert started[0].startswith(f"[run 1 of {len(table)}] run untrained encoder")
    assert started[-1].startswith(f"[run {len(table)} of {len(table)}, about ")
    assert " left at " in started[-1]
    # One gallery per row, on the same evaluation images; masks shared by rows of one ratio.
    _check_row_galleries(tmp_path, table.index, settings)
    again = []
    run_table5(settings, echo=again.append)
    assert sum("] skip " in line for line in again) == len(table)
    assert not any("] run " in line or line.startswith("gallery ") for line in again)  # kept


def _check_row_galleries(out, names, settings):
    from maskstats.report.gallery import load_arrays

    galleries = {name: out / Row(name, 0).slug / "gallery" for name in names}
    loaded = {name: load_arrays(g / "reconstructions.npz")[0] for name, g in galleries.items()}
    first = loaded["MAE r=0.9"]
    for name, rec in loaded.items():
        assert len(rec) == 2
        np.testing.assert_array_equal(rec.original, first.original)
        if f"r={settings.mask_ratio:g}" in name or name == "untrained encoder":
            np.testing.assert_array_equal(rec.mask, first.mask)
    assert loaded["MAE r=0.75"].mask.sum() < first.mask.sum()
    dec = next(name for name in names if "dec=0.2" in name)
    assert loaded[dec].dropped.any() and not first.dropped.any()
    md = (out / "gallery.md").read_text()
    assert all(f"{Row(name, 0).slug}/gallery/index.html" in md for name in names)
    assert "gallery.md" in (out / "table5.md").read_text()
    assert (out / "gallery" / "compare_001.png").is_file()


def test_row_config_carries_every_row_setting(tmp_path):
    row = Row("held", 0.9, "p2dist", "flatten", 0.2, strategy="difficulty", target_avgdist=5.0)
    settings = Table5Settings(max_steps=7, batch_size=8, img_size=64, patch_size=8, num_workers=2)
    config = row_config(settings, row, 3, tmp_path)
    assert (config.img_size, config.patch_size, config.num_workers) == (64, 8, 2)
    assert (config.mask_ratio, config.metric, config.weighting) == (0.9, "p2dist", "flatten")
    assert (config.decoder_mask_ratio, config.strategy, config.target_avgdist) == (
        0.2,
        "difficulty",
        5.0,
    )
    assert (config.seed, config.max_steps, config.batch_size) == (3, 7, 8)
    assert config.out == str(tmp_path)


REPO = Path(__file__).resolve().parents[2]


def _micro_settings(tmp_path, **overrides):
    base = dict(
        max_steps=2,
        batch_size=8,
        dataset_length=16,
        seeds=(0,),
        out=str(tmp_path),
        progress=False,
        eval_max_images=120,
        decoder_ratios=(0.2,),
        alphas=(1.0,),
        gallery_images=0,
    )
    base.update(overrides)
    return Table5Settings(**base)


def test_row_killed_during_evaluation_resumes_and_keeps_its_timings(tmp_path, monkeypatch):
    """A kill during evaluation (here: KeyboardInterrupt raised by evaluate) leaves a trained
    checkpoint and no eval.json; the rerun evaluates that checkpoint again without training,
    keeps the original step time and loss, and the table is written."""
    settings = _micro_settings(tmp_path)
    row = Row("MAE r=0.75", 0.75)
    real_evaluate = table5.evaluate

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(table5, "evaluate", killed)
    with pytest.raises(KeyboardInterrupt):
        run_one(settings, row, 0, echo=lambda line: None)
    folder = tmp_path / row.slug / "seed0"
    assert (folder / "checkpoint.pt").exists() and not (folder / "eval.json").exists()
    first = json.loads((folder / "summary.json").read_text())
    monkeypatch.setattr(table5, "evaluate", real_evaluate)
    lines = []
    result = run_one(settings, row, 0, echo=lines.append)
    assert lines == [f"resume {row.name} seed 0 -> {folder}"]
    assert result["train"]["step"] == 2
    assert result["train"]["step_ms"] == pytest.approx(first["step_ms"]) and first["step_ms"] > 0
    assert result["train"]["loss"] == pytest.approx(first["loss"])
    assert not list(folder.glob("*.tmp")) and not list(folder.glob(".*.tmp"))
    assert not (folder / "eval.partial.json").exists()
    tables = summarize([result], [row], settings)
    assert tables["table"].loc[row.name, "step-time ratio"] == pytest.approx(1.0)


def test_step_time_ratio_is_nan_not_a_crash_for_zero_timings():
    settings = Table5Settings()
    rows = [Row("MAE r=0.75", 0.75), Row("MAE r=0.9", 0.9)]
    difficulty = {name: {"spearman_pooled": 0.1} for name in ("density3", "invdist5")}
    difficulty.update({name: {"spearman_pooled": 0.1} for name in ("nearest", "p2dist")})
    difficulty["mean_patch_loss"] = 1.0
    base = dict(linear_probe_mean=0.5, linear_probe_cls=0.5, knn_mean=0.5)
    results = [
        dict(
            base,
            row=r.name,
            seed=0,
            train={"step_ms": 0.0, "wall_s": 1.0},
            real_difficulty=difficulty,
        )
        for r in rows
    ]
    table = summarize(results, rows, settings)["table"]
    assert np.isnan(table["step-time ratio"]).all()


def test_decoder_masking_metric_is_chosen_by_knn_not_the_probe():
    rows = [Row(f"flatten {m} r=0.9", 0.9, m, "flatten") for m in ("density3", "p2dist")]
    results = [
        {"row": rows[0].name, "linear_probe_mean": 0.90, "knn_mean": 0.60},
        {"row": rows[1].name, "linear_probe_mean": 0.80, "knn_mean": 0.70},
    ]
    assert best_flatten_metric(results, rows) == "p2dist"


def test_table5_killed_by_sigkill_during_evaluation_resumes(tmp_path):
    """A real subprocess killed (SIGKILL) right after a row's training, during its evaluation."""
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    flags = ["--max-steps", "2", "--batch-size", "8", "--dataset-length", "16", "--seeds", "0"]
    process = subprocess.Popen(
        [sys.executable, "-m", "maskstats.cli.main", "table5", *flags, "--out", str(tmp_path)]
        + ["--eval-max-images", "120"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    folder = tmp_path / "MAE_r0.75" / "seed0"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not (folder / "summary.json").exists():
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert (folder / "summary.json").exists() and not (folder / "eval.json").exists()
    first = json.loads((folder / "summary.json").read_text())
    settings = _micro_settings(tmp_path)
    result = run_one(settings, Row("MAE r=0.75", 0.75), 0, echo=lambda line: None)
    assert result["train"]["step"] == 2 and np.isfinite(result["train"]["loss"])
    assert result["train"]["step_ms"] == pytest.approx(first["step_ms"])
    assert (folder / "eval.json").exists()


def test_separation_by_hand():
    """Three rows, two seeds each, values 0.01 either side of row means 0.81, 0.71 and 0.61:
    pooled seed variance 6e-4 / 3 dof = 2e-4; between rows 0.04 / 2 dof = 0.02, so F = 100 over
    all rows; without the untrained row F = (2 * 2 * 0.05**2 / 1) / 2e-4 = 50. A row with one
    seed is left out of the comparison."""
    rows = [
        Row("untrained encoder", 0.9, trained=False),
        Row("A", 0.75),
        Row("B", 0.9),
        Row("single", 0.9),
    ]
    means = {"untrained encoder": 0.61, "A": 0.81, "B": 0.71}
    results = [
        {"row": name, "linear_probe_mean": mean + sign * 0.01, "knn_mean": mean + sign * 0.01}
        for name, mean in means.items()
        for sign in (-1, 1)
    ]
    results.append({"row": "single", "linear_probe_mean": 0.99, "knn_mean": 0.99})
    table = table5.separation(results, rows).set_index(["column", "compared"])
    every = table.loc[("linear probe", "all rows")]
    assert every["rows"] == 3 and every["seeds per row"] == 2
    assert every["F"] == pytest.approx(100.0)
    assert every["p"] == pytest.approx(float(table5.stats.f.sf(100.0, 2, 3)))
    assert every["seed std"] == pytest.approx(np.sqrt(2e-4))
    assert every["spread"] == pytest.approx(0.2)
    assert every["spread / seed std"] == pytest.approx(0.2 / np.sqrt(2e-4))
    assert (every["best"], every["worst"]) == ("A", "untrained encoder")
    pretrained = table.loc[("k-NN", "pretrained rows")]
    assert pretrained["rows"] == 2 and pretrained["F"] == pytest.approx(50.0)
    assert (pretrained["best"], pretrained["worst"]) == ("A", "B")
    shown = table5.display_separation(table5.separation(results, rows))
    assert shown["p"].iloc[0] == f"{table5.stats.f.sf(100.0, 2, 3):.2g}" != "0.000"


def test_separation_is_blank_without_two_seeded_rows():
    rows = [Row("A", 0.75), Row("B", 0.9)]
    results = [{"row": "A", "linear_probe_mean": 0.8, "knn_mean": 0.7}]
    table = table5.separation(results, rows)
    assert (table["rows"] <= 1).all() and table["F"].isna().all() and (table["best"] == "").all()


def test_table5_display_blanks_and_single_seed():
    record = {"metric": "p2dist", "seeds": 1}
    for key in SHOWN_COLUMNS:
        record[key], record[f"{key} std"] = 0.5, 0.0
    untrained = dict(record, **{"pretrain wall s": 0.0, "step-time ratio": float("nan")})
    untrained["step-time ratio std"] = float("nan")
    three = dict(record, seeds=3, **{"k-NN std": 0.25})
    table = pd.DataFrame(
        [untrained, record, three],
        index=pd.Index(["untrained encoder", "MAE r=0.75", "MAE r=0.9"], name="configuration"),
    )
    shown = display_table(table)
    assert shown.loc["MAE r=0.75", "k-NN"] == "0.500"  # one seed: the mean alone
    assert shown.loc["MAE r=0.9", "k-NN"] == "0.500 ± 0.250"
    assert shown.loc["untrained encoder", "step-time ratio"] == ""
    assert shown.loc["untrained encoder", "pretrain wall s"] == ""
    text = to_markdown(shown.iloc[:2])
    assert "nan ±" not in text and "± 0.000" not in text


def test_rerun_with_other_settings_is_refused_before_any_work(tmp_path):
    """A finished folder resumed with another blr would mix rows trained two ways in one
    table: refused with one line naming the setting; seeds, the folder and the progress bar may
    change; fields a folder from an older version lacks count as their defaults."""
    settings = _micro_settings(tmp_path)
    (tmp_path / "settings.json").write_text(json.dumps(dataclasses.asdict(settings)))
    with pytest.raises(ValueError, match=r"blr 0.00015 there, 0.5 now"):
        table5.check_same_settings(dataclasses.replace(settings, blr=0.5), tmp_path)
    table5.check_same_settings(dataclasses.replace(settings, seeds=(0, 1), progress=True), tmp_path)
    saved = dataclasses.asdict(settings)
    del saved["eval_seed"]
    (tmp_path / "settings.json").write_text(json.dumps(saved))
    table5.check_same_settings(settings, tmp_path)
    with pytest.raises(ValueError, match="eval_seed 0 there, 4 now"):
        table5.check_same_settings(dataclasses.replace(settings, eval_seed=4), tmp_path)
    for text in ("[1, 2]", "{not json"):
        (tmp_path / "other").mkdir(exist_ok=True)
        (tmp_path / "other" / "settings.json").write_text(text)
        with pytest.raises(ValueError, match="not a table5 settings file"):
            table5.check_same_settings(settings, tmp_path / "other")
    before = (tmp_path / "settings.json").read_text()
    with pytest.raises(ValueError, match="other settings"):
        run_table5(dataclasses.replace(settings, blr=0.5), echo=lambda line: None)
    assert (tmp_path / "settings.json").read_text() == before


def test_missing_data_is_refused_before_any_output(tmp_path):
    from maskstats.mae.data import DataError

    lines = []
    out = tmp_path / "t5"
    for field in ("data", "eval_data"):
        settings = _micro_settings(out, **{field: f"fashion-mnist:{tmp_path / 'none'}"})
        with pytest.raises(DataError, match="does not exist"):
            run_table5(settings, echo=lines.append)
    assert lines == [] and not out.exists()


def test_quick_preset_caps_the_evaluation():
    assert Table5Settings().quick().eval_max_images == 2000
    assert Table5Settings(eval_max_images=500).quick().eval_max_images == 500
    quick = Table5Settings(seeds=(0, 1, 2)).quick()
    assert (quick.max_steps, quick.seeds) == (60, (0,))


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"blr": 5.0}, "blr must be in"),  # item 8
        ({"seeds": (0, 0)}, "seed 0 is repeated"),  # item 9
        ({"baseline_ratio": 0.0}, "mask ratio above 0"),  # item 27
        ({"eval_max_images": 1}, "--eval-max-images"),  # item 22
        ({"num_workers": -1}, "num_workers"),
        ({"blr": 0.9, "batch_size": 512}, "lr = 1.8"),
    ],
)
def test_table5_checks_every_row_before_writing_anything(tmp_path, monkeypatch, overrides, words):
    """Issue 27, items 8, 9, 22 and 27: refused in one line before any row is trained or
    evaluated and before settings.json exists, so the corrected command is not refused as
    "other settings"."""
    out = tmp_path / "t5"
    monkeypatch.setattr(table5, "Trainer", None)  # a row that started would fail differently
    with pytest.raises(ValueError) as error:
        run_table5(_micro_settings(out, **overrides), echo=lambda line: None)
    assert words in str(error.value) and len(str(error.value).splitlines()) == 1, error.value
    assert not out.exists()


def test_table5_cli_refuses_repeated_seeds(tmp_path, capsys):
    from maskstats.cli import main

    assert main(["table5", "--seeds", "0,0", "--out", str(tmp_path / "t5")]) == 2
    err = capsys.readouterr().err.strip()
    assert "distinct seeds" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "t5").exists()


def test_run_counter_says_where_the_comparison_is_and_how_long_is_left():
    counter = table5.RunCounter(4)
    assert counter.start() == "run 1 of 4"  # nothing timed yet: no estimate
    counter.finish(trained=False)  # a finished run reused: not timed
    assert counter.timed == []
    assert counter.start() == "run 2 of 4"
    counter.finish(trained=True)
    counter.timed = [50.0]  # the run took 50 s
    assert counter.start() == "run 3 of 4, about 2 min left at 50 s a run"  # this and one more
    counter.timed = [50.0, 3600.0, 70.0]  # the median, not a slow outlier
    assert counter.start() == "run 4 of 4, about 70 s left at 70 s a run"


def test_a_table5_run_stopped_by_a_signal_says_to_rerun_table5(tmp_path, monkeypatch, capsys):
    import signal as signals

    class Stopped(table5.Trainer):
        def __init__(self, config):
            super().__init__(config)
            self._signal = signals.SIGTERM  # as if SIGTERM came during the first step

    monkeypatch.setattr(table5, "Trainer", Stopped)
    with pytest.raises(SystemExit) as stopped:
        run_one(_micro_settings(tmp_path), Row("MAE r=0.75", 0.75), 0, echo=lambda line: None)
    assert stopped.value.code == 143
    err = capsys.readouterr().err
    assert "checkpoint saved; continue with rerun the same maskstats table5 command" in err
    assert "--resume" not in err


def test_table5_markdown_says_what_the_step_time_ratio_is(tmp_path):
    settings = Table5Settings()
    rows = [Row("MAE r=0.75", 0.75), Row("MAE r=0.9", 0.9)]
    results = [
        {
            "row": row.name,
            "seed": 0,
            "linear_probe_mean": 0.9,
            "linear_probe_cls": 0.9,
            "knn_mean": 0.8,
            "real_difficulty": {
                "mean_patch_loss": 1.0,
                **{
                    m: {"spearman_pooled": 0.1}
                    for m in ("density3", "invdist5", "nearest", "p2dist")
                },
            },
            "train": {"wall_s": 10.0, "step_ms": step_ms},
        }
        for row, step_ms in zip(rows, (100.0, 70.0), strict=True)
    ]
    table5.write_tables(summarize(results, rows, settings), tmp_path)
    text = (tmp_path / "table5.md").read_text()
    assert "step-time ratio" in text.splitlines()[0]
    assert "analysis/step_time.py" in text and "one after another" in text


@pytest.mark.slow
def test_mae_sampling_preset_runs_maes_four_samplings_and_resumes(tmp_path):
    """``rows="mae-sampling"``: the untrained encoder and MAE's Table 1(f) rows, each trained
    with its own strategy and ratio, the step-time ratio against random 0.75, the training
    loss of the last interval; a rerun skips every finished row."""
    from maskstats.literature import MAE_SAMPLING_ABLATION
    from maskstats.mae.runlog import read_metrics

    settings = _micro_settings(tmp_path, rows="mae-sampling", seeds=(0, 1), gallery_images=2)
    first = []
    tables = run_table5(settings, echo=first.append)
    table = tables["table"]
    expected = ["untrained encoder"] + [
        f"{r.strategy} r={r.mask_ratio:g}" for r in MAE_SAMPLING_ABLATION
    ]
    assert list(table.index) == expected
    assert table.loc["random r=0.75", "step-time ratio"] == pytest.approx(1.0)
    assert np.isnan(table.loc["untrained encoder", "train loss"])
    for name, row in zip(expected[1:], MAE_SAMPLING_ABLATION, strict=True):
        folder = tmp_path / name.replace(" ", "_").replace("=", "") / "seed1"
        saved = json.loads((folder / "eval.json").read_text())
        assert saved["config"]["strategy"] == row.strategy
        assert saved["config"]["mask_ratio"] == row.mask_ratio
        intervals = [r for r in read_metrics(folder) if r["kind"] == "interval"]
        assert saved["train"]["last_interval_loss"] == pytest.approx(intervals[-1]["loss"])
        assert table.loc[name, "seeds"] == 2
    # What each row trained on: its own masks. Grid 0.75 is the easiest mask of its ratio and
    # block 0.75 the blockiest, so their targets' AvgDist brackets random 0.75's.
    target = table["target AvgDist px"]
    assert target["grid r=0.75"] < target["random r=0.75"] < target["block r=0.75"]
    assert set(tables["separation"]["rows"]) == {5, 4}
    # The run counter and the row galleries, as for the Tab.5 rows; each row's gallery shows
    # its own masks (block and grid rows are not shown random masks).
    started = [line for line in first if "] run " in line]
    assert started[0].startswith(f"[run 1 of {2 * len(expected)}] run untrained encoder")
    assert started[-1].startswith(f"[run {2 * len(expected)} of {2 * len(expected)}, about ")
    _check_sampling_galleries(tmp_path, expected)
    lines = []
    run_table5(settings, echo=lines.append)
    assert sum("] skip " in line for line in lines) == 2 * len(expected)
    assert not any(line.startswith("gallery ") for line in lines)  # kept


def _check_sampling_galleries(out, names):
    from maskstats.report.gallery import load_arrays, read_gallery_manifest

    masks = {}
    for name in names:
        gallery = out / Row(name, 0).slug / "gallery"
        shown = read_gallery_manifest(gallery)["shown"]
        assert shown["strategy"] == ("random" if name == "untrained encoder" else name.split()[0])
        masks[name] = load_arrays(gallery / "reconstructions.npz")[0].mask
    np.testing.assert_array_equal(masks["untrained encoder"], masks["random r=0.75"])
    for name in ("block r=0.75", "grid r=0.75"):
        assert masks[name].sum() == masks["random r=0.75"].sum()  # one ratio, other masks
        assert (masks[name] != masks["random r=0.75"]).any()
    md = (out / "gallery.md").read_text()
    assert all(f"{Row(name, 0).slug}/gallery/index.html" in md for name in names)
    assert "gallery.md" in (out / "table5.md").read_text()


def test_mae_sampling_rows_follow_the_published_table():
    from maskstats.literature import MAE_SAMPLING_ABLATION
    from maskstats.mae.table5 import baseline_row, mae_sampling_rows

    settings = Table5Settings(rows="mae-sampling")
    rows = mae_sampling_rows(settings)
    assert not rows[0].trained
    assert [(r.strategy, r.mask_ratio) for r in rows[1:]] == [
        (r.strategy, r.mask_ratio) for r in MAE_SAMPLING_ABLATION
    ]
    assert all(r.weighting == "none" and r.metric == "none" for r in rows)
    assert baseline_row(settings) == "random r=0.75"
    assert baseline_row(Table5Settings()) == "MAE r=0.75"
