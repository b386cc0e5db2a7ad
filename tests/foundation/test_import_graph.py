"""No two of our modules import each other, directly or around a loop (issue 13).

import-linter (`lint-imports`, pyproject.toml) checks that apps import down the floors; it does
not see a loop between two files of one floor. This builds the import graph of our packages with
grimp (the library import-linter runs on) and fails on every strongly connected component of more
than one module: a set of modules each of which imports, through the others, itself. Imports inside
functions count (they are how a loop usually hides); imports under `if TYPE_CHECKING:` do not,
since they never run.

import-linter 2.17's own cycle contract, `acyclic_siblings`, looks at the children of a package
with their descendants squashed together and names "cycle breakers" it picks; a loop between
modules of different subpackages, or its exact members, is what this test wants to list.
"""

from __future__ import annotations

import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = (
    "leap", "leapportal", "meters", "dispatch", "mapping", "ops", "revenue", "alerts", "onboarding",
)  # fmt: skip

# Loops let through for a while, each as a set of modules with its reason: none since 2026-12-06.
# A set here may import itself round (or any part of it may); a loop outside these sets fails the
# test at once. Delete an entry as soon as its loop is gone; the test below says when one is.
ALLOWED_LOOPS: list[set[str]] = []


def import_graph() -> grimp.ImportGraph:
    """Our packages' imports, as the checkout has them (no cache: worktrees share nothing)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return grimp.build_graph(*PACKAGES, exclude_type_checking_imports=True, cache_dir=None)


def loops(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, without recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph.modules):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.find_modules_directly_imported_by(nxt)))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return sorted(found)


def describe(graph: grimp.ImportGraph, component: list[str]) -> str:
    """The loop's imports, one per line, with the line numbers a reader goes to."""
    lines = [f"loop of {len(component)} modules: {', '.join(component)}"]
    for importer in component:
        for imported in component:
            if graph.direct_import_exists(importer=importer, imported=imported):
                details = graph.get_import_details(importer=importer, imported=imported)
                at = ", ".join(str(d["line_number"]) for d in details)
                lines.append(f"    {importer} -> {imported} (line {at})")
    return "\n".join(lines)


def test_loops_finds_a_loop_of_three_and_ignores_a_chain():
    graph = grimp.ImportGraph()
    for module in ("p", "p.a", "p.b", "p.c", "p.d"):
        graph.add_module(module)
    graph.add_import(importer="p.a", imported="p.b")
    graph.add_import(importer="p.b", imported="p.c")
    graph.add_import(importer="p.c", imported="p.a")
    graph.add_import(importer="p.c", imported="p.d")  # leaves the loop: not part of it
    assert loops(graph) == [["p.a", "p.b", "p.c"]]


def test_no_module_imports_itself_round_a_loop():
    graph = import_graph()
    new = [c for c in loops(graph) if not any(set(c) <= allowed for allowed in ALLOWED_LOOPS)]
    assert not new, "modules that import each other in a loop:\n" + "\n".join(
        describe(graph, c) for c in new
    )


def test_every_allowed_loop_is_still_a_loop():
    """An allowance for a loop that is gone would let a new one in there unseen: delete it."""
    found = loops(import_graph())
    stale = [sorted(a) for a in ALLOWED_LOOPS if not any(set(c) <= a for c in found)]
    assert not stale, f"no longer a loop, delete from ALLOWED_LOOPS: {stale}"
