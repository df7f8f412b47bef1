import os

import pytest

os.environ.setdefault("ITNET_TEST", "1")


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models train fastest on one torch thread, and do not thrash a busy 2-core machine.

    Use it in a module with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
