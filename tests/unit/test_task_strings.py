"""Task knowledge lives in tasks/: no module outside tasks/ and config/ names a task type.

A string literal equal to a task type (``"ner"``) outside those places is where code would branch
on the task instead of asking its Task value; the test reads every module with ast, so it also
catches the literal in a set, a dict key or a default argument.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import get_args

from tuneforge.config import TaskType

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "tuneforge"
ALLOWED = {PACKAGE / "config", PACKAGE / "tasks"}


def task_type_literals(root: Path, names: set[str]) -> list[str]:
    """``path:line: 'name'`` of each string constant equal to one of ``names`` under ``root``,
    outside ALLOWED (docstrings and messages hold the names inside longer strings: not matched)."""
    found = []
    for path in sorted(root.rglob("*.py")):
        if path in ALLOWED or any(parent in ALLOWED for parent in path.parents):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in names:
                found.append(f"{path.relative_to(root.parent)}:{node.lineno}: {node.value!r}")
    return found


def test_task_strings_only_in_tasks_and_config() -> None:
    assert task_type_literals(PACKAGE, set(get_args(TaskType))) == []


def test_task_strings_checker_finds_a_branch(tmp_path: Path) -> None:
    module = tmp_path / "pkg" / "stage.py"
    module.parent.mkdir()
    module.write_text('def f(task):\n    return 1 if task == "ner" else 2\n', encoding="utf-8")
    assert task_type_literals(tmp_path / "pkg", {"ner"}) == ["pkg/stage.py:2: 'ner'"]
