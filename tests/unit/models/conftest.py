"""Model tests train small networks: one torch thread each. On two cores shared with
other work, torch's default pool spent most of its time waiting on its own threads
(a fitting took 50 s instead of 8)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
