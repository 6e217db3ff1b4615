"""``maskstats report``: settings (:mod:`.settings`), the build (:mod:`.build`: the masks,
made once per setting, the sweep, tables, figures), the page (:mod:`.page`: index.html, with
its inline charts :mod:`.charts`, views :mod:`.views` and script ``explore.js``) and the
output folder (:mod:`.output`: built beside ``out``, swapped in when complete, a manifest;
never replaces what is not a report)."""

from typing import TYPE_CHECKING

from maskstats._lazy import lazy_exports

if TYPE_CHECKING:
    from maskstats.report.build import (
        report_masks,
        run_report,
        write_distribution_figures,
        write_loss_difficulty,
        write_metric_table,
        write_sweep,
    )
    from maskstats.report.output import MANIFEST, check_output, read_manifest
    from maskstats.report.page import (
        agreement_finding,
        distribution_finding,
        headline_table,
        html_table,
        loss_finding,
        metric_finding,
        sweep_finding,
    )
    from maskstats.report.settings import DEFAULT_RATIOS, ReportSettings
    from maskstats.report.video import clip_finding, run_clip_report

__all__ = [
    "DEFAULT_RATIOS",
    "MANIFEST",
    "ReportSettings",
    "agreement_finding",
    "clip_finding",
    "check_output",
    "distribution_finding",
    "headline_table",
    "html_table",
    "loss_finding",
    "metric_finding",
    "read_manifest",
    "report_masks",
    "run_clip_report",
    "run_report",
    "sweep_finding",
    "write_distribution_figures",
    "write_loss_difficulty",
    "write_metric_table",
    "write_sweep",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "maskstats.report.build": (
            "report_masks",
            "run_report",
            "write_distribution_figures",
            "write_loss_difficulty",
            "write_metric_table",
            "write_sweep",
        ),
        "maskstats.report.output": (
            "MANIFEST",
            "check_output",
            "read_manifest",
        ),
        "maskstats.report.page": (
            "agreement_finding",
            "distribution_finding",
            "headline_table",
            "html_table",
            "loss_finding",
            "metric_finding",
            "sweep_finding",
        ),
        "maskstats.report.settings": (
            "DEFAULT_RATIOS",
            "ReportSettings",
        ),
        "maskstats.report.video": (
            "clip_finding",
            "run_clip_report",
        ),
    },
    submodules=("build", "charts", "gallery", "output", "page", "settings", "video", "views"),
)
