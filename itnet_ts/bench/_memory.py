"""Peak memory of one benchmark run.

Host: the process's peak resident set size (RSS) *during the run*. On Linux the kernel's
high-water mark (``VmHWM``) is reset to the current RSS at the start of the run (writing ``5``
to ``/proc/self/clear_refs``) and read at its end, so each run of a multi-run process gets its
own peak. Where that is not possible, ``resource.getrusage`` ``ru_maxrss`` is used: the
process's peak *so far*, an upper bound for a run that follows a bigger one. The method used is
recorded with the numbers. GPU (a CUDA device): ``torch.cuda.max_memory_allocated`` after
``reset_peak_memory_stats`` -- the tensors' peak, not the caching allocator's reservation.
"""

from __future__ import annotations

import re
import sys
from typing import Any

__all__ = ["PeakMemory"]

_MB = 1024.0 * 1024.0


def _status_kb(field: str) -> float | None:
    try:
        with open("/proc/self/status") as f:
            m = re.search(rf"^{field}:\s+(\d+)\s+kB", f.read(), re.M)
    except OSError:
        return None
    return float(m.group(1)) if m else None


def _reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return _status_kb("VmHWM") is not None


def _maxrss_mb() -> float | None:
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / _MB if sys.platform == "darwin" else peak / 1024.0  # bytes on macOS, kB else


class PeakMemory:
    """``with PeakMemory(device) as pm: ...``; then ``pm.record()`` -> ``peak_rss_mb``,
    ``rss_start_mb``, ``peak_gpu_mb`` (None off CUDA), ``mem_method``."""

    def __init__(self, device=None):
        self.device = device
        self._result: dict[str, Any] = {}

    def __enter__(self) -> PeakMemory:
        self._hwm = _reset_hwm()
        rss = _status_kb("VmRSS")
        self._start = rss / 1024.0 if rss is not None else None
        self._cuda = self.device is not None and getattr(self.device, "type", "") == "cuda"
        if self._cuda:
            import torch

            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        return self

    def __exit__(self, *exc) -> None:
        if self._hwm:
            hwm = _status_kb("VmHWM")
            peak, method = (hwm / 1024.0 if hwm is not None else None), "VmHWM reset per run"
        else:
            peak, method = _maxrss_mb(), "ru_maxrss (process peak so far)"
        gpu = None
        if self._cuda:
            import torch

            torch.cuda.synchronize(self.device)
            gpu = torch.cuda.max_memory_allocated(self.device) / _MB
        self._result = {
            "peak_rss_mb": None if peak is None else round(peak, 1),
            "rss_start_mb": None if self._start is None else round(self._start, 1),
            "peak_gpu_mb": None if gpu is None else round(gpu, 1),
            "mem_method": method,
        }

    def record(self) -> dict[str, Any]:
        return dict(self._result)
