import io
import os
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pandas as pd
import pytest

from maskstats.cli import main
from maskstats.io import (
    check_mask_file,
    check_table_output,
    load_masks,
    save_masks,
    sweep_temporaries,
    write_table,
)
from maskstats.masks import random_masks


def test_saved_masks_load_back_identical_and_0644(tmp_path):
    masks = random_masks(5, (3, 4), 0.5, seed=0)
    path = save_masks(tmp_path / "m.npy", masks)
    np.testing.assert_array_equal(load_masks(path), masks)
    assert os.stat(path).st_mode & 0o777 == 0o644 & ~_umask()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp left
    with pytest.raises(FileExistsError):
        save_masks(path, masks, overwrite=False)
    with pytest.raises(ValueError, match=".npy"):
        save_masks(tmp_path / "m.txt", masks)


def test_flat_masks_load_with_a_grid(tmp_path):
    masks = random_masks(3, (2, 5), 0.6, seed=1)
    np.save(tmp_path / "flat.npy", masks.reshape(3, -1).astype(np.uint8))
    np.testing.assert_array_equal(load_masks(tmp_path / "flat.npy", grid=(2, 5)), masks)


def test_write_table_csv_and_parquet(tmp_path):
    table = pd.DataFrame({"mask": [0, 1], "p2dist": [0.5, 1.25]})
    pd.testing.assert_frame_equal(pd.read_csv(write_table(table, tmp_path / "t.csv")), table)
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        with pytest.raises(ValueError, match="pip install pyarrow"):
            write_table(table, tmp_path / "t.parquet")
        assert not (tmp_path / "t.parquet").exists()
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    else:
        written = write_table(table, tmp_path / "t.parquet")
        pd.testing.assert_frame_equal(pd.read_parquet(written), table)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# --------------------------------------------------------------------------- issue 27


def test_write_table_refuses_a_suffix_it_does_not_write(tmp_path):
    table = pd.DataFrame({"mask": [0, 1]})
    for name in ("s.xlsx", "s", "s.json"):
        with pytest.raises(ValueError, match=r"expected a file ending in \.csv or \.parquet"):
            write_table(table, tmp_path / name)
        with pytest.raises(ValueError, match=r"\.csv or \.parquet"):
            check_table_output(tmp_path / name)
    assert list(tmp_path.iterdir()) == []
    assert check_table_output(tmp_path / "S.CSV") == tmp_path / "S.CSV"


@pytest.mark.parametrize("member", ["a.txt", "a.npy"])
def test_npz_whose_first_member_is_not_an_array(tmp_path, member):
    path = tmp_path / "masks.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(member, "hello, not an array")
        archive.writestr("b.npy", _npy_bytes(np.ones((2, 3, 3), bool)))
    with pytest.raises(ValueError, match="first member 'a(.txt)?' is not a numpy array") as caught:
        load_masks(path)
    assert "\n" not in str(caught.value)


def test_a_fifo_or_a_dangling_link_is_named_for_what_it_is(tmp_path):
    fifo = tmp_path / "fifo.npy"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="is a named pipe \\(FIFO\\), not a regular file"):
        load_masks(fifo)  # and does not block opening it
    link = tmp_path / "link.npy"
    link.symlink_to(tmp_path / "gone.npy")
    with pytest.raises(FileNotFoundError, match="is a link to .*gone.npy, which does not exist"):
        check_mask_file(link)
    with pytest.raises(FileNotFoundError, match="missing.npy does not exist"):
        check_mask_file(tmp_path / "missing.npy")


def test_atomic_writes_sweep_stale_temporaries_of_their_own_name_only(tmp_path, dead_pid):
    gone, alive = dead_pid, os.getpid()
    target = tmp_path / "m.npy"
    stale = tmp_path / f".m.npy.{gone}.0badc0de.tmp"
    live = tmp_path / f".m.npy.{alive}.0badc0de.tmp"
    other = tmp_path / f".n.npy.{gone}.0badc0de.tmp"
    unlike = tmp_path / f".m.npy.{gone}.tmp"  # not our pattern
    for path in (stale, live, other, unlike):
        path.write_text("x")
    save_masks(target, random_masks(2, 4, 0.5, seed=0))
    assert not stale.exists()
    assert live.exists() and other.exists() and unlike.exists()
    assert sweep_temporaries(tmp_path / "n.npy") == [other]


SLOW_SAVE = """
import os, pathlib, sys, time
import numpy as np
real = np.save
def slow_save(file, array, *args, **kwargs):  # write part of the file, then hang
    real(file, array[:1], *args, **kwargs)
    pathlib.Path(os.environ["READY"]).write_text("writing")
    time.sleep(120)
np.save = slow_save
from maskstats.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _masks_while_writing(tmp_path, sig: int) -> subprocess.CompletedProcess:
    """``maskstats masks`` in a process of its own, sent ``sig`` halfway through writing."""
    ready = tmp_path / "ready"
    ready.unlink(missing_ok=True)
    argv = ["--img-size", "32", "--patch-size", "8", "-n", "8", "--out", str(tmp_path / "m.npy")]
    process = subprocess.Popen(
        [sys.executable, "-c", SLOW_SAVE, "masks", *argv],
        env={**os.environ, "READY": str(ready)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not ready.exists():
        assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
        time.sleep(0.05)
    assert [p.name for p in tmp_path.glob(".m.npy.*.tmp")]  # the temporary is there
    process.send_signal(sig)
    out, err = process.communicate(timeout=60)
    ready.unlink()
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_masks_stopped_by_a_signal_leaves_no_temporary(tmp_path, sig):
    result = _masks_while_writing(tmp_path, sig)
    assert result.returncode == 128 + sig
    assert result.stderr.strip().splitlines()[-1].startswith("maskstats: terminated by SIG")
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_masks_killed_leaves_a_temporary_that_the_next_run_sweeps(tmp_path, capsys):
    result = _masks_while_writing(tmp_path, signal.SIGKILL)
    assert result.returncode == -signal.SIGKILL
    assert len(list(tmp_path.glob(".m.npy.*.tmp"))) == 1  # nothing can clean up a SIGKILL
    argv = ["masks", "--img-size", "32", "--patch-size", "8", "-n", "8"]
    assert main([*argv, "--out", str(tmp_path / "m.npy")]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npy"]
    assert np.load(tmp_path / "m.npy").shape == (8, 4, 4)


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()
