"""Each extra is what its part needs: the pictures (`plots`) and the console's terminal test
(`rich`) work where the `hydra` extra is not installed, as the README's extras table says."""

import json
import os

from helpers import run_python

PICTURE = """
import json, sys
from estimator_inmemory.console import is_terminal
from estimator_inmemory.plots import write_learning_curves

folder = sys.argv[1]
write_learning_curves(folder, folder + "/curves.png", "accuracy", None, losses=[(0, 2.3), (10, 0.4)])
print(json.dumps({"terminal": is_terminal(), "hydra": any(
    m.split(".")[0] in ("hydra", "omegaconf") for m in sys.modules)}))
"""


def test_the_pictures_need_no_hydra(tmp_path):
    # A stand-in for the hydra extra's packages: importing either fails loudly.
    for name in ("hydra", "omegaconf"):
        (tmp_path / "blocked" / name).mkdir(parents=True)
        (tmp_path / "blocked" / name / "__init__.py").write_text(
            f'raise ImportError("the hydra extra ({name}) is not installed")\n'
        )
    run = tmp_path / "run"
    run.mkdir()
    records = [{"eval": "eval", "step": s, "accuracy": a} for s, a in ((0, 0.1), (10, 0.9))]
    (run / "evaluations.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    blocked = os.pathsep.join(
        filter(None, [str(tmp_path / "blocked"), os.environ.get("PYTHONPATH")])
    )
    result = run_python(PICTURE, str(run), env={**os.environ, "PYTHONPATH": blocked})
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.splitlines()[-1]) == {"terminal": False, "hydra": False}
    assert (run / "curves.png").stat().st_size > 10_000
