"""Loading a checkpoint never runs its code (issue 27, item 1): checkpoints hold only tensors,
numbers, strings, lists and dicts, are read with ``weights_only=True``, and a file holding
anything else is refused in one line; a checkpoint of the previous format (numpy arrays in its
random state and running statistics) still resumes, bit-identically; a full disk says so."""

import errno
import os
import pickle
import random

import numpy as np
import pytest
import torch

from maskstats.cli import main
from maskstats.mae import checkpoint as checkpoint_lib
from maskstats.mae.checkpoint import load_checkpoint, save_checkpoint
from maskstats.mae.train import Trainer


class RunsShell:
    """A pickle whose ``__reduce__`` creates ``path`` when it is unpickled."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def _malicious_files(folder):
    """The same malicious payload in torch's zip format, its legacy format and bare pickle."""
    sentinel = folder / "SENTINEL"
    state = {"model": RunsShell(sentinel), "step": 3, "model_config": {}, "model_name": "x"}
    files = {
        "zip": folder / "evil_zip.pt",
        "legacy": folder / "evil_legacy.pt",
        "pickle": folder / "evil_pickle.pt",
        "pickle4": folder / "evil_pickle4.pt",
    }
    torch.save(state, files["zip"])
    torch.save(state, files["legacy"], _use_new_zipfile_serialization=False)
    with open(files["pickle"], "wb") as handle:
        pickle.dump(state, handle, protocol=2)
    with open(files["pickle4"], "wb") as handle:
        pickle.dump(state, handle, protocol=4)  # framed: torch refuses the framing itself
    return sentinel, files


def test_a_malicious_checkpoint_is_refused_without_running_it(tmp_path):
    sentinel, files = _malicious_files(tmp_path)
    for kind, path in files.items():
        with pytest.raises(ValueError) as error:
            load_checkpoint(path)
        message = str(error.value)
        assert len(message.splitlines()) == 1, message
        if kind != "pickle4":
            assert "posix.system" in message, message
        assert "could run code" in message
        assert not sentinel.exists()


