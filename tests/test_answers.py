"""Answers that would give a broken project are rejected with one clear line, and nothing is
written; no run, refused or not, leaves anything in the temp folder."""

import itertools

import pytest
from template_repo import DEFAULT_SLUG, TEMPLATE_DIR, run_cookiecutter, temp_leftovers

REJECTED = [
    (["project_name=!!!"], "project_name '!!!' has no letter or digit to make the project_slug"),
    (["project_name=  "], "project_name '  ' has no letter or digit"),
    (["package_name=class"], "package_name 'class' is a Python keyword"),
    (["package_name=match"], "package_name 'match' is a Python keyword"),
    (["package_name=my-model"], "package_name 'my-model' is not a valid Python identifier"),
    (["package_name=2fast"], "package_name '2fast' is not a valid Python identifier"),
    (["package_name=json"], "would shadow the standard library module 'json'"),
    (["package_name=tensorflow"], "would shadow the 'tensorflow' package"),
    (["package_name=hydra"], "would shadow the 'hydra' package"),
    (["project_slug=../escape"], "project_slug '../escape' is not usable as a folder"),
    (["project_slug=my model"], "project_slug 'my model' is not usable as a folder"),
    (["project_slug=-rf"], "project_slug '-rf' is not usable as a folder"),
    (
        ["tf_version=2.16"],
        "tf_version '2.16' is not supported: choose one of 2.12, 2.13, 2.14, 2.15",
    ),
    (["tf_version=2.11"], "tf_version '2.11' is not supported"),
]


@pytest.mark.parametrize("answers, reason", REJECTED, ids=[" ".join(a) for a, _ in REJECTED])
def test_rejected_answer_says_why_and_generates_nothing(tmp_path, answers, reason):
    result = run_cookiecutter(TEMPLATE_DIR, tmp_path, *answers)
    assert result.returncode != 0
    [line] = [line for line in result.stderr.splitlines() if reason in line]
    assert line.startswith("ERROR: ")
    out = tmp_path / "out"
    assert not out.exists() or not any(out.iterdir())
    assert not (tmp_path / "escape").exists()
    # cookiecutter's private copy of the template is gone too
    assert temp_leftovers(tmp_path) == []


def test_a_generated_project_leaves_nothing_in_the_temp_folder(tmp_path):
    result = run_cookiecutter(TEMPLATE_DIR, tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / DEFAULT_SLUG / "pyproject.toml").is_file()
    assert temp_leftovers(tmp_path) == []


def test_an_answer_cookiecutter_itself_refuses_leaves_nothing_in_the_temp_folder(tmp_path):
    # cookiecutter checks choices before any hook of ours sees the answers.
    result = run_cookiecutter(TEMPLATE_DIR, tmp_path, "license=GPL")
    assert result.returncode != 0
    assert "GPL provided for choice variable license" in result.stderr
    assert not (tmp_path / "out").exists()
    assert temp_leftovers(tmp_path) == []


def test_every_problem_is_reported_at_once(tmp_path):
    result = run_cookiecutter(TEMPLATE_DIR, tmp_path, "package_name=def", "tf_version=1.15")
    assert result.returncode != 0
    assert "package_name 'def'" in result.stderr and "tf_version '1.15'" in result.stderr


# Free text (project_name, description, author_name, author_email) is written into TOML,
# Markdown, Python, YAML and Dockerfile comments: whatever one line holds, each file reads
# back exactly the answer, or the answer is refused before anything is written.

HOSTILE = {
    "quotes and backslashes": {
        "project_name": 'Ann\'s "Quoted" \\ Model',
        "description": 'Says "hi" \\ back, C:\\new\\x, """ and ends in \\',
        "author_name": 'Ann "A" O\'Brien \\',
        "author_email": "ann.o'brien@example.com",
    },
    "jinja and markup": {
        "project_name": "{{ Model }} {% raw %} #1 *bold*",
        "description": "1. {{ cookiecutter.project_slug }} {% if x %} <b>&amp;</b> `code` [a](b) # x",
        "author_name": "{{ author }} {%",
        "author_email": "a{{b}}@example.com",
    },
    "non-ASCII": {
        "project_name": "Modèle Étoilé 星 😀",
        "description": "- Ünïcödé déscription, 数字 and emoji 🚀 ≠ ascii",
        "author_name": "Zoë Ñúñez 张伟",
        "author_email": "zoë@exämple.de",
    },
}
# Typed at the prompts, answers are taken literally (on the command line cookiecutter reads
# them as Jinja: see test_jinja_given_on_the_command_line_is_cookiecutters_to_refuse).
PROMPTS = [
    "project_name", "project_slug", "package_name", "description", "author_name",
    "author_email", "tf_version", "license", "github_actions",
]  # fmt: skip


