"""The version is written once (maskstats/_version.py) and read by the package metadata,
``maskstats.__version__``, ``maskstats --version`` and the changelog's newest release."""

import re
from pathlib import Path

import pytest

import maskstats
from maskstats import _version
from maskstats.cli import main

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")


def test_one_version_everywhere_in_the_package():
    assert maskstats.__version__ is _version.__version__
    assert SEMVER.match(maskstats.__version__)


def test_pyproject_reads_the_version_from_the_package():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"]
    assert "version" in project["project"]["dynamic"]
    dynamic = project["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "maskstats._version.__version__"}


def test_cli_prints_the_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out == f"maskstats {maskstats.__version__}\n"


def test_changelog_lists_this_version_first_and_releases_in_order():
    text = (ROOT / "CHANGELOG.md").read_text()
    releases = re.findall(r"^## \[(\d+\.\d+\.\d+)\] - (\d{4}-\d{2}-\d{2})$", text, re.M)
    assert releases, "no '## [X.Y.Z] - YYYY-MM-DD' release headings"
    assert releases[0][0] == maskstats.__version__
    versions = [tuple(int(part) for part in v.split(".")) for v, _ in releases]
    assert versions == sorted(versions, reverse=True)
    dates = [d for _, d in releases]
    assert dates == sorted(dates, reverse=True)
    assert "## [Unreleased]" in text.split(f"## [{releases[0][0]}]")[0]
