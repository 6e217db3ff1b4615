"""Signals turned into exceptions, blocks no signal breaks, and stale temporaries told from
live ones by their PID (issue 27 item 29)."""

import os
import re
import signal

import pytest

from maskstats._cleanup import (
    Terminated,
    _handler,
    pid_alive,
    stale_entries,
    terminate_on_signals,
    uninterrupted,
)


def test_sigterm_raises_terminated_and_waits_for_an_uninterrupted_block():
    reached = []
    with terminate_on_signals():
        # Never send the signal unless our handler is the one installed (else it would end
        # the test run).
        assert signal.getsignal(signal.SIGTERM) is _handler
        with pytest.raises(Terminated) as caught:
            with uninterrupted():
                os.kill(os.getpid(), signal.SIGTERM)
                reached.append("after the signal, inside the block")
        assert caught.value.code == 128 + signal.SIGTERM
        assert str(caught.value) == "terminated by SIGTERM"
        with pytest.raises(Terminated):  # outside a block: at once
            os.kill(os.getpid(), signal.SIGTERM)
            reached.append("never")
    assert reached == ["after the signal, inside the block"]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # put back


def test_a_handler_of_the_program_is_left_alone():
    seen = []
    previous = signal.signal(signal.SIGHUP, lambda signum, frame: seen.append(signum))
    try:
        with terminate_on_signals():
            os.kill(os.getpid(), signal.SIGHUP)
        assert seen == [signal.SIGHUP]
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_pid_alive_and_stale_entries(tmp_path, dead_pid):
    gone = dead_pid
    assert pid_alive(os.getpid()) and not pid_alive(gone) and not pid_alive(0)
    for name in (f".a.{gone}.tmp", f".a.{os.getpid()}.tmp", f".b.{gone}.tmp", "a.txt"):
        (tmp_path / name).write_text("")
    pattern = re.compile(r"\.a\.(?P<pid>\d+)\.tmp")
    assert [path.name for path, _ in stale_entries(tmp_path, pattern)] == [f".a.{gone}.tmp"]
    assert stale_entries(tmp_path / "missing", pattern) == []
