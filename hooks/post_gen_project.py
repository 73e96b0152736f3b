"""Drop the parts of the skeleton that the answers switched off."""

import shutil
from pathlib import Path

# cookiecutter runs this file as rendered from a temporary file it never removes.
Path(__file__).unlink(missing_ok=True)

if not {{ cookiecutter.github_actions }}:
    shutil.rmtree(Path(".github"))