def markdown_texts(path) -> list[tuple[str, str]]:
    """(block type, its text) of each block of a Markdown file, as CommonMark reads it."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").parse(path.read_text())
    blocks = []
    for opening, inline in itertools.pairwise(tokens):
        if opening.type in ("heading_open", "paragraph_open") and inline.type == "inline":
            text = "".join(c.content for c in inline.children if c.type in ("text", "code_inline"))
            blocks.append((opening.tag, text))
    return blocks


@pytest.mark.parametrize("answers", HOSTILE.values(), ids=HOSTILE.keys())
def test_any_one_line_answer_renders_into_files_that_read_it_back(tmp_path, answers):
    import ast
    import tomllib

    import yaml

    typed = [answers.get(key, "") for key in PROMPTS]
    result = run_cookiecutter(TEMPLATE_DIR, tmp_path, typed=typed)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    [project] = (tmp_path / "out").iterdir()
    metadata = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    assert metadata["description"] == answers["description"]
    assert metadata["authors"] == [
        {"name": answers["author_name"], "email": answers["author_email"]}
    ]
    [package] = (project / "src").iterdir()
    for source in package.glob("*.py"):
        ast.parse(source.read_text(), str(source))  # every module is Python
    init = ast.parse((package / "__init__.py").read_text())
    assert ast.get_docstring(init, clean=False) == answers["description"]
    readme = markdown_texts(project / "README.md")
    assert readme[:2] == [("h1", answers["project_name"]), ("p", answers["description"])]
    manifests = list(yaml.safe_load_all((project / "k8s" / "tfjob.yaml").read_text()))
    assert manifests and all(isinstance(m, dict) for m in manifests)
    dockerfile = (project / "Dockerfile").read_text().splitlines()
    assert dockerfile[0] == f"# The training image of {answers['project_name']} (TensorFlow 2.15)."
    assert f"{answers['author_name']}" in (project / "LICENSE").read_text()
    assert temp_leftovers(tmp_path) == []


def test_an_empty_author_email_is_left_out(tmp_path):
    import tomllib

    result = run_cookiecutter(TEMPLATE_DIR, tmp_path, "author_email=")
    assert result.returncode == 0, result.stderr[-3000:]
    pyproject = tmp_path / "out" / DEFAULT_SLUG / "pyproject.toml"
    metadata = tomllib.loads(pyproject.read_text())["project"]
    assert metadata["authors"] == [{"name": "Your Name"}]


LINE_BREAKS = [
    ("project_name=My\nModel", "project_name 'My\\nModel' holds a line break"),
    ("description=first line\nsecond line", "description 'first line\\nsecond line' holds a"),
    ("description=tab\there", "control character (U+0009): give it as one line of text"),
    ("author_name=Ann\u2028Lee", "author_name 'Ann\\u2028Lee' holds a line break or control"),
    (
        "author_email=a@b\x1bc",
        "author_email 'a@b\\x1bc' holds a line break or control character (U+001B)",
    ),
    ("author_email=Ann Lee <ann@example.com>", "author_email 'Ann Lee <ann@example.com>' is not"),
    ("author_email=ann", "author_email 'ann' is not an address like 'you@example.com'"),
]


@pytest.mark.parametrize("answer, reason", LINE_BREAKS, ids=[a for a, _ in LINE_BREAKS])
def test_an_answer_no_file_can_hold_is_refused_before_anything_is_written(tmp_path, answer, reason):
    result = run_cookiecutter(TEMPLATE_DIR, tmp_path, answer)
    assert result.returncode != 0
    [line] = [line for line in result.stderr.splitlines() if reason in line]
    assert line.startswith("ERROR: ")
    out = tmp_path / "out"
    assert not out.exists() or not any(out.iterdir())
    assert temp_leftovers(tmp_path) == []


def test_jinja_given_on_the_command_line_is_cookiecutters_to_refuse(tmp_path):
    # cookiecutter renders command-line answers as Jinja templates before any hook runs
    # (typed answers are taken literally): a broken one stops it before anything is written.
    result = run_cookiecutter(TEMPLATE_DIR, tmp_path, "description=a {{ b")
    assert result.returncode != 0
    assert "TemplateSyntaxError" in result.stderr
    assert not (tmp_path / "out").exists()
    assert temp_leftovers(tmp_path) == []
