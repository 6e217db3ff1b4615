import pytest

from maskstats.mae.config import Table5Settings
from maskstats.mae.table5 import Row, row_config, run_table5


@pytest.mark.slow
def test_table5_micro_writes_every_row_and_skips_finished(tmp_path):
    settings = Table5Settings(
        max_steps=2,
        batch_size=8,
        dataset_length=16,
        seeds=(0,),
        out=str(tmp_path),
        progress=False,
        eval_max_images=200,
        decoder_ratios=(0.2,),
    )
    lines = []
    tables = run_table5(settings, echo=lines.append)
    table = tables["table"]
    assert len(table) == 1 + 2 + 4 + 1
    assert table.index[0] == "untrained encoder" and "dec=0.2" in table.index[-1]
    assert table.loc["MAE r=0.75", "step-time ratio"] == pytest.approx(1.0)
    for name in ("table5.csv", "table5.md", "table5.tex", "table5.png", "spearman_by_metric.md"):
        assert (tmp_path / name).stat().st_size > 100
    assert not any(line.startswith("skip") for line in lines)
    again = []
    run_table5(settings, echo=again.append)
    assert sum(line.startswith("skip") for line in again) == len(table)
    assert not any(line.startswith("run ") for line in again)


def test_row_config_carries_every_row_setting(tmp_path):
    row = Row("held", 0.9, "p2dist", "flatten", 0.2, strategy="difficulty", target_avgdist=5.0)
    config = row_config(Table5Settings(max_steps=7, batch_size=8), row, 3, tmp_path)
    assert (config.mask_ratio, config.metric, config.weighting) == (0.9, "p2dist", "flatten")
    assert (config.decoder_mask_ratio, config.strategy, config.target_avgdist) == (
        0.2,
        "difficulty",
        5.0,
    )
    assert (config.seed, config.max_steps, config.batch_size) == (3, 7, 8)
    assert config.out == str(tmp_path)
