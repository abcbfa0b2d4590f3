"""The import arrows of ARCHITECTURE.md: no cycle between first-party files, and each part imports
only what it may (imports inside functions count: they are arrows too, only later)."""

import ast
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("modelzoo", "webapp", "workers", "annotation")
APPS = ("webapp", "workers", "annotation")
SERVERS = ("django", "celery", "kombu", "gradio")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(path): path
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    }


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Every module `name` imports, anywhere in the file: first-party ones as the most specific
    module named (`from a import b` is a.b when that is a module), others as their top package."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    resolved = set()
    for target in found:
        while target not in MODULES and "." in target:
            target = target.rpartition(".")[0]
        resolved.add(target)
    return resolved - {name}


@pytest.fixture(scope="module")
def graph() -> nx.DiGraph:
    g = nx.DiGraph()
    for name, path in MODULES.items():
        g.add_node(name)
        g.add_edges_from((name, target) for target in _imports(name, path))
    return g


def _top(module: str) -> str:
    return module.split(".")[0]


def test_no_import_cycle_between_first_party_files(graph):
    first_party = graph.subgraph(MODULES)
    cycles = [sorted(c) for c in nx.strongly_connected_components(first_party) if len(c) > 1]
    assert cycles == [], "\n".join(" <-> ".join(c) for c in cycles)


def test_modelzoo_imports_no_server_and_no_app(graph):
    wrong = sorted(
        (source, target)
        for source, target in graph.edges
        if _top(source) == "modelzoo" and _top(target) in (*SERVERS, *APPS)
    )
    assert wrong == []


def _reached_from(graph, part: str) -> set[str]:
    return {target for source, target in graph.edges if _top(source) == part}


def test_annotation_reads_jobs_through_one_selector(graph):
    reached = _reached_from(graph, "annotation")
    reads = sorted(reached & {m for m in MODULES if _top(m) == "webapp"})
    assert reads == ["webapp.jobs.selectors"]
    # and only from its own selectors, so that one file holds every read of a job
    readers = {s for s, t in graph.edges if _top(s) == "annotation" and _top(t) == "webapp"}
    assert readers == {"annotation.selectors"}
    # it queues its own worker task (the machine lip reading of a study) and nothing else there
    assert sorted(reached & {m for m in MODULES if _top(m) == "workers"}) in ([], ["workers.tasks"])


def test_annotation_takes_from_modelzoo_only_metrics_media_and_errors(graph):
    taken = {t for t in _reached_from(graph, "annotation") if _top(t) == "modelzoo"}
    allowed = ("modelzoo.metrics", "modelzoo.media", "modelzoo.errors")
    assert sorted(t for t in taken if not t.startswith(allowed)) == []
    # the face tracker loads dlib's landmark model: no web process needs it
    assert "modelzoo.media.faces" not in taken


def test_the_web_project_never_imports_the_annotation_app(graph):
    reached = _reached_from(graph, "webapp")
    assert sorted(t for t in reached if _top(t) == "annotation") == []


def test_the_web_project_uses_the_workers_to_enqueue_check_and_start_them(graph):
    reached = _reached_from(graph, "webapp")
    used = {t for t in reached if _top(t) == "workers"}
    assert used <= {"workers.tasks", "workers.celery", "workers.recovery"}


def test_only_the_space_of_the_web_project_imports_torch(graph):
    # The Space runs its models in-process, without Django; the site leaves models to workers.
    importers = sorted(s for s, t in graph.edges if _top(s) == "webapp" and t == "torch")
    assert [s for s in importers if not s.startswith("webapp.space.")] == []


def test_no_package_imports_the_benchmarks_or_the_tests(graph):
    wrong = sorted((s, t) for s, t in graph.edges if _top(t) in ("bench", "tests"))
    assert wrong == []


def test_workers_reach_the_jobs_app_only_through_its_models_and_the_job_layer(graph):
    reached = _reached_from(graph, "workers")
    webapp = sorted(reached & {m for m in MODULES if _top(m) == "webapp"})
    assert webapp == ["webapp.jobs.kinds", "webapp.jobs.models"]
    # the study lip-reading task reads the annotation app through its models and selectors
    annotation = sorted(reached & {m for m in MODULES if _top(m) == "annotation"})
    assert set(annotation) <= {"annotation.models", "annotation.selectors"}


JOB_KINDS = {"generate", "transcribe", "corrupt", "evaluate"}


def _job_kind_dispatch(tree: ast.AST) -> list[str]:
    """Where a module names the job kinds together: a collection holding two or more of them
    (a table of kinds) or a function comparing a value with two or more (a dispatch over kinds)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            items = node.keys
        elif isinstance(node, ast.Tuple | ast.List | ast.Set):
            items = node.elts
        elif isinstance(node, ast.FunctionDef):
            items = [c for n in ast.walk(node) if isinstance(n, ast.Compare) for c in n.comparators]
        else:
            continue
        named = {i.value for i in items if isinstance(i, ast.Constant)} & JOB_KINDS
        if len(named) >= 2:
            found.append(f"line {node.lineno}: {sorted(named)}")
    return found


def test_modelzoo_has_no_module_about_jobs():
    # Jobs (their kinds, params, file roles, output names) belong to the job layer,
    # webapp.jobs.kinds; modelzoo keeps typed pipelines that know nothing of them.
    wrong = []
    for name, path in MODULES.items():
        if _top(name) != "modelzoo":
            continue
        tree = ast.parse(path.read_text(), str(path))
        if "job" in name.lower():
            wrong.append(f"{name}: a module named for jobs")
        top_names = [
            n.name if not isinstance(n, ast.Assign) else getattr(n.targets[0], "id", "")
            for n in tree.body
            if isinstance(n, ast.FunctionDef | ast.ClassDef | ast.Assign)
        ]
        wrong += [f"{name}.{n}: named for jobs" for n in top_names if "job" in n.lower()]
        wrong += [f"{name} {where}: names job kinds" for where in _job_kind_dispatch(tree)]
    assert wrong == [], "\n".join(wrong)
