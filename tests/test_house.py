"""House rules, checked: no import cycles, no module over 400 lines, no measured numbers in docstrings or help.

(No ``print`` outside the CLI is ruff's rule T20, run by ``make test``.)
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("interp", "probes")
MAX_LINES = 400
# The generators are the literal text templates the shipped datasets are generated from: data, not logic.
LONG_OK = ("interp/data/generators/",)


def _modules() -> dict[str, Path]:
    mods = {}
    for pkg in PACKAGES:
        for f in sorted((REPO / pkg).rglob("*.py")):
            parts = list(f.relative_to(REPO).with_suffix("").parts)
            mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    return mods


def _runtime_imports(tree: ast.Module, module: str, is_package: bool) -> list[str]:
    """Every module named by an import that runs (module level or in a function; not under TYPE_CHECKING)."""
    found: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                here = module if is_package else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    here = here.rpartition(".")[0]
                base = f"{here}.{base}" if node.module else here
            found.extend(f"{base}.{a.name}" for a in node.names)  # a submodule, or an attribute of base
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph() -> dict[str, set[str]]:
    mods = _modules()

    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, f in mods.items():
        for name in _runtime_imports(ast.parse(f.read_text()), m, f.name == "__init__.py"):
            target = resolve(name)
            if target and target != m:
                graph[m].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        found.append(sorted(comp))
    return found


def test_the_cycle_finder_finds_a_planted_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles() -> None:
    graph = import_graph()
    assert "interp.pipeline.stages.organism" in graph and graph["interp.cli"], "the walker found the modules"
    assert cycles(graph) == [], "modules that import each other (directly or in a loop); break the loop"


def test_no_module_over_400_lines() -> None:
    long = {}
    for f in _modules().values():
        rel = f.relative_to(REPO).as_posix()
        n = len(f.read_text().splitlines())
        if n > MAX_LINES and not rel.startswith(LONG_OK):
            long[rel] = n
    assert long == {}, f"modules over {MAX_LINES} lines: split them by what they own"


# "... KL 0.69 (measured)", "Measured on the embedded model: ... 0.98", "measured: 0.475 accuracy"
MEASURED = re.compile(r"\(measured\)|\bmeasured (?:on|with|at|in)\b[^.]*\d|\bmeasured:\s*[^.]*\d", re.IGNORECASE)


def _texts(tree: ast.Module) -> list[tuple[int, str]]:
    """Docstrings, and the strings given as help= or description= (argparse, pydantic Field)."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                out.append((getattr(node, "lineno", 1), doc))
        if isinstance(node, ast.Call):
            for kw in node.keywords:
                if kw.arg in ("help", "description"):
                    text = "".join(c.value for c in ast.walk(kw.value) if isinstance(c, ast.Constant)
                                   and isinstance(c.value, str))
                    out.append((kw.value.lineno, text))
    return out


def test_measured_numbers_live_in_docs_not_docstrings_or_help() -> None:
    for planted in ("cost KL 0.69 nats (measured)", "Measured on the embedded model: 0.98", "Caution, measured: 0.475"):
        assert MEASURED.search(planted), planted
    assert not MEASURED.search("the agreement is measured, not assumed; about 0.8 GB (arithmetic, not measured)")
    offenders = [f"{f.relative_to(REPO)}:{line}" for f in _modules().values()
                 for line, text in _texts(ast.parse(f.read_text())) if MEASURED.search(text)]
    assert offenders == [], "quote measurements in docs/MEASUREMENTS.md, README or notes; docstrings state what and why"


def _calls(tree: ast.AST) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)]


def _kw(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def test_no_pickle_no_eval_no_remote_code() -> None:
    """Nothing is unpickled, evaluated or fetched: no pickle-family import, no ``eval``/``exec``, no
    ``torch.load`` or ``allow_pickle``, every ``from_pretrained`` local and without remote code."""
    bad: list[str] = []
    for module, path in _modules().items():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            bad += [f"{module}: imports {n}" for n in names if n.split(".")[0] in ("pickle", "dill", "shelve", "marshal",
                                                                                    "cloudpickle", "joblib")]
        for call in _calls(tree):
            func = ast.unparse(call.func)
            if func in ("eval", "exec", "torch.load", "pickle.load", "pickle.loads"):
                bad.append(f"{module}:{call.lineno}: calls {func}")
            allow = _kw(call, "allow_pickle")
            if allow is not None and not (isinstance(allow, ast.Constant) and allow.value is False):
                bad.append(f"{module}:{call.lineno}: allow_pickle")
            remote = _kw(call, "trust_remote_code")
            if remote is not None and not (isinstance(remote, ast.Constant) and remote.value is False):
                bad.append(f"{module}:{call.lineno}: trust_remote_code")
            if func.endswith(".from_pretrained") and func != "PeftModel.from_pretrained":
                local = _kw(call, "local_files_only")
                if not (isinstance(local, ast.Constant) and local.value is True):
                    bad.append(f"{module}:{call.lineno}: {func} without local_files_only=True")
    assert not bad, "\n".join(bad)
