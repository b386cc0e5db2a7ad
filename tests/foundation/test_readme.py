"""The README documents every environment variable the code reads."""

from __future__ import annotations

import re

from tests.conftest import REPO

READS = re.compile(
    r'(?:env_\w+|os\.environ\.get|os\.getenv|os\.environ\.setdefault)\(\s*"([A-Z][A-Z0-9_]+)"'
    r'|os\.environ\["([A-Z][A-Z0-9_]+)"\]'
)
SKIPPED_DIRS = {".venv", "tests", "bench", "migrations", "var", "node_modules"}


def variables_read_by_the_code() -> dict[str, str]:
    """Every environment variable named in the project's Python code, with one file reading it."""
    found: dict[str, str] = {}
    for path in sorted(REPO.rglob("*.py")):
        if SKIPPED_DIRS & set(path.relative_to(REPO).parts):
            continue
        for match in READS.finditer(path.read_text(encoding="utf-8")):
            found.setdefault(match.group(1) or match.group(2), str(path.relative_to(REPO)))
    return found


def test_the_readme_lists_every_environment_variable():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    variables = variables_read_by_the_code()
    assert {"DEBUG", "SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL", "LEAP_API_KEY"} <= set(
        variables
    )
    missing = {name: where for name, where in variables.items() if f"`{name}`" not in readme}
    assert not missing, f"add these to the environment table of README.md: {missing}"
