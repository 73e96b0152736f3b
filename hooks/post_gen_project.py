"""Keep the dependency lock of the chosen TensorFlow version; drop the parts of the skeleton
that the answers switched off."""

import shutil
from pathlib import Path

# cookiecutter runs this file as rendered from a temporary file it never removes.
Path(__file__).unlink(missing_ok=True)

# locks/ holds one constraints file per supported TF version (written by `tox -e lock`
# in the template repository); the project gets its version's as constraints.txt.
Path("locks/tf{{ cookiecutter.tf_version }}.txt").replace("constraints.txt")
shutil.rmtree(Path("locks"))

if not {{ cookiecutter.github_actions }}:
    shutil.rmtree(Path(".github"))
