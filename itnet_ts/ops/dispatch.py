"""One dispatcher for the recurrent scan: picks the fastest available backend per device.

Every backend is registered here, at the bottom of this module (``reference``, ``numba``,
``cuda``), with a *loader*: a function that imports the backend lazily (so ``import itnet_ts``
never imports numba or cupy) and returns the scan callable, or raises ``BackendUnavailable``.
``get_backend(name)`` loads one, ``backend_device_type(name)`` says where it runs.
``ITNET_BACKEND=reference|numba|cuda`` forces one backend; forcing one that cannot run is an error.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import torch

from itnet_ts.errors import BackendUnavailable
from itnet_ts.ops.read_reference import read_reference
from itnet_ts.ops.scan_reference import scan_reference

__all__ = [
    "available_backends",
    "backend_device_type",
    "get_backend",
    "recurrent_scan",
    "register_backend",
    "resolve_backend",
    "transform_read",
]

ScanFn = Callable[..., tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class _Backend:
    name: str
    device_type: str  # "cpu" or "cuda"
    priority: int  # higher wins among available backends for a device
    loader: Callable[[], ScanFn]


_REGISTRY: dict[str, _Backend] = {}
_LOADED: dict[str, ScanFn | BackendUnavailable] = {}


def register_backend(
    name: str, device_type: str, priority: int, loader: Callable[[], ScanFn]
) -> None:
    """Register a scan backend (``device_type`` "cpu", "cuda" or "any")."""
    _REGISTRY[name] = _Backend(name, device_type, priority, loader)
    _LOADED.pop(name, None)


def backend_device_type(name: str) -> str:
    """Where backend ``name`` runs: "cpu", "cuda" or "any"."""
    if name not in _REGISTRY:
        raise BackendUnavailable(
            f"unknown scan backend {name!r}; known backends: {sorted(_REGISTRY)}"
        )
    return _REGISTRY[name].device_type


def get_backend(name: str) -> ScanFn:
    """The scan callable of backend ``name`` (loaded once), or ``BackendUnavailable`` saying
    why it cannot run here."""
    if name not in _REGISTRY:
        raise BackendUnavailable(
            f"unknown scan backend {name!r}; known backends: {sorted(_REGISTRY)}"
        )
    if name not in _LOADED:
        try:
            _LOADED[name] = _REGISTRY[name].loader()
        except BackendUnavailable as exc:
            _LOADED[name] = exc
    got = _LOADED[name]
    if isinstance(got, BackendUnavailable):
        raise got
    return got


def available_backends() -> dict[str, str]:
    """Map every registered backend to "available" or the reason it is not."""
    out = {}
    for name in sorted(_REGISTRY, key=lambda n: -_REGISTRY[n].priority):
        try:
            get_backend(name)
            out[name] = "available"
        except BackendUnavailable as exc:
            out[name] = f"unavailable: {exc}"
    return out


def resolve_backend(device: torch.device, forced: str | None = None) -> str:
    """Name of the backend to use for tensors on ``device``."""
    forced = forced if forced is not None else os.environ.get("ITNET_BACKEND") or None
    if forced is not None:
        backend = _REGISTRY.get(forced)
        if backend is None:
            raise BackendUnavailable(
                f"ITNET_BACKEND={forced!r} is not a scan backend; choose one of {sorted(_REGISTRY)}"
            )
        if backend.device_type not in ("any", device.type):
            raise BackendUnavailable(
                f"scan backend {forced!r} runs on {backend.device_type} tensors, "
                f"but the inputs are on {device}; unset ITNET_BACKEND or move the model"
            )
        get_backend(forced)  # raises a clear error if it cannot run here
        return forced
    candidates = sorted(
        (b for b in _REGISTRY.values() if b.device_type in ("any", device.type)),
        key=lambda b: -b.priority,
    )
    for b in candidates:
        try:
            get_backend(b.name)
            return b.name
        except BackendUnavailable:
            continue
    return "reference"


def recurrent_scan(*args, backend: str | None = None, **kwargs):
    """Run the recurrent scan (signature of ``scan_reference``) on the best backend."""
    u = args[0] if args else kwargs["u"]
    name = resolve_backend(u.device, backend)
    return get_backend(name)(*args, **kwargs)


def transform_read(state, lam, lead, Cq, omega=None, kwn: bool = False, eps: float = 1e-6):
    """The decoder read (signature of ``read_reference``): the numba kernel where the scan
    backend for the device is numba and the poles are plain (no omega, no KWN), else the
    reference (on CUDA the reference's few large tensor ops are already fast)."""
    if omega is None and not kwn and resolve_backend(state.device) == "numba":
        from itnet_ts.ops.read_numba import read_numba

        return read_numba(state, lam, lead, Cq)
    return read_reference(state, lam, lead, Cq, omega, kwn, eps)


def _load_numba() -> ScanFn:
    try:
        from itnet_ts.ops.scan_numba import scan_numba
    except ImportError as exc:  # numba missing or broken
        raise BackendUnavailable(f"numba could not be imported ({exc}); pip install numba") from exc
    return scan_numba


def _load_cuda() -> ScanFn:
    from itnet_ts.gpu import load_scan_cuda  # raises BackendUnavailable without cupy / a GPU

    return load_scan_cuda()


register_backend("reference", "any", 0, lambda: scan_reference)
register_backend("numba", "cpu", 10, _load_numba)
register_backend("cuda", "cuda", 20, _load_cuda)
