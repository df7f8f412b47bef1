"""``info``: versions, scan backends and devices."""

from __future__ import annotations

import typer

from ._echo import echo_json
from ._errors import guarded
from ._options import Debug, JsonOut


@guarded
def info(json_out: JsonOut = False, debug: Debug = False) -> None:
    """Versions, scan backends found, and devices."""
    import platform
    from importlib import metadata

    def version(pkg: str) -> str:
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return "not installed"

    import torch

    from itnet_ts.ops import available_backends

    report = {
        "itnet-ts": version("itnet-ts"),
        "python": platform.python_version(),
        **{p: version(p) for p in ("torch", "numba", "polars", "pandas", "numpy", "cupy-cuda12x")},
        "cuda_available": torch.cuda.is_available(),
        "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "torch_threads": torch.get_num_threads(),
        "scan_backends": available_backends(),
    }
    if json_out:
        echo_json(report)
        return
    for k, v in report.items():
        if isinstance(v, dict):
            typer.echo(f"{k}:")
            for name, status in v.items():
                typer.echo(f"  {name}: {status}")
        else:
            typer.echo(f"{k}: {v}")
