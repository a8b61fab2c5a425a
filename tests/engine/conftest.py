"""One Dask LocalCluster (2 worker processes on 127.0.0.1) shared by the engine tests."""
import pytest


@pytest.fixture(scope="session")
def dask_engine():
    pytest.importorskip("distributed", reason="the dask extra is not installed (pip install 'imsim[dask]')")
    from imsim.engine import get_engine

    engine = get_engine("dask", n_workers=2)
    engine.timeout = 120  # every wait of a test job is bounded
    yield engine
    engine.close()
