"""The ``backend`` fixture of the kernel tests: every test runs on the NumPy fallback and
on each instruction set the C kernel was built with."""
import pytest

import imsim.distances.kernels as K
from imsim.distances import backend as current_backend

# "numpy" forces the fallback; the others are the C kernel's instruction sets
BACKENDS = ["numpy"] + (K._C.available_isas() if K._C is not None else [])


@pytest.fixture(params=BACKENDS)
def backend(request, monkeypatch):
    if request.param == "numpy":
        monkeypatch.setattr(K, "_C", None)
    else:
        previous = K._C.isa()
        K._C.set_isa(request.param)
        request.addfinalizer(lambda: K._C.set_isa(previous))
    assert current_backend() == request.param
    return request.param
