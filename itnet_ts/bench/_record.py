"""What every benchmark run record shares: the host it ran on, and the validation callback."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from typing import Any

__all__ = ["OnVal", "host"]

#: ``on_val(label, log)``: called after each validation pass with the pass's label (the epoch,
#: or `` init`` for the untrained model) and the log of every pass so far
OnVal = Callable[[str, list[dict]], None]


def host() -> dict[str, Any]:
    """The torch threads, machine, date and package version, recorded with every run."""
    import torch

    from itnet_ts import __version__

    return {
        "threads": torch.get_num_threads(),
        "host": f"{platform.machine()}, {os.cpu_count()} cores",
        "date": time.strftime("%Y-%m-%d"),
        "itnet_ts": __version__,
    }
