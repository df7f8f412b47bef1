"""Integral-transform operators: PyTorch references (the spec) and fast backends.

``recurrent_scan`` dispatches to the fastest available backend for the tensors' device;
``ITNET_BACKEND=reference|numba|cuda`` forces one. The backends are registered in
``itnet_ts.ops.dispatch``.
"""

from itnet_ts.ops.dispatch import (
    available_backends,
    backend_device_type,
    get_backend,
    recurrent_scan,
    register_backend,
    resolve_backend,
    transform_read,
)
from itnet_ts.ops.read_reference import read_reference
from itnet_ts.ops.scan_reference import scan_reference, state_components

__all__ = [
    "available_backends",
    "backend_device_type",
    "get_backend",
    "read_reference",
    "recurrent_scan",
    "register_backend",
    "resolve_backend",
    "scan_reference",
    "state_components",
    "transform_read",
]
