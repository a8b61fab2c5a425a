import pytest


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models train faster on one thread, and the suite shares the machine's cores."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
