"""The gateway's layers hold: only the HTTP edge imports the web framework, and routes make no
queries (they reach adapters only through application functions)."""

from __future__ import annotations

import ast
from pathlib import Path

import mediacraft.gateway

PACKAGE = Path(mediacraft.gateway.__file__).parent
# Modules that speak HTTP: the app and its wiring, the envelope, the middleware, the routes, and the
# two that answer with streams of their own (downloads, Server-Sent Events).
HTTP_EDGE = {
    "app",
    "docs_page",
    "main",
    "http",
    "envelope",
    "middleware",
    "download",
    "events",
    "routes_tasks",
    "routes_user",
    "routes_ops",
    "routes_projects",
    "routes_videos",
}
WEB_FRAMEWORKS = ("starlette", "fastapi")
ADAPTERS = {"store", "projects", "objects", "bus", "identity", "cache", "frames", "hub", "receiver"}


def modules() -> dict[str, ast.Module]:
    return {p.stem: ast.parse(p.read_text(), str(p)) for p in PACKAGE.glob("*.py")}


def imported(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_only_the_http_edge_imports_the_web_framework() -> None:
    found = modules()
    assert {"create", "upload_flow", "submission", "one_call", "ownership"} <= set(found)
    speaking_http = {
        name for name, tree in found.items() if any(m.split(".")[0] in WEB_FRAMEWORKS for m in imported(tree))
    }
    assert speaking_http <= HTTP_EDGE


def test_routes_reach_no_adapter() -> None:
    for name, tree in modules().items():
        if not name.startswith("routes_"):
            continue
        used = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
        assert not used & ADAPTERS, f"{name} uses {sorted(used & ADAPTERS)}"
