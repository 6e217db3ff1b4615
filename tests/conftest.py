"""Test-wide settings: the ``slow`` marker (tests over ~5 s; CI runs everything, ``-m "not
slow"`` gives a quick pass)."""

import subprocess
import sys

import pytest


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than ~5 s (CI runs it all the same)")


@pytest.fixture
def dead_pid() -> int:
    """The PID of a process that has exited and been reaped: what a killed run leaves in the
    names of its temporaries and lock files."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid
