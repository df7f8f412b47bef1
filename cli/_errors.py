"""Errors on the command line: every failure is one line on stderr and an exit code.

Exit codes:

- 0: success;
- 1: unexpected error (a bug: please report it, with ``--debug`` output);
- 2: usage error (unknown command or option, missing argument; typer's own);
- 3: invalid input data or arguments, including an output file that exists without
  ``--overwrite``;
- 4: a named input file does not exist;
- 5: a model file is invalid, damaged or incompatible (e.g. from a newer itnet-ts);
- 6: training diverged (NaN / infinite loss or gradients); no model was written;
- 130: interrupted (Ctrl-C); nothing is written.

Library errors about one parameter carry its name (``ITNetInputError.param``); the line shown
then ends with the command-line hint for that parameter (``--time-col``, not ``time_col=``).
"""

from __future__ import annotations

import functools

import typer

__all__ = ["exit_code", "fail", "guarded", "message"]

EXIT_UNEXPECTED, EXIT_INPUT, EXIT_MISSING, EXIT_MODEL, EXIT_DIVERGED = 1, 3, 4, 5, 6
EXIT_INTERRUPTED = 130

# the library's parameters as command-line options, and what to do about them there
# (ITNetInputError.param -> option, hint)
_COLUMNS = ("id", "time", "target", "variable", "value")
_OPTIONS = {
    **{f"{col}_col": f"--{col}-col" for col in _COLUMNS},
    "level": "--level",
    "quantiles": "--quantiles",
}
_HINTS = {
    **{f"{col}_col": f"Pass --{col}-col <column name> to name it." for col in _COLUMNS},
    "level": "(refit with --level)",
    "quantiles": "(refit with --quantiles)",
}

# NOT YET carried by parameter names: the covariate messages of estimators/forecaster.py,
# estimators/_params.py and estimators/_covariates.py name Python arguments in mid-sentence;
# until those errors carry ``param`` / ``hint`` (issue 11), their Python wording is replaced
# by the command-line options here, in this order.
_COVARIATE_WORDING = (
    ("(make_future_dataframe(h=...) lists the query times of a horizon; with times=, the "
     "query times themselves)",
     "(--h queries each series' last time plus multiples of the fitted time unit, or of "
     "predict's --freq; or query the --futr file's own times: --times FILE --futr FILE)"),
    ("make_future_dataframe(h=...) lists the query times of a horizon",
     "or query the --futr file's own times: --times FILE --futr FILE"),
    ("futr_exog_list=[...]", "--futr-cols"),
    ("futr_exog_list names", "--futr-cols names"),
    ("named by futr_exog_list", "named by --futr-cols"),
    ("from futr_exog_list.", "from --futr-cols."),
    ("fit(df, static_df=...)", "--static FILE"),
    ("static_df=", "--static FILE"),
    ("static_df", "--static"),
    ("futr_df=", "--futr FILE"),
    ("futr_df", "--futr"),
    ("predict(df=...):", "DATA:"),
    (" (series of the training frame default to their training values)",
     " (a model file keeps no data, so predict needs the statics of every series)"),
)  # fmt: skip


def message(exc: BaseException) -> str:
    """The line shown for ``exc``, in command-line words."""
    from itnet_ts.errors import ITNetInputError

    if isinstance(exc, ITNetInputError) and exc.param in _HINTS:
        lead = "" if exc.value is None else f"{_OPTIONS[exc.param]} {_value(exc.value)}: "
        return f"{lead}{exc.problem} {_HINTS[exc.param]}"
    text = str(exc)
    for python, cli in _COVARIATE_WORDING:
        text = text.replace(python, cli)
    return text


def _value(value) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)


def exit_code(exc: BaseException) -> int:
    from itnet_ts.errors import ITNetError, ITNetModelFileError, TrainingDivergedError

    from ._io import MissingFileError

    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(exc, (MissingFileError, FileNotFoundError)):
        return EXIT_MISSING
    if isinstance(exc, ITNetModelFileError):
        return EXIT_MODEL
    if isinstance(exc, TrainingDivergedError):
        return EXIT_DIVERGED
    if isinstance(exc, ITNetError | ValueError):
        return EXIT_INPUT
    return EXIT_UNEXPECTED


def fail(exc: BaseException, debug: bool) -> typer.Exit:
    """Print one clear line for ``exc`` (a traceback with --debug); return the exit."""
    if debug:
        import traceback

        traceback.print_exception(exc)
    if isinstance(exc, KeyboardInterrupt):
        typer.echo("interrupted; nothing was written", err=True)
    else:
        typer.echo(f"error: {message(exc)}", err=True)
    return typer.Exit(exit_code(exc))


def guarded(fn):
    """Turn any error of a command into one line on stderr and its exit code."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except (Exception, KeyboardInterrupt) as exc:
            raise fail(exc, bool(kwargs.get("debug", False))) from None

    return wrapper
