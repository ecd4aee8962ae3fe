"""One torch thread and one BLAS thread for an experiment's small tensors.

Every matrix in the inpainting and fill experiments is small enough that a second thread only
contends, and on the shared 2-core machine it contends badly. Measured there: the seed's fill of
1,500 bytes took 56 to 180 s on two torch threads and 7 to 13 s on one; an ESN of 544 units was
built in 1.3 to 2.6 s on two BLAS threads and 0.25 s on one; a ridge fit's 1,100-feature Gram
matrix and eigh 1.8 s on two and 0.4 s on one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from threadpoolctl import threadpool_limits


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """One torch and one BLAS thread inside the block (or decorated function), then the
    settings as they were, also when the block raises."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            yield
    finally:
        torch.set_num_threads(threads)


__all__ = ["one_thread"]
