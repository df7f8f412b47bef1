"""Shipped and saved weights of :class:`~itnet_ts.model.universal.UniversalITNet`.

A checkpoint is two files side by side: ``<name>.safetensors`` (the weights; safetensors holds
raw tensor bytes, nothing executable) and ``<name>.json`` (the config, the recipe that made it
and the SHA-256 of the weights file, checked on load). The package ships one under
``itnet_ts/pretrained/`` (:data:`DEFAULT_CHECKPOINT`); no download ever happens.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from itnet_ts.model.universal import UniversalConfig, UniversalITNet

__all__ = [
    "DEFAULT_CHECKPOINT",
    "SHIPPED_DIR",
    "checkpoint_path",
    "load_universal",
    "save_universal",
]

#: The checkpoint ``ITNetForecaster.pretrained()`` loads.
DEFAULT_CHECKPOINT = "itnet-zero-v1"
#: Where the package keeps its checkpoints.
SHIPPED_DIR = Path(__file__).resolve().parent.parent / "pretrained"
_SHIPPED = SHIPPED_DIR


def checkpoint_path(name: str | Path) -> Path:
    """The ``.safetensors`` file of a shipped checkpoint ``name`` or of a path (with or
    without the suffix)."""
    p = Path(name)
    if p.suffix == ".safetensors":
        return p
    if p.parent == Path(".") and not p.with_suffix(".safetensors").exists():
        p = _SHIPPED / p.name
    return p.with_suffix(".safetensors")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_universal(model: UniversalITNet, path: str | Path, recipe: dict) -> Path:
    """Write ``model`` to ``path`` (.safetensors + .json with ``recipe`` and the sha256)."""
    from safetensors.torch import save

    from itnet_ts._files import write_bytes_atomic, write_text_atomic

    path = checkpoint_path(path)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    write_bytes_atomic(path, save(tensors))
    cfg = model.cfg.to_dict()
    cfg.pop("n_outputs")
    meta = {"format": "itnet-ts-universal", "format_version": 1, "config": cfg,
            "sha256": _sha256(path), "recipe": recipe}  # fmt: skip
    write_text_atomic(path.with_suffix(".json"), json.dumps(meta, indent=1, default=str) + "\n")
    return path


def load_universal(name: str | Path = DEFAULT_CHECKPOINT) -> tuple[UniversalITNet, dict]:
    """(model in eval mode on the CPU, its JSON metadata) of checkpoint ``name`` (a shipped
    name or a path); the weights' sha256 must match the JSON's."""
    from safetensors.torch import load_file

    path = checkpoint_path(name)
    meta_path = path.with_suffix(".json")
    if not path.exists() or not meta_path.exists():
        shipped = sorted(p.stem for p in _SHIPPED.glob("*.safetensors"))
        raise FileNotFoundError(
            f"no pretrained checkpoint {str(name)!r} ({path} and its .json); shipped: {shipped}"
        )
    meta = json.loads(meta_path.read_text())
    if meta.get("format") != "itnet-ts-universal":
        raise ValueError(f"{meta_path} is not an itnet-ts universal checkpoint")
    digest = _sha256(path)
    if digest != meta.get("sha256"):
        raise ValueError(f"{path}: sha256 {digest} does not match its .json ({meta.get('sha256')})")
    model = UniversalITNet(UniversalConfig.from_dict(meta["config"]))
    model.load_state_dict(load_file(str(path)))
    return model.eval(), meta
