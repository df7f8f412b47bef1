import pytest


@pytest.fixture(scope="session")
def client():
    """A LocalCluster of 2 worker processes (1 thread each) on loopback, shared by the Dask
    tests of this folder: starting one costs seconds."""
    pytest.importorskip("dask.dataframe")
    distributed = pytest.importorskip("distributed")

    with (
        distributed.LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
        ) as cluster,
        distributed.Client(cluster) as c,
    ):  # fmt: skip
        yield c
