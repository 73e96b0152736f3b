"""Jinja filters that put a free-text answer into a generated file as text, whatever it holds.

cookiecutter loads this module from the template repository ("_extensions" in
cookiecutter.json). An answer (project_name, description, author_name, author_email) may hold
quotes, backslashes, `{{`, `#`, `*` or non-ASCII letters, and each file type reads those
differently: each filter writes the answer so that its file reads back exactly the answer.
Line breaks and other control characters never get here: hooks/pre_gen_project.py refuses
them before anything is written.
"""

import re

from cookiecutter.utils import simple_filter

# CommonMark: any ASCII punctuation may be backslash-escaped. These are the ones that can
# start markup inside a line (emphasis, code, links, HTML, entities, tables, strikethrough,
# a heading's closing #s).
_MARKDOWN_INLINE = re.compile(r"([\\`*_\[\]<>&|~#!])")
# ... and at the start of a paragraph: a list item, a quote, a thematic break, a setext
# underline, a numbered item ("1." or "1)"), a heading.
_MARKDOWN_LINE_START = re.compile(r"^([-+=>]|\d+(?=[.)]))")


@simple_filter
def toml_string(value) -> str:
    """A TOML basic string (quoted) that reads back as `value`."""
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


@simple_filter
def python_docstring(value) -> str:
    """A triple-quoted Python string literal that reads back as `value`."""
    return '"""' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"""'


@simple_filter
def markdown_text(value) -> str:
    """Markdown whose text (one paragraph or heading) reads back as `value`, not as markup."""
    text = _MARKDOWN_INLINE.sub(r"\\\1", str(value).strip())
    match = _MARKDOWN_LINE_START.match(text)
    if match:  # "1." stays a number: escape the dot or parenthesis after it
        end = match.end()
        text = text[:end] + "\\" + text[end:] if match.group(0)[0].isdigit() else "\\" + text
    return text
