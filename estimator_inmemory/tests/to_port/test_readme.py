"""The README's "Where things are" table stays true: every path it names exists."""

import re
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]


def where_things_are() -> list[str]:
    readme = (PROJECT / "README.md").read_text()
    section = readme.split("## Where things are", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return [re.match(r"\| `([^`]+)`", row).group(1) for row in rows]


def test_every_path_in_the_table_exists():
    paths = where_things_are()
    assert len(paths) >= 8
    missing = [path for path in paths if not (PROJECT / path).exists()]
    assert not missing, missing
