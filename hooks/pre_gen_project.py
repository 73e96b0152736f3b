"""Reject answers that would give a broken project, before any file is written.

Each rejection prints one line naming the answer and the fix, and exits non-zero;
cookiecutter then removes the project folder it had just created (and prints its own
traceback, which a hook cannot prevent), and pre_prompt's cleanup removes cookiecutter's
copy of the template.
"""

import json
import keyword
import re
import sys
import unicodedata
from pathlib import Path

from slugify import slugify  # cookiecutter's own dependency: the `slugify` filter it applies

ANSWERS = json.loads(r"""{{ cookiecutter | tojson }}""")
# The TF table in cookiecutter.json is the one list of supported versions.
SUPPORTED_TF = sorted(ANSWERS["_tensorflow"])

# Importing the project must not shadow what it runs on.
RESERVED_PACKAGES = {
    "tensorflow", "tensorflow_estimator", "tensorboard", "keras", "tf_keras", "tf",
    "hydra", "omegaconf", "numpy", "sklearn", "scipy", "absl", "google", "jax",
    "pytest", "conftest", "test", "tests", "src",
}
# PEP 508 distribution names, which also makes the slug a safe single folder name.
SLUG_PATTERN = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")
# The answers written into files as text (pyproject.toml, README.md, LICENSE, the package's
# docstring, comments in the Dockerfile and k8s/tfjob.yaml): any one line of text goes, as
# the filters in local_extensions.py write it; a line break would end a TOML string, a
# Python string, a YAML or Dockerfile comment, or the README's heading.
FREE_TEXT = ("project_name", "description", "author_name", "author_email")
# Control characters (line breaks, tabs, NUL, DEL, ...) and Unicode's line and paragraph
# separators, which YAML reads as line breaks.
LINE_BREAKING = ("Cc", "Zl", "Zp")
# An address as pyproject.toml's authors take it: no spaces, quotes, brackets or commas.
EMAIL_PATTERN = re.compile(r'^[^\s@"\\<>()\[\],;:]+@[^\s@"\\<>()\[\],;:]+$')


def problems(answers: dict) -> list[str]:
    found = []
    # cookiecutter.json falls back to a placeholder slug when the name gives none, since
    # an empty slug would fail in cookiecutter itself ('"." directory already exists')
    # before this check runs.
    name = answers["project_name"]
    if not slugify(name):
        found.append(f"project_name {name!r} has no letter or digit to make the project_slug "
                     "and package_name from: use a name with some, e.g. 'Fraud Model'")
    package = answers["package_name"]
    if not package.isidentifier() or not package.isascii():
        found.append(f"package_name {package!r} is not a valid Python identifier "
                     "(use lowercase letters, digits and underscores, e.g. 'my_model')")
    elif keyword.iskeyword(package) or keyword.issoftkeyword(package):
        found.append(f"package_name {package!r} is a Python keyword: choose another name")
    elif package in sys.stdlib_module_names:
        found.append(f"package_name {package!r} would shadow the standard library "
                     f"module {package!r}: choose another name")
    elif package.lower() in RESERVED_PACKAGES:
        found.append(f"package_name {package!r} would shadow the {package!r} package "
                     "the project depends on: choose another name")
    slug = answers["project_slug"]
    if not SLUG_PATTERN.match(slug):
        found.append(f"project_slug {slug!r} is not usable as a folder and distribution "
                     "name (letters, digits, '.', '_', '-'; start and end with a letter "
                     "or digit)")
    for key in FREE_TEXT:
        value = answers[key]
        bad = sorted({c for c in value if unicodedata.category(c) in LINE_BREAKING})
        if bad:
            names = ", ".join(unicodedata.name(c, f"U+{ord(c):04X}") for c in bad)
            found.append(f"{key} {value!r} holds a line break or control character ({names}): "
                         "give it as one line of text")
    email = answers["author_email"]
    if email and not EMAIL_PATTERN.match(email) and not any(
        unicodedata.category(c) in LINE_BREAKING for c in email
    ):
        found.append(f"author_email {email!r} is not an address like 'you@example.com' (no "
                     "spaces, quotes, brackets or commas): give one address, or leave it empty")
    tf_version = answers["tf_version"]
    if tf_version not in SUPPORTED_TF:
        found.append(f"tf_version {tf_version!r} is not supported: choose one of "
                     f"{', '.join(SUPPORTED_TF)}")
    return found


if __name__ == "__main__":
    # cookiecutter runs this file as rendered, answers included, from a temporary
    # file it never removes.
    Path(__file__).unlink(missing_ok=True)
    found = problems(ANSWERS)
    for problem in found:
        print(f"ERROR: {problem}", file=sys.stderr)
    if found:
        sys.exit(1)
