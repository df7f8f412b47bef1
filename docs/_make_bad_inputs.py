"""Write docs/bad-inputs.md from the table of cases in tests/test_bad_inputs.py.

    python docs/_make_bad_inputs.py          # rewrite the page
    python docs/_make_bad_inputs.py --check  # exit 1 if the page is out of date

The table lives in one place (``CASES`` in the test module); this page is its rendering, and
``tests/test_bad_inputs.py::test_doc_table_is_up_to_date`` keeps the two in step.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "bad-inputs.md"

HEADER = """\
# Bad inputs and what you see

itnet-ts fails loudly and precisely: every input it cannot use raises an error that names the
column, the series and the row where it applies, and says how to fix it. Nothing is guessed,
resampled or dropped silently (a null / NaN value is the one documented exception: it means
"not observed").

**Exceptions** (importable from `itnet_ts` unless noted; catch `ITNetError` for any of them):

| Exception | Base classes | Raised for |
|---|---|---|
| `ITNetInputError` | `ITNetError`, `ValueError` | invalid data or arguments |
| `ITNetModelFileError` | `ITNetError`, `ValueError` | a model file that is missing, truncated, damaged, of a newer format, or not a model |
| `ITNetNotFittedError` | `ITNetError`, `AttributeError` | `predict` before `fit` / `load` |
| `NotFittedError` (`itnet_ts.estimators`) | `ITNetNotFittedError`, scikit-learn's `NotFittedError` | what the estimators raise for it, so `except` clauses written for either catch it |
| `TrainingDivergedError` | `ITNetError`, `RuntimeError` | the training loss, its gradients or the validation loss became NaN / infinite (nothing is kept; CLI exit code 6) |
| `BackendUnavailable` | `ITNetError`, `RuntimeError` | a scan backend forced with `ITNET_BACKEND` cannot run here |

**Command line**: an error prints one line, `error: <message>` (the full traceback only with
`--debug`), and exits with a code that says what went wrong: 0 success, 1 unexpected error,
2 usage error, 3 invalid input data or arguments, 4 an input file does not exist, 5 an invalid
or incompatible model file, 6 training diverged, 130 interrupted.

**Rows** are 0-based positions in the frame (not pandas index labels); in a CSV file with a
header, row *r* is on line *r* + 2. In the messages below `…` stands for text that varies
(third-party wording, numbers, paths; `<tmp>` is the directory of the file).

"""

FOOTER = """
This page is generated from the table `CASES` in `tests/test_bad_inputs.py` by
`docs/_make_bad_inputs.py`; the tests check that every case produces exactly the message shown.
"""


def _cell(text: str) -> str:
    out = " ".join(text.split())
    for a, b in (("\\", "\\\\"), ("|", "\\|"), ("<", "&lt;"), (">", "&gt;"), ("*", "\\*")):
        out = out.replace(a, b)
    return out


def render(cases) -> str:
    """The markdown page for ``cases`` (a list of ``Case``)."""
    lines = [HEADER, "| Case | Where | Input | Outcome | What you see |", "|---|---|---|---|---|"]
    for c in cases:
        outcome = f"`{c.outcome}`" if c.expect is not None else "works"
        shows = _cell(c.shows)
        if c.known_gap:
            outcome += " (known gap)"
        lines.append(f"| `{c.id}` | {c.where} | {c.given} | {outcome} | {shows} |")
    gaps = [c for c in cases if c.known_gap]
    if gaps:
        lines += ["", "## Known gaps", ""]
        lines += [
            f"- `{c.id}`: today {_cell(c.known_gap)}. The row above shows the intended "
            "behaviour; its test is marked as an expected failure until this is fixed."
            for c in gaps
        ]
    return "\n".join(lines) + "\n" + FOOTER


def load_cases():
    tests = ROOT / "tests"
    sys.path.insert(0, str(tests))
    spec = importlib.util.spec_from_file_location("_bad_inputs_table", tests / "test_bad_inputs.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module.CASES


def main(argv: list[str]) -> int:
    text = render(load_cases())
    if "--check" in argv:
        if PAGE.read_text() != text:
            print(f"{PAGE} is out of date; run python docs/_make_bad_inputs.py")
            return 1
        return 0
    PAGE.write_text(text)
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
