"""The library's structure claims, checked: each graph is built once per run, the modules
import each other without a cycle (module level), and nothing imports a project."""

import ast
from collections import Counter
from pathlib import Path

from estimator_inmemory import Registry
from estimator_inmemory.training import train
from fixture_project.data import DATASETS
from fixture_project.model import MODELS, mlp_model_fn
from helpers import compose_train

SOURCE = Path(__file__).resolve().parents[1] / "src" / "estimator_inmemory"


def module_imports() -> dict[str, set[str]]:
    """module -> the library modules it imports at module level (not inside functions)."""
    graph = {}
    for path in SOURCE.glob("*.py"):
        imported = set()
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    imported.add(node.module.split(".")[0])
                else:
                    imported.update(alias.name for alias in node.names)
        graph[path.stem] = imported - {"__init__"}
    return graph


def test_module_level_imports_form_no_cycle():
    graph = module_imports()
    visiting, done = set(), set()

    def visit(module, path):
        if module in done:
            return
        assert module not in visiting, f"import cycle: {' -> '.join([*path, module])}"
        visiting.add(module)
        for other in sorted(graph.get(module, ())):
            visit(other, [*path, module])
        visiting.discard(module)
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
    assert len(done) == len(graph) > 15


def test_the_library_never_names_a_project():
    for path in SOURCE.glob("*.py"):
        text = path.read_text()
        assert "fixture_project" not in text and "{{" not in text, path.name


def test_each_graph_is_built_once_per_run(tmp_path):
    """train(cfg) calls the model_fn once in TRAIN mode and once in EVAL mode (the eval graph
    prepare() builds is the one the hook evaluates with), and once per export."""
    calls = Counter()

    def counting_model_fn(features, labels, mode, params):
        calls[mode] += 1
        return mlp_model_fn(features, labels, mode, params)

    models = Registry("model")

    @models.register("mlp")
    def build(model, trainer, data, config):
        estimator = MODELS["mlp"](model, trainer, data, config)
        return type(estimator)(counting_model_fn, params=estimator.params, config=config)

    cfg = compose_train("model=mlp", "trainer.max_steps=20", "evaluator.every_n_iter=10")
    train(cfg, str(tmp_path / "run"), models=models, datasets=DATASETS)
    assert calls == {"train": 1, "eval": 1, "infer": 1}, calls  # infer: the best export
