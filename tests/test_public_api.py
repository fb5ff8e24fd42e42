"""The public API: importable from ``adaptive``, cheap to import, laid out as the README says."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import adaptive

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("pydantic", "sqlalchemy", "alembic", "redis", "asyncpg", "nemo_relay", "prometheus_client")


def modules_loaded_by(statement: str) -> set[str]:
    """Top-level modules a fresh interpreter has loaded after ``statement``."""
    probe = f"import sys, json; {statement}; print(json.dumps(sorted(sys.modules)))"
    output = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    return {name.split(".")[0] for name in json.loads(output)}


def test_every_public_name_resolves() -> None:
    for name in adaptive.__all__:
        assert getattr(adaptive, name).__name__ == name


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        _ = adaptive.NoSuchThing  # type: ignore[attr-defined]
    except AttributeError as error:
        assert "NoSuchThing" in str(error)
    else:
        raise AssertionError("adaptive.NoSuchThing resolved")


def test_importing_the_package_loads_nothing_heavy() -> None:
    assert modules_loaded_by("import adaptive").isdisjoint(HEAVY)


def test_the_command_line_starts_without_pydantic_sqlalchemy_or_alembic() -> None:
    assert modules_loaded_by("import adaptive.cli.app").isdisjoint(HEAVY)


def test_every_package_says_its_job() -> None:
    for init in (ROOT / "adaptive").rglob("__init__.py"):
        docstring = ast.get_docstring(ast.parse(init.read_text()))
        assert docstring, f"{init.relative_to(ROOT)} has no docstring"


def test_the_readme_module_table_matches_the_tree() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("| module | what it holds |") :].split("\n\n")[0]
    listed = set(re.findall(r"`adaptive/(\w+)/`", table))
    packages = {path.parent.name for path in (ROOT / "adaptive").glob("*/__init__.py")}
    assert listed == packages
    for module in re.findall(r"`adaptive/([\w/]+\.py)`", table):
        assert (ROOT / "adaptive" / module).is_file(), module
