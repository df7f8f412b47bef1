"""Checking a benchmark model's hyperparameters against its defaults (used by the model
registry in ``runs.py`` and by the runs below it, without an import back up)."""

from __future__ import annotations

from typing import Any

from itnet_ts.errors import ITNetInputError

__all__ = ["check_hyperparams"]


def check_hyperparams(model: str, params: dict[str, Any], known: dict[str, Any]) -> dict[str, Any]:
    """``params`` checked against ``known`` (``model``'s hyperparameters and their defaults):
    names and types; numbers are converted to the default's type. Raises ``ITNetInputError``
    naming the known ones."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if key not in known:
            listed = ", ".join(sorted(known)) or "none (it has no hyperparameters)"
            raise ITNetInputError(f"{key!r} is not a hyperparameter of {model}; known: {listed}")
        out[key] = _coerce(model, key, value, known[key])
    return out


def _coerce(model: str, key: str, value: Any, default: Any) -> Any:
    bad = ITNetInputError(
        f"{model} hyperparameter {key}={value!r}: expected a {type(default).__name__} "
        f"like the default {default!r}"
    )
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise bad
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        if float(value) != int(value):
            raise bad
        return int(value)
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        return float(value)
    if isinstance(default, str) and not isinstance(value, str):
        raise bad
    return value
