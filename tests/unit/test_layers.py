"""Architecture: the import graph of src/tuneforge, read with ast, keeps the arrows pointing down.

A unit is a top-level subpackage (data/, train/, ...) or module (pipeline.py, predict.py, ...);
tuneforge/__init__.py is the public facade and belongs to no unit. What counts as an import is
spelled out in tests/_imports.py; in short: imports inside functions count (they run when called),
`if TYPE_CHECKING:` imports do not (they never run), and importing a.b also runs a/__init__.py.
Nothing here imports tuneforge.
"""

from __future__ import annotations

import functools
import textwrap
from pathlib import Path

import pytest
from _imports import (
    FUNCTION,
    PARENT,
    TYPE_CHECKING,
    Graph,
    format_chain,
    reach_chain,
    read_imports,
    runtime_graph,
    unit_cycles,
    unit_of,
)

PACKAGE_DIR = Path(__file__).resolve().parents[2] / "src" / "tuneforge"

# (unit, unit it must never reach through any chain of runtime imports, why).
LAYER_RULES = [
    (
        "serve",
        "training",
        "serving loads a model through predict.load_predictor, not the training loop",
    ),
    ("serve", "pipeline", "a server answers requests; running the whole flow is the CLI's job"),
    ("explain", "training", "explanations read finished runs; serve explains through them"),
    ("explain", "pipeline", "explanations read finished runs, they do not make them"),
    ("evaluate", "predict", "evaluate is a library that scores predictions; it does not make them"),
    (
        "registry",
        "training",
        "serve depends on the registry, so the registry must not pull in training",
    ),
    ("tasks", "training", "a Task describes head, loss and metric; the loop uses tasks, not back"),
    ("tasks", "pipeline", "tasks sit below every stage; the pipeline strings stages together"),
    ("tasks", "serve", "tasks sit below every stage; serving is a consumer at the top"),
    ("tasks", "compress", "tasks sit below every stage; compress reads finished runs"),
    ("data", "training", "data preparation runs before and without training"),
    ("data", "tasks", "data yields records; tasks turn records into features, not back"),
    ("data", "pipeline", "data is the first stage; the pipeline calls it"),
    ("data", "serve", "data is the first stage; serving is a consumer at the top"),
    ("data", "compress", "data is the first stage; compress reads finished runs"),
    ("data", "predict", "data is the first stage; prediction comes after training"),
    ("run.format", "predict", "the folder format is read by predict; it must not need it"),
    ("run.format", "tasks", "a run folder's description is plain data, read before any task"),
    ("run.format", "run", "run/__init__ and the format re-export nothing that uses predict"),
    ("evaluate", "tasks", "tasks use the metrics library; metrics know no task"),
    ("evaluate", "run", "evaluate scores predictions; run folders are read above it"),
    ("pipeline", "tune", "a search calls the pipeline's stages, not the other way round"),
    ("training", "tune", "the loop knows nothing of searches; a trial hooks into it"),
    ("serve", "tune", "serving reads registered runs; searching is offline work"),
    ("tracking", "training", "tracking records what the loop reports; it does not drive it"),
    ("tracking", "pipeline", "the pipeline opens a tracker; a tracker never runs stages"),
    (
        "robustness",
        "training",
        "the attack suite reads a finished run through predict.load_predictor, like a server",
    ),
    ("robustness", "pipeline", "the attack suite reads finished runs; it never trains"),
    ("data", "robustness", "augmentation shares the data stage's WordNet and noise, not back"),
]

# Broken today. Each is xfail(strict=True): once fixed, the test passes, strict turns that into a
# failure, and the entry must go.
KNOWN_VIOLATIONS: dict[tuple[str, str], str] = {}


@functools.cache
def _tuneforge_graph() -> Graph:
    return runtime_graph(read_imports(PACKAGE_DIR))


def _rule_param(source: str, forbidden: str, why: str) -> pytest.ParameterSet:
    known = KNOWN_VIOLATIONS.get((source, forbidden))
    marks = [pytest.mark.xfail(strict=True, reason=known)] if known else []
    return pytest.param(source, forbidden, why, marks=marks, id=f"{source}-never-{forbidden}")


