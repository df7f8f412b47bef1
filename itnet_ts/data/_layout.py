"""The layout of a user's frame: its shape (long / wide / tidy) and which column is which
(:func:`resolve_layout`), with errors that name the missing column and suggest a near one."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

from itnet_ts.data._sources import Source
from itnet_ts.errors import ITNetInputError

__all__ = ["Layout", "resolve_layout"]


def _suggest(name: str, columns: Sequence[str]) -> str | None:
    matches = difflib.get_close_matches(name, list(columns), n=1, cutoff=0.6)
    if not matches:
        lowered = {c.lower(): c for c in columns}
        if name.lower() in lowered:
            matches = [lowered[name.lower()]]
    return matches[0] if matches else None


def _missing_column(name: str, role: str, param: str, columns: Sequence[str]) -> ITNetInputError:
    shown = ", ".join(repr(c) for c in list(columns)[:20])
    more = " ..." if len(columns) > 20 else ""
    match = _suggest(name, columns)
    guess = f"; did you mean {match!r}?" if match else "."
    return ITNetInputError(
        f"{role} column {name!r} not found in the frame (columns: {shown}{more}){guess}",
        param=param,
        hint=f"Pass {param}='<column name>' to name it.",
    )


@dataclass(frozen=True)
class Layout:
    """Which column of the user's frame is which, for its ``shape``."""

    shape: str
    id_col: str | None
    time_col: str
    target_col: str | None
    variable_col: str | None
    value_col: str | None
    value_cols: tuple[str, ...]  # wide: channel columns; long: (target,); tidy: ()


def resolve_layout(
    src: Source,
    *,
    id_col: str | None,
    time_col: str,
    target_col: str | None,
    variable_col: str | None,
    value_col: str | None,
    shape: str,
) -> Layout:
    """The frame's layout: the id column (or None: one series), the time column, the shape
    (``"auto"`` guessed) and its value columns, each checked to exist."""
    cols = src.columns
    id_col = _resolve_id_col(id_col, time_col, cols)
    _check_time_col(src, time_col, cols)
    if id_col == time_col:
        raise ITNetInputError(f"id_col and time_col are both {id_col!r}; they must differ.")
    others = [c for c in cols if c not in (id_col, time_col)]
    if not others:
        present = ", ".join(repr(c) for c in (id_col, time_col) if c is not None)
        raise ITNetInputError(
            f"the frame has only the id/time columns ({present}) and no values. Add channel "
            f"columns (wide), a {target_col or 'y'!r} column (long), or 'variable' and "
            "'value' columns (tidy)."
        )
    if shape == "auto":
        shape = _guess_shape(src, others, target_col, variable_col, value_col)
    if shape == "tidy":
        variable_col = variable_col or "variable"
        value_col = value_col or "value"
        for name, role, param in (
            (variable_col, "variable", "variable_col"),
            (value_col, "value", "value_col"),
        ):
            if name not in others:
                raise _missing_column(name, role, param, cols)
        if variable_col == value_col:
            raise ITNetInputError(f"variable_col and value_col are both {value_col!r}.")
        return Layout("tidy", id_col, time_col, None, variable_col, value_col, ())
    if shape == "long":
        if target_col is None or target_col not in others:
            raise _missing_column(str(target_col), "target", "target_col", cols)
        return Layout("long", id_col, time_col, target_col, None, None, (target_col,))
    return Layout("wide", id_col, time_col, None, None, None, tuple(others))


def _resolve_id_col(id_col: str | None, time_col: str, cols: list[str]) -> str | None:
    """The id column, or None for one series: a named id column must exist; the default
    ``unique_id`` may be absent, unless a column looks like a misspelling of it (which would
    otherwise silently become a channel)."""
    if id_col is None or id_col in cols:
        return id_col
    if id_col != "unique_id":  # an id column the user named must exist
        raise _missing_column(id_col, "id", "id_col", cols)
    near = difflib.get_close_matches(id_col, [c for c in cols if c != time_col], 1, 0.8)
    near = near or [c for c in cols if c.lower() == id_col and c != time_col]
    if near:
        raise ITNetInputError(
            f"id column {id_col!r} not found in the frame; did you mean {near[0]!r}? "
            f"Pass id_col={near[0]!r}, or id_col=None if the frame holds a single series."
        )
    return None


def _check_time_col(src: Source, time_col: str, cols: list[str]) -> None:
    """The time column must exist; the error names the datetime columns found and the
    source's hint."""
    if time_col in cols:
        return
    err = _missing_column(time_col, "time", "time_col", cols)
    dated = [c for c in cols if src.is_datetime(c)]
    if dated and not _suggest(time_col, cols):
        err = ITNetInputError(f"{err} Datetime columns found: {dated}.")
    hint = src.time_hint(time_col)
    raise ITNetInputError(f"{err}{hint}") if hint else err


def _guess_shape(
    src: Source,
    others: list[str],
    target_col: str | None,
    variable_col: str | None,
    value_col: str | None,
) -> str:
    """``shape="auto"``: tidy when variable / value columns are named or present, long when
    the target is the only numeric column besides id and time, else wide."""
    if variable_col is not None or value_col is not None:
        return "tidy"
    if "variable" in others and "value" in others:
        return "tidy"
    if (
        target_col is not None
        and target_col in others
        and not any(src.is_numeric(c) for c in others if c != target_col)
    ):
        return "long"
    return "wide"