@pytest.mark.parametrize("command", ["eval", "train"])
def test_cli_refuses_a_malicious_checkpoint_in_one_line(tmp_path, capsys, command):
    sentinel, files = _malicious_files(tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    (run / "checkpoint.pt").write_bytes(files["zip"].read_bytes())
    argv = ["eval", "--ckpt", str(run)] if command == "eval" else ["train", "--resume", str(run)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "could run code" in err, err
    assert not sentinel.exists()


def test_table5_row_resume_refuses_a_malicious_checkpoint(tmp_path):
    from maskstats.mae.config import Table5Settings
    from maskstats.mae.table5 import run_table5

    sentinel, files = _malicious_files(tmp_path)
    out = tmp_path / "t5"
    row = out / "untrained_encoder" / "seed0"
    row.mkdir(parents=True)
    (row / "checkpoint.pt").write_bytes(files["legacy"].read_bytes())
    settings = Table5Settings(out=str(out), seeds=(0,), max_steps=2, batch_size=8, progress=False)
    with pytest.raises(ValueError, match="could run code"):
        run_table5(settings, echo=lambda line: None)
    assert not sentinel.exists()


def _only_plain(value, where="state"):
    """Assert that ``value`` is built from tensors, numbers, strings, None, lists, tuples and
    dicts only."""
    if isinstance(value, dict):
        for key, item in value.items():
            assert isinstance(key, (str, int)), (where, key)
            _only_plain(item, f"{where}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        for k, item in enumerate(value):
            _only_plain(item, f"{where}[{k}]")
    else:
        allowed = (torch.Tensor, bool, int, float, str, type(None))
        assert type(value) in allowed or isinstance(value, torch.Tensor), (where, type(value))


def test_a_training_checkpoint_holds_only_plain_values(tmp_path, small_config):
    Trainer(small_config(tmp_path, max_steps=3, save_every=2)).run()
    path = tmp_path / "checkpoint.pt"
    assert torch.serialization.get_unsafe_globals_in_checkpoint(path) == []
    state = torch.load(path, weights_only=True)
    _only_plain(state)
    assert len(state["running"]["interval"]["raw_masked"]) >= 1


def _previous_format(state):
    """A checkpoint as maskstats wrote it before issue 27: numpy's random state as numpy's
    tuple and the running statistics as numpy arrays."""
    old = dict(state)
    rng = dict(state["rng"])
    numpy_state = state["rng"]["numpy"]
    key = np.asarray(numpy_state["state"]["key"], dtype=np.uint32)
    rng["numpy"] = (
        "MT19937",
        key,
        int(numpy_state["state"]["pos"]),
        int(numpy_state["has_gauss"]),
        float(numpy_state["gauss"]),
    )
    old["rng"] = rng
    running = dict(state["running"])
    for part in ("interval", "epoch"):
        stats = dict(running[part])
        for name in ("raw_masked", "weights", "p2dist_kept"):
            stats[name] = [np.asarray(t) for t in stats[name]]
        for name in ("bin_loss_sum", "bin_loss_count"):
            stats[name] = np.asarray(stats[name])
        running[part] = stats
    old["running"] = running
    return old


def test_a_previous_format_checkpoint_resumes_bit_identically(tmp_path, small_config):
    """The old checkpoint needs numpy's array reconstruction, which is admitted (only numeric
    arrays: object arrays are refused); resumed from it, a run ends with the same weights and
    summary as one resumed from the new format."""
    run = tmp_path / "new"
    Trainer(small_config(run, stop_after_steps=3)).run()
    new_state = load_checkpoint(run / "checkpoint.pt")
    old_run = tmp_path / "old"
    old_run.mkdir()
    for name in ("config.json", "metrics.jsonl"):
        (old_run / name).write_bytes((run / name).read_bytes())
    torch.save(_previous_format(new_state), old_run / "checkpoint.pt")
    assert torch.serialization.get_unsafe_globals_in_checkpoint(old_run / "checkpoint.pt")
    resumed = {}
    for name, folder in (("new", run), ("old", old_run)):
        trainer = Trainer(small_config(folder, resume=str(folder)))
        summary = trainer.run()
        resumed[name] = (trainer.model.state_dict(), summary["loss"])
    for key, value in resumed["new"][0].items():
        assert torch.equal(value, resumed["old"][0][key]), key
    assert resumed["new"][1] == resumed["old"][1]


def test_object_arrays_in_a_previous_format_checkpoint_are_refused(tmp_path):
    path = tmp_path / "objects.pt"
    torch.save({"step": 1, "arrays": np.array([{"a": 1}], dtype=object)}, path)
    with pytest.raises(ValueError) as error:
        load_checkpoint(path)
    assert len(str(error.value).splitlines()) == 1


def test_the_random_states_survive_a_save(tmp_path, small_config):
    trainer = Trainer(small_config(tmp_path, max_steps=2))
    np.random.seed(7)
    random.seed(7)
    state = trainer.state()
    save_checkpoint(tmp_path / "c.pt", state)
    expected = (np.random.random(3), random.random())
    np.random.seed(1)
    random.seed(1)
    loaded = load_checkpoint(tmp_path / "c.pt")
    checkpoint_lib.restore_random_state(loaded["rng"])
    assert np.array_equal(np.random.random(3), expected[0]) and random.random() == expected[1]


def test_a_full_disk_is_one_line_and_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    """/dev/full answers every write with ENOSPC, as a full disk does: torch's own error on it
    is turned into one line, and the checkpoint already there is kept."""
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, {"step": 1, "model": {"w": torch.zeros(3)}})
    before = path.read_bytes()

    def save_into_dev_full(state, target):
        with open("/dev/full", "wb") as handle:  # as checkpoint._write, to a full device
            torch.save(state, handle)

    monkeypatch.setattr(checkpoint_lib, "_write", save_into_dev_full)
    with pytest.raises(OSError) as error:
        save_checkpoint(path, {"step": 2, "model": {"w": torch.zeros(1 << 16)}})
    message = str(error.value)
    assert error.value.errno == errno.ENOSPC
    assert "no space left" in message and str(path) in message, message
    assert len(message.splitlines()) == 1
    assert path.read_bytes() == before
    assert not list(tmp_path.glob(".*.tmp"))
