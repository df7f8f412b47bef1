"""Integral-transform operators: PyTorch references (the spec) and fast backends.

``recurrent_scan`` dispatches to the fastest available backend for the tensors' device;
``ITNET_BACKEND=reference|numba|cuda`` forces one.
"""

from itnet_ts.errors import BackendUnavailable
from itnet_ts.ops.dispatch import (
    available_backends,
    recurrent_scan,
    register_backend,
    resolve_backend,
    transform_read,
)
from itnet_ts.ops.read_reference import read_reference
from itnet_ts.ops.scan_reference import scan_reference, state_components


def _load_numba():
    try:
        from itnet_ts.ops.scan_numba import scan_numba
    except ImportError as exc:  # numba missing or broken
        raise BackendUnavailable(f"numba could not be imported ({exc}); pip install numba") from exc
    return scan_numba


def _load_cuda():
    from itnet_ts.gpu import load_scan_cuda  # raises BackendUnavailable without cupy / a GPU

    return load_scan_cuda()


register_backend("numba", "cpu", 10, _load_numba)
register_backend("cuda", "cuda", 20, _load_cuda)

__all__ = [
    "available_backends",
    "read_reference",
    "recurrent_scan",
    "register_backend",
    "resolve_backend",
    "scan_reference",
    "state_components",
    "transform_read",
]
