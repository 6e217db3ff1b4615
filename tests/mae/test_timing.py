import math

import pytest

from maskstats.mae.timing import compare_step_times


def test_step_times_are_medians_with_the_first_setting_as_baseline(tmp_path, small_config):
    configs = {
        "plain 0.75": small_config(tmp_path / "a", metric="none", weighting="none",
                                   decoder_mask_ratio=0.0, mask_ratio=0.75, batch_size=8),
        "flatten 0.9, decoder 0.3": small_config(tmp_path / "b", mask_ratio=0.9, batch_size=8,
                                                 decoder_mask_ratio=0.3),
    }  # fmt: skip
    result = compare_step_times(configs, steps=3, warmup=1)
    assert list(result) == list(configs)
    assert result["plain 0.75"]["ratio_to_first"] == 1.0
    for values in result.values():
        assert values["step_ms"] > 0 and math.isfinite(values["step_ms"])
        assert 0 < values["difficulty_ms"] < values["step_ms"]
        assert values["difficulty_share"] == pytest.approx(
            values["difficulty_ms"] / values["step_ms"], rel=1e-6
        )
    second = result["flatten 0.9, decoder 0.3"]
    assert second["ratio_to_first"] == pytest.approx(
        second["step_ms"] / result["plain 0.75"]["step_ms"], rel=1e-9
    )
