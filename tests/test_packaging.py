"""The distribution: every package is listed, and a wheel migrates a database on its own."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def packages_in_the_tree() -> set[str]:
    return {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "adaptive").rglob("__init__.py")
    }


def test_pyproject_lists_every_package_and_ships_the_migrations() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    assert listed - {"adaptive_migrations"} == packages_in_the_tree()
    assert setuptools["package-dir"] == {"adaptive_migrations": "migrations"}


def build_wheel(tmp_path: Path) -> Path:
    """Build from a copy of the sources, so no build/ or egg-info lands in the checkout."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__")
    for name in ("adaptive", "migrations"):
        shutil.copytree(ROOT / name, source / name, ignore=ignore)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(source)],
        check=True,
        capture_output=True,
        text=True,
    )
    (wheel,) = tmp_path.glob("adaptive_runtime-*.whl")
    return wheel


def adaptive_command(site: Path, *args: str) -> str:
    """Run the ``adaptive`` CLI from ``site`` only (outside the checkout)."""
    result = subprocess.run(
        [sys.executable, "-c", "from adaptive.cli import main; main()", *args],
        cwd=site,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_wheel_carries_the_migrations_and_upgrades_a_database(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    revisions = sorted(path.name for path in (ROOT / "migrations" / "versions").glob("*.py"))
    assert "adaptive_migrations/env.py" in names
    assert [n for n in names if n.startswith("adaptive_migrations/versions/")] == [
        f"adaptive_migrations/versions/{name}" for name in revisions
    ]
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    located = subprocess.run(
        [
            sys.executable,
            "-c",
            "import adaptive; from adaptive.storage.sql.migrate import migrations_dir; "
            "print(adaptive.__file__); print(migrations_dir())",
        ],
        cwd=site,
        env={"PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert located == [str(site / "adaptive" / "__init__.py"), str(site / "adaptive_migrations")]
    database = f"sqlite:///{tmp_path / 'wheel.db'}"
    adaptive_command(site, "db", "upgrade", "--backend", database)
    head = revisions[-1].split("_")[0]
    assert adaptive_command(site, "db", "current", "--backend", database).split()[0] == head
