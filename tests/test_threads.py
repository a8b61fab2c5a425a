"""One threads module: IMSIM_THREADS (IMSIM_NUM_THREADS as an alias) decides the
distance kernels' threads, torch's threads and the default EMD workers."""
import os

import numpy as np
import pytest

import imsim.distances.kernels as K
from imsim import _threads
from imsim.distances.emd_knn import _n_workers


@pytest.fixture
def env(monkeypatch):
    monkeypatch.delenv("IMSIM_THREADS", raising=False)
    monkeypatch.delenv("IMSIM_NUM_THREADS", raising=False)
    return monkeypatch


def test_unset_means_every_usable_core_and_torchs_default(env):
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert _threads.configured_threads() is None
    assert _threads.kernel_threads() == cores == _n_workers(None)
    assert _threads.torch_thread_count() is None


def test_one_variable_sets_kernels_torch_and_emd_workers(env):
    env.setenv("IMSIM_THREADS", "3")
    assert _threads.kernel_threads() == _threads.torch_thread_count() == _n_workers(None) == 3


def test_the_former_variable_is_an_alias_and_the_new_one_wins(env):
    env.setenv("IMSIM_NUM_THREADS", "5")
    assert _threads.kernel_threads() == 5
    env.setenv("IMSIM_THREADS", "2")
    assert _threads.kernel_threads() == 2


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_bad_values_name_the_variable(env, value):
    env.setenv("IMSIM_NUM_THREADS", value)
    with pytest.raises(ValueError, match=f"IMSIM_NUM_THREADS must be a positive integer, got '{value}'"):
        _threads.kernel_threads()


def test_the_kernels_split_work_by_it(env):
    env.setattr(K, "_PARALLEL_MIN", 1)
    env.setenv("IMSIM_THREADS", "3")
    assert len(K._parts(300, work=10**9)) == 3
    env.setenv("IMSIM_THREADS", "1")
    assert K._parts(300, work=10**9) == [(0, 300)]
    # and the answers do not depend on it
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (500, 40), dtype=np.uint8)
    one = K.topk(X[:37], X, 5)
    env.setenv("IMSIM_THREADS", "4")
    for got, expect in zip(K.topk(X[:37], X, 5), one):
        np.testing.assert_array_equal(got, expect)


@pytest.mark.slow  # imports PyTorch (see SLOW_MODULES in tests/conftest.py)
def test_torch_threads_follow_it(env):
    import torch

    from imsim.models.training import torch_threads

    before = torch.get_num_threads()
    env.setenv("IMSIM_THREADS", "2")
    with torch_threads(None):
        assert torch.get_num_threads() == 2
    assert torch.get_num_threads() == before


def test_the_demo_records_the_kernel_threads(env):
    from imsim.evaluation.demo import machine_info

    env.setenv("IMSIM_THREADS", "3")
    record = machine_info()
    assert record["kernel_threads"] == 3 and record["distance_kernel"]
