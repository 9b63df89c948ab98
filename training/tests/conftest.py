import pytest


@pytest.fixture(autouse=True, scope="session")
def _remove_tiny_base():
    yield
    from training.tests.tiny_base import cleanup

    cleanup()
