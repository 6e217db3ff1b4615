#!/usr/bin/env bash
# The wheel, outside the source tree: build it from a copy of the package, check that it holds
# every file the package has (py.typed, explore.js, ...), install it (not editable) with the
# train extra into a fresh venv in a temporary folder, and from another temporary folder run
# `maskstats --version`, a small `maskstats report` and `import maskstats.torch`.
# Usage: .ci/wheel_check.sh [PYTHON]   (default python3; network: the package registries only)
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
python=${1:-python3}
start=$SECONDS
work=$(mktemp -d "${TMPDIR:-/tmp}/maskstats-wheel.XXXXXX")
trap 'rm -rf "$work"' EXIT
say() { echo "wheel_check: $*"; }

# Build from a copy of what the wheel is made of, so that no build/ or egg-info left in the
# tree by an earlier build can slip a stale file in.
mkdir "$work/src"
cp -r pyproject.toml README.md maskstats "$work/src/"
find "$work/src" -name __pycache__ -prune -exec rm -rf {} +
"$python" -m pip wheel -q --no-deps "$work/src" -w "$work/dist"
wheels=("$work"/dist/maskstats-*.whl)
[ ${#wheels[@]} -eq 1 ] || { say "expected one wheel, got ${wheels[*]}"; exit 1; }
wheel=${wheels[0]}
say "built $(basename "$wheel")"

# Every file of the package (tracked or not, caches aside) must be in the wheel.
"$python" - "$wheel" "$src/maskstats" <<'EOF'
import sys
import zipfile
from pathlib import Path

wheel, package = sys.argv[1], Path(sys.argv[2])
inside = set(zipfile.ZipFile(wheel).namelist())
wanted = {
    "maskstats/" + path.relative_to(package).as_posix()
    for path in package.rglob("*")
    if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
}
missing = sorted(wanted - inside)
if missing:
    sys.exit(f"wheel_check: the wheel lacks {len(missing)} file(s) of the package: {missing}")
for needed in ("maskstats/py.typed", "maskstats/report/explore.js", "maskstats/_version.py"):
    if needed not in inside:
        sys.exit(f"wheel_check: the wheel lacks {needed}")
print(f"wheel_check: the wheel holds all {len(wanted)} files of the package, py.typed included")
EOF

"$python" -m venv "$work/venv"
venv_python="$work/venv/bin/python"
"$venv_python" -m pip install -q --upgrade pip
"$venv_python" -m pip install -q torch==2.13.0
"$venv_python" -m pip install -q -c <(echo torch==2.13.0) "${wheel}[train]"
say "installed into a fresh venv ($((SECONDS - start)) s so far)"

# Run from a folder outside the source tree, with nothing of the tree on the path.
mkdir "$work/run"
cd "$work/run"
unset PYTHONPATH
bin="$work/venv/bin"
"$venv_python" - "$src" <<'EOF'
import importlib.metadata
import sys
from pathlib import Path

import maskstats

source = Path(sys.argv[1]).resolve()
where = Path(maskstats.__file__).resolve()
if where.is_relative_to(source):
    sys.exit(f"wheel_check: maskstats was imported from the source tree ({where})")
installed = importlib.metadata.version("maskstats")
if installed != maskstats.__version__:
    sys.exit(f"wheel_check: metadata says {installed}, maskstats.__version__ {maskstats.__version__}")
print(f"wheel_check: maskstats {installed} from {where.parent}")
EOF
version=$("$bin/maskstats" --version)
expected="maskstats $("$venv_python" -c 'import maskstats; print(maskstats.__version__)')"
[ "$version" = "$expected" ] || { say "maskstats --version said '$version', not '$expected'"; exit 1; }
say "$version"
"$bin/maskstats" report --out report --img-size 64 --patch-size 8 -n 16 --ratios 0.75
[ -s report/index.html ] && [ -s report/maskstats-report.json ] || { say "the report is incomplete"; exit 1; }
grep -q "<script>" report/index.html || { say "index.html has no inline script"; exit 1; }
"$venv_python" -c "import maskstats.torch"
say "report, import maskstats.torch: fine; took $((SECONDS - start)) s"
