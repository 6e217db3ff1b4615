"""Test-wide settings: the ``slow`` marker (tests over ~5 s; CI runs everything, ``-m "not
slow"`` gives a quick pass)."""


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than ~5 s (CI runs it all the same)")
