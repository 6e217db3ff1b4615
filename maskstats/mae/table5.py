"""``maskstats table5``: the Efficient MAE Tab.5 comparison, rerun on your data and budget.

Trains, with the same seeds, data and budget: plain MAE at the baseline ratio and at the high
ratio, Difficulty-Flatten with each metric at the high ratio, the histogram equaliser (the
library's flatten before 0.2.0) as a comparison row, and on the best flatten metric (by mean
k-NN accuracy) an exponent sweep and decoder masking; evaluates each; writes one table with the
effective AvgDist and ESS of each row's loss. Finished runs (those with an eval.json) are
skipped, so an interrupted comparison resumes where it stopped.

``rows="mae-sampling"`` runs MAE's mask-sampling ablation instead (its Table 1(f): random 0.75,
block 0.5, block 0.75 and grid 0.75, plain MAE loss) with the same machinery, budget,
evaluation and tables."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from maskstats.io import atomic_path
from maskstats.literature import MAE_SAMPLING_ABLATION
from maskstats.mae.checkpoint import save_checkpoint
from maskstats.mae.config import CONFIGS, EvalSettings, MAEConfig, Table5Settings, TrainConfig
from maskstats.mae.data import load_dataset
from maskstats.mae.evaluate import (
    check_split,
    dataset_labels,
    evaluate,
    evaluation_subset,
    split_indices,
)
from maskstats.mae.train import Trainer
from maskstats.mae.visualize import table5_galleries
from maskstats.metrics import PATCH_METRICS


@dataclass(frozen=True)
class Row:
    """One configuration of the comparison."""

    name: str
    mask_ratio: float
    metric: str = "none"
    weighting: str = "none"
    decoder_mask_ratio: float = 0.0
    trained: bool = True
    strategy: str = "random"
    target_avgdist: float | None = None
    alpha: float | None = None

    @property
    def slug(self) -> str:
        """The row's folder name."""
        return (
            self.name.replace(" ", "_")
            .replace("=", "")
            .replace(",", "")
            .replace("(", "")
            .replace(")", "")
        )


def base_rows(s: Table5Settings) -> list[Row]:
    """Rows that do not depend on earlier results."""
    rows = [
        Row("untrained encoder", s.mask_ratio, trained=False),
        Row(f"MAE r={s.baseline_ratio:g}", s.baseline_ratio),
        Row(f"MAE r={s.mask_ratio:g}", s.mask_ratio),
    ]
    rows += [Row(f"flatten {m} r={s.mask_ratio:g}", s.mask_ratio, m, "flatten") for m in s.metrics]
    if s.histogram_metric:
        rows.append(
            Row(
                f"histogram {s.histogram_metric} r={s.mask_ratio:g}",
                s.mask_ratio,
                s.histogram_metric,
                "histogram",
            )
        )
    return rows


def mae_sampling_rows(s: Table5Settings) -> list[Row]:
    """MAE's mask-sampling ablation (:data:`maskstats.literature.MAE_SAMPLING_ABLATION`:
    random 0.75, block 0.5, block 0.75, grid 0.75), plain MAE loss, after the untrained
    encoder (evaluated at ratio 0.75)."""
    rows = [Row("untrained encoder", 0.75, trained=False)]
    rows += [
        Row(f"{r.strategy} r={r.mask_ratio:g}", r.mask_ratio, strategy=r.strategy)
        for r in MAE_SAMPLING_ABLATION
    ]
    return rows


def baseline_row(s: Table5Settings) -> str:
    """The row whose step time the step-time ratios divide by: plain MAE at the baseline
    ratio (``tab5``), random 0.75 (``mae-sampling``)."""
    if s.rows == "mae-sampling":
        first = MAE_SAMPLING_ABLATION[0]
        return f"{first.strategy} r={first.mask_ratio:g}"
    return f"MAE r={s.baseline_ratio:g}"


def decoder_rows(s: Table5Settings, best_metric: str) -> list[Row]:
    """On the best flatten metric: the other flatten exponents, then decoder masking (with
    the default exponent)."""
    r = f"r={s.mask_ratio:g}"
    alphas = [
        Row(f"flatten {best_metric} {r} alpha={a:g}", s.mask_ratio, best_metric, "flatten", alpha=a)
        for a in s.alphas
    ]
    return alphas + [
        Row(f"flatten {best_metric} {r} dec={q:g}", s.mask_ratio, best_metric, "flatten", q)
        for q in s.decoder_ratios
    ]


def row_config(s: Table5Settings, row: Row, seed: int, folder: Path) -> TrainConfig:
    """The training configuration of one (row, seed)."""
    return TrainConfig(
        model=s.model,
        data=s.data,
        img_size=s.img_size,
        patch_size=s.patch_size,
        num_workers=s.num_workers,
        mask_ratio=row.mask_ratio,
        metric=row.metric,
        weighting=row.weighting,
        flatten_alpha=row.alpha,
        decoder_mask_ratio=row.decoder_mask_ratio,
        strategy=row.strategy,
        target_avgdist=row.target_avgdist,
        epochs=s.epochs,
        max_steps=s.max_steps,
        batch_size=s.batch_size,
        blr=s.blr,
        warmup_steps=max(1, round(s.warmup_share * s.max_steps)) if s.max_steps else None,
        seed=seed,
        out=str(folder),
        dataset_length=s.dataset_length,
        progress=s.progress,
        log_every=max(1, (s.max_steps or 100) // 10),
        save_every=100,
        **{"gallery_images": 0, **s.extra},  # table5 draws its rows' galleries on eval images
    )


class RunCounter:
    """Where a comparison is: "run i of n" and, from the runs trained in this process, about
    how long the rest will take (finished runs that are skipped take no time and do not count
    towards the estimate)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.timed: list[float] = []
        self._started: float | None = None

    def start(self) -> str:
        """Count the next run; its "run i of n" and the time estimate so far."""
        import time

        self.done += 1
        self._started = time.perf_counter()
        text = f"run {self.done} of {self.total}"
        if self.timed:
            per_run = float(np.median(self.timed))
            left = per_run * (self.total - self.done + 1)
            text += f", about {_duration(left)} left at {_duration(per_run)} a run"
        return text

    def finish(self, trained: bool) -> None:
        """Record how long the run took (runs that only reused results are not timed)."""
        import time

        if trained and self._started is not None:
            self.timed.append(time.perf_counter() - self._started)
        self._started = None


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


RESUME_HINT = "rerun the same maskstats table5 command (finished runs are kept)"
"""What an interrupted table5 run should be continued with (not the row's --resume)."""


def run_one(
    s: Table5Settings,
    row: Row,
    seed: int,
    echo: Callable[[str], None],
    counter: RunCounter | None = None,
) -> dict:
    """Train (or resume) and evaluate one (row, seed); reuse finished results.

    A row is finished only when its eval.json exists, written atomically after its evaluation.
    A row killed during its evaluation resumes from its checkpoint with no steps left: it is
    evaluated again and keeps the timings saved with the checkpoint.
    """
    folder = Path(s.out) / row.slug / f"seed{seed}"
    result_path = folder / "eval.json"
    where = f"[{counter.start()}] " if counter is not None else ""
    if result_path.exists():
        echo(f"{where}skip {row.name} seed {seed} (finished)")
        if counter is not None:
            counter.finish(trained=False)
        return json.loads(result_path.read_text())
    config = row_config(s, row, seed, folder)
    has_checkpoint = (folder / "checkpoint.pt").exists()
    if has_checkpoint and row.trained:
        config.resume = str(folder)
    else:
        config.overwrite = True  # a start killed before its first checkpoint starts over
    echo(f"{where}{'resume' if config.resume else 'run'} {row.name} seed {seed} -> {folder}")
    trainer = Trainer(config)
    trainer.resume_hint = RESUME_HINT
    if row.trained:
        summary = trainer.run()
    else:
        if not has_checkpoint:
            folder.mkdir(parents=True, exist_ok=True)
            save_checkpoint(folder / "checkpoint.pt", trainer.state())
        summary = {"step": 0, "wall_s": 0.0, "step_ms": float("nan"), "loss": float("nan")}
    result = evaluate(
        EvalSettings(
            ckpt=str(folder),
            data=s.eval_data,
            seed=s.eval_seed,
            mask_ratio=row.mask_ratio,
            out=str(folder / "eval.partial.json"),
            overwrite=True,  # left by a run killed between its evaluation and eval.json
            max_images=s.eval_max_images,
            test_share=s.eval_test_share,
            no_baseline=True,  # the table has an untrained-encoder row of its own
        )
    )
    result.pop("path", None)
    if row.trained:
        summary = {**summary, "last_interval_loss": _last_interval_loss(folder)}
    result.update({"row": row.name, "seed": seed, "train": summary, "config": asdict(row)})
    with atomic_path(result_path) as tmp:
        tmp.write_text(json.dumps(result, indent=2))
    (folder / "eval.partial.json").unlink(missing_ok=True)
    if counter is not None:
        counter.finish(trained=True)
    return result


def _last_interval_loss(folder: Path) -> float | None:
    """The mean training loss of a run's last logged interval (the last 10% of its steps in
    table5's runs: ``log_every`` is a tenth of ``max_steps``), on its own masks; None
    without one."""
    from maskstats.mae.runlog import read_metrics

    records = [r for r in read_metrics(folder) if r.get("kind") == "interval"]
    value = records[-1].get("loss") if records else None
    return None if value is None else float(value)


def run_rows(
    s: Table5Settings,
    rows: Sequence[Row],
    echo: Callable[[str], None],
    counter: RunCounter | None = None,
) -> list[dict]:
    """Every row with every seed (finished ones reused)."""
    return [run_one(s, row, seed, echo, counter) for row in rows for seed in s.seeds]


def best_flatten_metric(results: list[dict], rows: Sequence[Row]) -> str:
    """The metric of the flatten row with the highest mean k-NN accuracy (mean-pooled features)
    over seeds: k-NN separates pretrained encoders where a linear probe saturates; p2dist when
    there is no flatten row (rows with their own exponent are not candidates)."""
    flatten = [r for r in rows if r.weighting == "flatten" and r.alpha is None]
    if not flatten:
        return "p2dist"
    knn = {r.name: np.mean([x["knn_mean"] for x in results if x["row"] == r.name]) for r in flatten}
    return max(flatten, key=lambda r: knn[r.name]).metric


FREE_SETTINGS = ("out", "progress", "seeds", "gallery_images")
"""Settings a rerun into the same folder may change: where the folder is, the progress bar,
which seeds run (finished (row, seed) pairs are reused, new seeds added) and how many images the
row galleries show. Any other change would mix rows made under different settings in one
table."""
BEFORE_SETTING = {"flatten_definition": "histogram"}
"""What a settings.json written before a setting existed meant by it: folders from before 0.2.0
hold flatten rows made with the histogram equaliser."""


def check_same_settings(s: Table5Settings, out: Path) -> None:
    """Refuse to resume ``out`` with settings other than those its runs were made with.

    Args:
        s: this run's settings.
        out: the comparison's folder; its settings.json (if any) holds the earlier ones.

    Raises:
        ValueError: one line naming (up to three of) the settings that differ.
    """
    path = Path(out) / "settings.json"
    if not path.exists():
        return
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        saved = None
    if not isinstance(saved, dict):
        raise ValueError(f"{path} is not a table5 settings file; choose a new --out")
    current = json.loads(json.dumps(asdict(s)))  # tuples as lists, as saved
    defaults = json.loads(json.dumps(asdict(Table5Settings())))  # fields older runs lack
    defaults.update(BEFORE_SETTING)
    changed = [
        f"{key} {saved.get(key, defaults[key])!r} there, {value!r} now"
        for key, value in current.items()
        if key not in FREE_SETTINGS and saved.get(key, defaults[key]) != value
    ]
    if changed:
        raise ValueError(
            f"{out} holds runs made with other settings ({'; '.join(changed[:3])}): rerun with "
            "the same flags, or choose a new --out"
        )


def check_rows(s: Table5Settings) -> None:
    """Check, before anything is trained or written, every row's training settings (the rows
    on the best flatten metric too, with each metric in its place) and that the evaluation
    split has images on both sides.

    Raises:
        ValueError: one line, naming the row where a row's settings cannot work.
    """
    s.validate()
    rows = base_rows(s)
    for metric in dict.fromkeys([*s.metrics, "p2dist"]):
        rows += decoder_rows(s, metric)
    for row in rows:
        try:
            row_config(s, row, s.seeds[0], Path(s.out) / row.slug).validate()
        except ValueError as error:
            raise ValueError(f"table5 row {row.name!r}: {error}") from None
    img_size = s.img_size or CONFIGS[s.model].get("img_size", MAEConfig.img_size)
    load_dataset(s.data, img_size, train=True)  # a missing source stops here, before any work
    data = evaluation_subset(
        load_dataset(s.eval_data, img_size, train=False, seed=s.eval_seed),
        s.eval_max_images,
        s.eval_seed,
    )
    labels = dataset_labels(data)
    if labels is not None:
        train, test = split_indices(labels, s.eval_test_share, s.eval_seed)
        flags = ("--eval-max-images", "--eval-test-share")
        check_split(train, test, s.eval_test_share, len(data), flags)


def run_table5(s: Table5Settings, echo: Callable[[str], None] = print) -> dict[str, pd.DataFrame]:
    """Check every row (:func:`check_rows`), then run every row and seed (skipping finished
    ones) and write the tables; nothing is written when a check fails.

    Returns:
        {"table": one row per configuration, "spearman": metric x configuration,
        "separation": do the rows differ beyond seed noise (:func:`separation`)}.
    """
    out = Path(s.out)
    check_same_settings(s, out)
    check_rows(s)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "settings.json") as tmp:
        tmp.write_text(json.dumps(asdict(s), indent=2))
    if s.rows == "mae-sampling":
        rows = mae_sampling_rows(s)
        results = run_rows(s, rows, echo, RunCounter(len(rows) * len(s.seeds)))
    else:
        rows = base_rows(s)
        # The decoder rows depend on the best metric, but not their number.
        counter = RunCounter((len(rows) + len(decoder_rows(s, "p2dist"))) * len(s.seeds))
        results = run_rows(s, rows, echo, counter)
        best = best_flatten_metric(results, rows)
        echo(f"best flatten metric by k-NN: {best}")
        extra_rows = decoder_rows(s, best)
        results += run_rows(s, extra_rows, echo, counter)
        rows += extra_rows
    tables = summarize(results, rows, s)
    write_tables(tables, out)
    if s.gallery_images > 0:
        gallery = table5_galleries(s, rows, echo)
        with open(out / "table5.md", "a", encoding="utf-8") as handle:
            handle.write(
                f"\nReconstructions of every row on the same images: [{gallery.name}]"
                f"({gallery.name})\n"
            )
    return tables


def _mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof 1) of the finite values; std 0 for one value."""
    array = np.asarray(values, dtype=np.float64)
    finite = array[np.isfinite(array)]
    if finite.size == 0:
        return float("nan"), float("nan")
    return float(finite.mean()), float(finite.std(ddof=1)) if finite.size > 1 else 0.0


def _ratio(value: float, base: float) -> float:
    """Value / base; NaN where either is missing, zero or not finite."""
    if not (np.isfinite(value) and np.isfinite(base)) or base <= 0 or value <= 0:
        return float("nan")
    return float(value / base)


def _train_value(result: dict, key: str) -> float:
    """A training-summary value of one run; NaN where it has none (the untrained row)."""
    value = result["train"].get(key)
    return float("nan") if value is None else float(value)


def summarize(results: list[dict], rows: list[Row], s: Table5Settings) -> dict[str, pd.DataFrame]:
    """Mean ± std over seeds per configuration, the Spearman table and the rows' separation
    (the same dict as :func:`run_table5`)."""
    baseline = baseline_row(s)
    base_step = {r["seed"]: r["train"]["step_ms"] for r in results if r["row"] == baseline}
    records, spearman_records = [], []
    for row in rows:
        runs = [r for r in results if r["row"] == row.name]
        metric = row.metric if row.metric != "none" else "p2dist"
        values = {
            "linear probe": [r["linear_probe_mean"] for r in runs],
            "linear probe (cls)": [r["linear_probe_cls"] for r in runs],
            "k-NN": [r["knn_mean"] for r in runs],
            "recon loss": [r["real_difficulty"]["mean_patch_loss"] for r in runs],
            "spearman(metric, loss)": [
                r["real_difficulty"][metric]["spearman_pooled"] for r in runs
            ],
            "train loss": [_train_value(r, "last_interval_loss") for r in runs],
            "pretrain wall s": [r["train"]["wall_s"] for r in runs],
            "step-time ratio": [
                _ratio(r["train"]["step_ms"], base_step.get(r["seed"], np.nan)) for r in runs
            ],
            "effective AvgDist px": [_train_value(r, "effective_avgdist") for r in runs],
            "target AvgDist px": [_train_value(r, "loss_avgdist") for r in runs],
            "ESS share": [_train_value(r, "ess") for r in runs],
        }
        record: dict = {"configuration": row.name, "metric": metric, "seeds": len(runs)}
        for key, vals in values.items():
            mean, std = _mean_std(vals)
            record[key] = mean
            record[f"{key} std"] = std
        records.append(record)
        for name in PATCH_METRICS:
            mean, std = _mean_std([r["real_difficulty"][name]["spearman_pooled"] for r in runs])
            spearman_records.append(
                {"configuration": row.name, "metric": name, "spearman": mean, "std": std}
            )
    table = pd.DataFrame(records).set_index("configuration")
    spearman = (
        pd.DataFrame(spearman_records)
        .pivot(index="configuration", columns="metric", values="spearman")
        .loc[[r.name for r in rows]]
    )
    return {"table": table, "spearman": spearman, "separation": separation(results, rows)}


SEPARATED_COLUMNS = {"linear probe": "linear_probe_mean", "k-NN": "knn_mean"}
"""The accuracy columns whose separation of the rows ``separation`` tests, and their eval keys."""


def separation(results: list[dict], rows: Sequence[Row]) -> pd.DataFrame:
    """Do the rows differ by more than seed noise? For each accuracy column, over the rows
    with at least two seeds: a one-way ANOVA of the per-seed values grouped by row (F and its
    p value), the pooled within-row standard deviation (seed noise, ddof 1), the spread of the
    row means (best minus worst) and spread / seed noise. Once over all rows, once over the
    pretrained rows only (without the untrained encoder).

    Args:
        results: every (row, seed)'s eval result, with "row", "linear_probe_mean", "knn_mean".
        rows: the configurations, in table order.

    Returns:
        One line per (column, rows compared): "rows", "seeds per row" (the fewest), "F", "p",
        "seed std", "spread", "spread / seed std", "best", "worst". NaN where fewer than two
        rows have two seeds.
    """
    records = []
    for column, key in SEPARATED_COLUMNS.items():
        for scope, chosen in (
            ("all rows", list(rows)),
            ("pretrained rows", [r for r in rows if r.trained]),
        ):
            groups = {
                r.name: np.array([x[key] for x in results if x["row"] == r.name], np.float64)
                for r in chosen
            }
            groups = {name: v for name, v in groups.items() if len(v) >= 2}
            record: dict = {"column": column, "compared": scope, "rows": len(groups)}
            record.update(
                dict.fromkeys(
                    ("seeds per row", "F", "p", "seed std", "spread", "spread / seed std"),
                    float("nan"),
                )
            )
            record.update(best="", worst="")
            if len(groups) >= 2:
                values = list(groups.values())
                freedom = sum(len(v) - 1 for v in values)
                noise = float(np.sqrt(sum(((v - v.mean()) ** 2).sum() for v in values) / freedom))
                means = {name: float(v.mean()) for name, v in groups.items()}
                best = max(means, key=lambda name: means[name])
                worst = min(means, key=lambda name: means[name])
                spread = means[best] - means[worst]
                with np.errstate(divide="ignore", invalid="ignore"):
                    test = stats.f_oneway(*values) if noise > 0 else None
                record.update(
                    {
                        "seeds per row": min(len(v) for v in values),
                        "F": float(test.statistic) if test is not None else float("inf"),
                        "p": float(test.pvalue) if test is not None else 0.0,
                        "seed std": noise,
                        "spread": spread,
                        "spread / seed std": spread / noise if noise > 0 else float("inf"),
                        "best": best,
                        "worst": worst,
                    }
                )
            records.append(record)
    return pd.DataFrame(records)


SHOWN_COLUMNS = (
    "linear probe",
    "linear probe (cls)",
    "k-NN",
    "recon loss",
    "spearman(metric, loss)",
    "train loss",
    "effective AvgDist px",
    "target AvgDist px",
    "ESS share",
    "pretrain wall s",
    "step-time ratio",
)
"""The measured columns of the table, each with a "<name> std" partner, in display order."""


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    """``mean ± std`` strings for Markdown/LaTeX (std over seeds, ddof 1): just the mean where
    there is one seed (or no spread to report), a blank where there is no value (e.g. the
    untrained row's timings)."""
    shown = pd.DataFrame(index=table.index)
    for key in SHOWN_COLUMNS:
        if key not in table:  # a table5.csv written before the column existed
            continue
        digits = 1 if key in ("pretrain wall s", "effective AvgDist px", "target AvgDist px") else 3
        cells = []
        for mean, sd, seeds in zip(table[key], table[f"{key} std"], table["seeds"], strict=True):
            if mean is None or not np.isfinite(mean):
                cells.append("")
            elif seeds > 1 and sd is not None and np.isfinite(sd):
                cells.append(f"{mean:.{digits}f} ± {sd:.{digits}f}")
            else:
                cells.append(f"{mean:.{digits}f}")
        shown[key] = cells
    if "pretrain wall s" in shown and "untrained encoder" in shown.index:
        shown.loc["untrained encoder", "pretrain wall s"] = ""
    shown.insert(0, "metric", table["metric"])
    return shown


def display_separation(separation_table: pd.DataFrame) -> pd.DataFrame:
    """``separation``'s lines for Markdown: p with two significant digits (1e-05, not 0.000)."""
    shown = separation_table.set_index("column")
    shown["p"] = [f"{p:.2g}" if np.isfinite(p) else "" for p in shown["p"]]
    return shown


STEP_TIME_NOTE = (
    "step-time ratio: each run's mean wall-clock step time over that of the same seed's "
    "baseline row, from runs made one after another; on a shared machine other work in "
    "between moves it (a few tenths here), so read it as a rough guide and measure speed "
    "with `python analysis/step_time.py` (the settings' steps interleaved in one process, "
    "medians)."
)
"""The caveat printed with every table5 table (its step-time ratio column)."""


def write_tables(tables: dict[str, pd.DataFrame], out: Path) -> list[Path]:
    """table5.csv (numbers), table5.md and table5.tex (mean ± std; one seed: the mean; blanks
    for no value; the .tex compiles with plain pdflatex), spearman_by_metric.*,
    separation.csv/.md (when ``tables`` has "separation") and a figure of probe and k-NN
    accuracy per configuration."""
    from maskstats import plot
    from maskstats.io import to_latex, to_markdown

    out = Path(out)
    paths = []
    table = tables["table"]
    table.to_csv(out / "table5.csv")
    shown = display_table(table)
    (out / "table5.md").write_text(to_markdown(shown) + f"\n{STEP_TIME_NOTE}\n", encoding="utf-8")
    (out / "table5.tex").write_text(to_latex(shown), encoding="utf-8")
    tables["spearman"].to_csv(out / "spearman_by_metric.csv")
    (out / "spearman_by_metric.md").write_text(to_markdown(tables["spearman"]), encoding="utf-8")
    if "separation" in tables:  # needs the per-seed results (not kept in table5.csv)
        tables["separation"].to_csv(out / "separation.csv", index=False)
        (out / "separation.md").write_text(
            to_markdown(display_separation(tables["separation"])), encoding="utf-8"
        )
        paths += [out / "separation.csv", out / "separation.md"]
    paths += [
        out / n
        for n in (
            "table5.csv",
            "table5.md",
            "table5.tex",
            "spearman_by_metric.csv",
            "spearman_by_metric.md",
        )
    ]
    fig = plot.table5_bars(table)
    paths += plot.save(fig, out / "table5")
    return paths
