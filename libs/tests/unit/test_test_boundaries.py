"""A service's tests reach other services only as a client would: never by importing them.

Import-linter keeps the service packages independent; this is the same rule for their tests,
which reach another service's real app through `mss_testing.plugin.owners_serving`."""

from __future__ import annotations

import ast
from pathlib import Path

from mss_settings import registry


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_no_service_test_imports_another_service() -> None:
    packages = {spec.package for spec in registry.services()}
    crossings = [
        f"{path.relative_to(registry.ROOT)} imports {other}"
        for spec in registry.services()
        for path in sorted((spec.directory / "tests").rglob("*.py"))
        for other in sorted(imported_packages(path) & (packages - {spec.package}))
    ]

    assert crossings == []


def test_the_check_sees_an_import_of_another_service(tmp_path: Path) -> None:
    module = tmp_path / "conftest.py"
    module.write_text("from mss_identity.main import create_app\nimport mss_audit.worker\n")

    assert imported_packages(module) >= {"mss_identity", "mss_audit"}
