"""One thread for torch and for numpy's BLAS: on a busy small machine, small ops are many times faster so
(a 5,000 × 64 SVD took 2–6 s multi-threaded under load here, 20 ms single-threaded)."""
from __future__ import annotations

import torch


def single_threaded() -> None:
    torch.set_num_threads(1)
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(limits=1, user_api="blas")
    except Exception:       # threadpoolctl missing or a BLAS it does not know: keep the defaults
        pass
