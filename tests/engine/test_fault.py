"""A worker dies mid-job: the scheduler re-runs its tasks elsewhere, the answer is the same.

The test starts a scheduler and three worker processes itself (``python -m
distributed.cli.dask_scheduler`` / ``dask_worker``, all on 127.0.0.1, no nanny so a
killed worker stays dead) and kills one with SIGKILL while it runs a task. Every
wait has a timeout.
"""
import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from imsim.datasets import write_images
from imsim.search import ExactIndex

WAIT = 90  # seconds, for any one step


def _start(args, log):
    env = {**os.environ, "IMSIM_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", *args], stdout=log, stderr=subprocess.STDOUT, env=env)


def _until(condition, what: str, timeout: float = WAIT):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout} s for {what}")
        time.sleep(0.02)


@pytest.fixture
def cluster(tmp_path):
    """(scheduler address, worker processes): one scheduler, three workers."""
    pytest.importorskip("distributed", reason="the dask extra is not installed (pip install 'imsim[dask]')")
    file = tmp_path / "scheduler.json"
    log = open(tmp_path / "cluster.log", "w")
    local = ["--host", "127.0.0.1", "--no-dashboard", "--dashboard-address", "127.0.0.1:0"]
    procs = [_start(["distributed.cli.dask_scheduler", "--port", "0", "--scheduler-file", str(file),
                     *local], log)]
    try:
        _until(file.exists, "the scheduler file")
        procs += [_start(["distributed.cli.dask_worker", "--scheduler-file", str(file), "--nthreads", "1",
                          "--no-nanny", "--death-timeout", str(WAIT), *local], log) for _ in range(3)]
        yield json.loads(file.read_text())["address"], procs
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:  # a scheduler whose worker was killed can take 90 s to stop by itself
            try:
                p.wait(timeout=1)  # nothing is checked after the test: no need to wait longer
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=WAIT)
        log.close()


def test_killed_worker_job_finishes_with_the_same_result(cluster, tmp_path, rng):
    from imsim.engine import get_engine
    from imsim.search.sharded import exact_knn

    address, procs = cluster
    X = rng.integers(0, 256, (24000, 28, 28), dtype=np.uint8)
    Q = rng.integers(0, 256, (200, 28, 28), dtype=np.uint8)
    data = write_images(tmp_path / "x.idx", X)
    want = ExactIndex().fit(X.reshape(len(X), -1)).search(Q.reshape(len(Q), -1), 10)

    with get_engine("dask", address=address) as engine:
        engine.timeout = WAIT
        _until(lambda: engine.n_workers == 3, "three workers")
        pids = engine.worker_pids()
        out = {}
        job = threading.Thread(target=lambda: out.update(r=exact_knn(Q, data, 10, engine=engine)))
        job.start()

        def busy_worker():
            busy = [w for w, keys in engine.client.processing().items() if keys]
            return busy[0] if busy else None

        _until(lambda: busy_worker() is not None, "a worker to start a task")
        victim = busy_worker()
        os.kill(pids[victim], signal.SIGKILL)
        job.join(timeout=WAIT)
        assert not job.is_alive(), f"the job did not finish within {WAIT} s"
        assert victim not in engine.workers() and engine.n_workers == 2
    assert [p.poll() for p in procs].count(-signal.SIGKILL) == 1
    for got, expect in zip(out["r"], want):
        np.testing.assert_array_equal(got, expect)
