"""Every status write in the code names a transition of the table, made by the component it belongs to.

The stores refuse any other write at run time (tests/contracts/store.py), so the whole suite
passing shows that every transition the code performs is in the table. This reads the source to
show the rest: each `.transition(` call outside the store adapters passes a named transition (no
free statuses), each service names only transitions its component may make, and every transition
in the table is made by some code (none is dead).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from mediacraft.shared.transitions import INITIAL_STATUS, TRANSITIONS, Component, Transition

ROOT = Path(__file__).resolve().parents[2]
STORE_ADAPTERS = ROOT / "shared" / "src" / "mediacraft" / "shared" / "adapters" / "store"
COMPONENT_OF = {"gateway": Component.GATEWAY, "scheduler": Component.SCHEDULER, "cleanup": Component.CLEANUP}


def sources() -> list[tuple[Component | None, Path]]:
    """Every production module but the store adapters, with the component whose code it is."""
    found: list[tuple[Component | None, Path]] = []
    for service in sorted((ROOT / "services").iterdir()):
        for path in sorted((service / "src").rglob("*.py")):
            found.append((COMPONENT_OF.get(service.name), path))
    for path in sorted((ROOT / "shared" / "src").rglob("*.py")):
        if STORE_ADAPTERS not in path.parents and path.name != "transitions.py":
            found.append((None, path))
    return found


def named_transitions(tree: ast.AST) -> list[str]:
    """Names used as `transitions.NAME`, or imported `from mediacraft.shared.transitions`."""
    names = [
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "transitions"
    ]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "mediacraft.shared.transitions":
            names += [alias.name for alias in node.names if alias.name.isupper()]
    return [name for name in names if name.isupper() and name != "TRANSITIONS"]


def store_transition_calls(tree: ast.AST) -> list[ast.Call]:
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "transition"
    ]


def test_the_scan_sees_the_writers() -> None:
    calls: dict[Component | None, int] = defaultdict(int)
    for component, path in sources():
        calls[component] += len(store_transition_calls(ast.parse(path.read_text())))
    assert calls[Component.GATEWAY] >= 3 and calls[Component.SCHEDULER] >= 6 and calls[Component.CLEANUP] >= 1
    assert calls[None] == 0  # identity, the workers, standalone and shared never write a task's state


def test_every_store_transition_call_names_a_transition_and_no_free_status() -> None:
    problems = []
    benchmarks = sorted((ROOT / "bench").rglob("*.py"))  # they play the services' parts
    for path in [path for _, path in sources()] + benchmarks:
        for call in store_transition_calls(ast.parse(path.read_text())):
            where = f"{path.relative_to(ROOT)}:{call.lineno}"
            keywords = {keyword.arg for keyword in call.keywords}
            if "expected_status" in keywords or len(call.args) != 2:
                problems.append(f"{where}: call as transition(task_id, transitions.NAME, expected_version=...)")
                continue
            named = call.args[1]
            if isinstance(named, ast.Attribute) and isinstance(named.value, ast.Name):
                if named.value.id != "transitions" or named.attr.lower() not in TRANSITIONS:
                    problems.append(f"{where}: {ast.unparse(named)} is not in the transition table")
            elif not isinstance(named, ast.Name):  # a variable: what the module names is checked below
                problems.append(f"{where}: {ast.unparse(named)} does not name a transition")
            for keyword in call.keywords:
                if keyword.arg == "changes" and isinstance(keyword.value, ast.Dict):
                    keys = [k.value for k in keyword.value.keys if isinstance(k, ast.Constant)]
                    if "status" in keys:
                        problems.append(f"{where}: the status comes from the transition, not from changes")
    assert problems == []


def test_each_component_names_only_its_own_transitions_and_none_is_dead() -> None:
    made_by: dict[str, set[Component | None]] = defaultdict(set)
    problems = []
    for component, path in sources():
        for name in named_transitions(ast.parse(path.read_text())):
            transition: Transition | None = TRANSITIONS.get(name.lower())
            if transition is None:
                problems.append(f"{path.relative_to(ROOT)}: {name} is not in the transition table")
            elif transition.by is not component:
                problems.append(f"{path.relative_to(ROOT)}: {name} is made by {transition.by}, not {component}")
            made_by[name.lower()].add(component)
    assert problems == []
    assert sorted(set(TRANSITIONS) - set(made_by)) == []


def test_only_the_gateway_inserts_tasks_and_it_inserts_drafts() -> None:
    """The one status write that is not a transition: a task is born `created`, by the gateway."""
    inserting = []
    for component, path in sources():
        tree = ast.parse(path.read_text())
        if not any(
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Attribute)
            and call.func.attr == "insert"
            and "store" in ast.unparse(call.func.value)
            for call in ast.walk(tree)
        ):
            continue
        inserting.append(component)
        built = [
            node
            for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Task"
        ]
        statuses = {ast.unparse(k.value) for node in built for k in node.keywords if k.arg == "status"}
        assert statuses <= {f"TaskStatus.{INITIAL_STATUS.name}"}, path
    assert inserting and set(inserting) == {Component.GATEWAY}
