"""CUDA backend (CuPy RawKernel) of the recurrent scan. Imports cupy lazily."""

from __future__ import annotations

from itnet_ts.errors import BackendUnavailable


def load_scan_cuda():
    """Return the CUDA scan callable, or raise ``BackendUnavailable`` saying why not."""
    try:
        import cupy  # noqa: F401
    except ImportError as exc:
        raise BackendUnavailable(
            f"cupy is not installed ({exc}); pip install 'itnet-ts[gpu]'"
        ) from exc
    try:
        from itnet_ts.gpu.scan_cuda import scan_cuda
    except ImportError as exc:
        raise BackendUnavailable(f"the CUDA scan backend is not built yet ({exc})") from exc
    return scan_cuda
