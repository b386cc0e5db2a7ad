"""No file of ours over 500 lines, no function over 80 (issue 13).

A long file holds more than one responsibility, a long function more than one step: split them
where the responsibilities part, rather than raising a limit here. The walk covers every Python
file of the project (the apps, tests, bench, scripts); it leaves out migrations (generated, and
never edited by hand), the virtualenv and hidden folders (caches, git).
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_FILE_LINES = 500
MAX_FUNCTION_LINES = 80
SKIPPED_FOLDERS = {"migrations", "node_modules", "__pycache__", "var"}


def project_files(root: Path = ROOT) -> Iterator[Path]:
    """Our .py files: not in the virtualenv, hidden folders, migrations or run-time data."""
    for folder, subfolders, names in os.walk(root):
        # pruned in place, so the walk never enters them (the virtualenv alone is thousands)
        subfolders[:] = sorted(
            d for d in subfolders if not d.startswith(".") and d not in SKIPPED_FOLDERS
        )
        for name in sorted(names):
            if name.endswith(".py"):
                yield Path(folder) / name


def oversized(path: Path, root: Path = ROOT) -> list[str]:
    """What is too long in one file: the file itself, then each function, as `path:line name`."""
    source = path.read_text(encoding="utf-8")
    name = path.relative_to(root).as_posix()
    found = []
    lines = len(source.splitlines())
    if lines > MAX_FILE_LINES:
        found.append(f"{name}: {lines} lines (limit {MAX_FILE_LINES})")
    for node in ast.walk(ast.parse(source, filename=name)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                found.append(
                    f"{name}:{node.lineno} {node.name}(): {length} lines"
                    f" (limit {MAX_FUNCTION_LINES})"
                )
    return found


def test_no_file_is_over_500_lines_and_no_function_over_80():
    files = list(project_files())
    assert len(files) > 100, "the walk found too few files to be our project"
    too_long = [finding for path in files for finding in oversized(path)]
    assert not too_long, "split these by responsibility:\n" + "\n".join(too_long)


def test_the_check_names_a_long_file_and_a_long_function(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(81))
    (tmp_path / "long.py").write_text(f"def long():\n{body}\n" + "\n" * 420)
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "0001_big.py").write_text("x = 1\n" * 600)
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "big.py").write_text("x = 1\n" * 600)
    files = list(project_files(tmp_path))
    assert files == [tmp_path / "long.py"]
    assert oversized(files[0], tmp_path) == [
        "long.py: 502 lines (limit 500)",
        "long.py:1 long(): 82 lines (limit 80)",
    ]
