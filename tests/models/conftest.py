import pytest


@pytest.fixture(autouse=True)
def _one_torch_thread(one_torch_thread):
    """Every model test runs torch on one thread (see tests/conftest.py)."""