def test_layers_rules_name_units_that_exist() -> None:
    # A renamed or misspelt unit would make its rule pass vacuously.
    units = {unit_of(module) for module in _tuneforge_graph()}
    named = {unit for rule in LAYER_RULES for unit in rule[:2]}
    assert named <= units, f"rules name units that do not exist: {sorted(named - units)}"
    assert set(KNOWN_VIOLATIONS) <= {rule[:2] for rule in LAYER_RULES}


def test_layers_no_import_cycle_between_units() -> None:
    cycles = [format_chain(chain) for chain in unit_cycles(_tuneforge_graph())]
    assert not cycles, "import cycles between units:\n" + "\n".join(cycles)


@pytest.mark.parametrize(
    ("source", "forbidden", "why"), [_rule_param(*rule) for rule in LAYER_RULES]
)
def test_layers_unit_never_reaches_forbidden_unit(source: str, forbidden: str, why: str) -> None:
    chain = reach_chain(_tuneforge_graph(), source, forbidden)
    assert chain is None, f"{source} must never reach {forbidden} ({why}):\n{format_chain(chain)}"


FAKE_PACKAGE = {
    # The facade: excluded, so neither this lazy import nor serve/app.py's `import fakepkg` counts.
    "__init__.py": "def serve():\n    from fakepkg.serve.app import app\n",
    "serve/__init__.py": "",
    "serve/app.py": "import fakepkg\nfrom fakepkg import predict\n",  # a submodule by name
    "predict.py": "def load():\n    from .tasks import heads\n",  # relative, in a function
    "tasks/__init__.py": "",
    "tasks/heads.py": """\
        from typing import TYPE_CHECKING

        import fakepkg.train.loop

        if TYPE_CHECKING:
            from fakepkg.serve.app import app  # never runs: no tasks -> serve
        """,
    "train/__init__.py": "from .loop import fit\n",
    "train/loop.py": "from ..evaluate import metrics\n",
    "evaluate/__init__.py": "",
    "evaluate/metrics.py": "from fakepkg.predict import load\n",
}


@pytest.fixture
def fake_graph(tmp_path: Path) -> tuple[list, Graph]:
    for name, source in FAKE_PACKAGE.items():
        path = tmp_path / "fakepkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source), encoding="utf-8")
    imports = read_imports(tmp_path / "fakepkg")
    return imports, runtime_graph(imports)


def test_layers_checker_finds_a_cycle_and_a_transitive_violation(fake_graph) -> None:
    _, graph = fake_graph

    cycles = [format_chain(chain).splitlines()[0] for chain in unit_cycles(graph)]
    chain = reach_chain(graph, "serve", "train")

    assert cycles == ["evaluate -> predict -> tasks -> train -> evaluate"]
    assert chain is not None
    assert [(edge.importer, edge.target, edge.kind) for edge in chain] == [
        ("fakepkg.serve.app", "fakepkg.predict", "top"),
        ("fakepkg.predict", "fakepkg.tasks.heads", FUNCTION),
        ("fakepkg.tasks.heads", "fakepkg.train.loop", "top"),
    ]
    assert format_chain(chain).splitlines() == [
        "serve -> predict -> tasks -> train",
        "    fakepkg/serve/app.py:2 imports fakepkg.predict",
        "    fakepkg/predict.py:2 imports fakepkg.tasks.heads (in a function)",
        "    fakepkg/tasks/heads.py:3 imports fakepkg.train.loop",
    ]


def test_layers_checker_skips_type_checking_imports_and_the_facade(fake_graph) -> None:
    imports, graph = fake_graph
    edges = {(edge.importer, edge.target, edge.kind) for edge in imports}

    assert ("fakepkg.tasks.heads", "fakepkg.serve.app", TYPE_CHECKING) in edges
    assert ("fakepkg.tasks.heads", "fakepkg.tasks", PARENT) in edges
    assert reach_chain(graph, "tasks", "serve") is None
    assert "fakepkg" not in graph
    assert all(edge.target != "fakepkg" for edges in graph.values() for edge in edges)
