def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than ~5 s (run with -m slow)")
