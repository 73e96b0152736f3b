"""Keep the dependency lock of the chosen TensorFlow version and the library's installable
parts; drop the parts of the skeleton that the answers switched off."""

import shutil
from pathlib import Path

# cookiecutter runs this file as rendered from a temporary file it never removes.
Path(__file__).unlink(missing_ok=True)

# locks/ holds one constraints file per supported TF version (written by `tox -e lock`
# in the template repository); the project gets its version's as constraints.txt.
Path("locks/tf{{ cookiecutter.tf_version }}.txt").replace("constraints.txt")
shutil.rmtree(Path("locks"))

# estimator-inmemory/ is the library the project installs (pyproject.toml names it): its
# source and metadata, not its tests, which run in the template repository rather than in
# every project's CI, nor what a working copy of the template may hold.
library = Path("estimator-inmemory")
for entry in library.iterdir():
    if entry.name not in ("pyproject.toml", "README.md", "src"):
        shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
for cache in [*library.rglob("__pycache__"), *library.rglob("*.egg-info")]:
    shutil.rmtree(cache)

if not {{ cookiecutter.github_actions }}:
    shutil.rmtree(Path(".github"))
