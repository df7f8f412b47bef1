"""Every code example in the docs and README runs: python blocks in order (one namespace per
page), then ``$ itnet-ts ...`` console lines through the CLI."""

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from itnet_ts.cli.main import app

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"```(python|console)\n(.*?)```", re.S)
PAGES = [p for p in sorted((ROOT / "docs").glob("*.md")) if BLOCK.search(p.read_text())]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_doc_examples_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__doc__"}
    runner = CliRunner()
    ran = 0
    for lang, code in BLOCK.findall(page.read_text()):
        if lang == "python":
            exec(compile(code, f"{page.name}", "exec"), namespace)
            ran += 1
            continue
        for line in code.splitlines():
            if line.startswith("$ itnet-ts "):
                result = runner.invoke(app, shlex.split(line[len("$ itnet-ts ") :]))
                assert result.exit_code == 0, f"{line}\n{result.output}"
                ran += 1
    assert ran > 0


def test_readme_python_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blocks = BLOCK.findall((ROOT / "README.md").read_text())
    code = [c for lang, c in blocks if lang == "python"]
    assert code
    for c in code:
        exec(compile(c, "README.md", "exec"), {"__name__": "__doc__"})
