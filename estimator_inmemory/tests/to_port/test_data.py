"""CSV data: standardised with the training split's statistics; a file that does not parse
stops training with a `DataError` naming the file and the likely cause."""

import numpy as np
import pytest
from helpers import checkpoints, compose_train, run_entry_point, write_csv

from {{ cookiecutter.package_name }}.data import load_csv
from {{ cookiecutter.package_name }}.errors import DataError
from {{ cookiecutter.package_name }}.train import train

GOOD_ROWS = [[1.0, 10.0, 0], [2.0, 20.0, 1], [3.0, 40.0, 1]]


def text_file(path, text):
    path.write_text(text)
    return path


def train_on(tmp_path, train_csv, eval_csv=None, *overrides):
    eval_csv = eval_csv or write_csv(tmp_path / "eval.csv", ["a", "b", "label"], GOOD_ROWS)
    cfg = compose_train(
        "data=csv", f"data.train_path={train_csv}", f"data.eval_path={eval_csv}", *overrides
    )
    return train(cfg, run_dir=tmp_path / "run")


BAD_FILES = [
    ("a;b;label\n1;10;0\n2;20;1\n", "looks separated by semicolons, but it must be comma-"),
    ("a\tb\tlabel\n1\t10\t0\n", "looks separated by tabs"),
    ("1,10,0\n2,20,1\n", "has no header row: its first line holds numbers"),
    ("a,b,label\n1,10,0\n2,ten,1\n", "line 3: column 'b' holds 'ten', which is not a number"),
    ("a,b,label\n1,10,0\n2,,1\n", "line 3: column 'b' is empty"),
    ("a,b,label\n1,10,0\n2,inf,1\n", "line 3: column 'b' holds 'inf', which is not a finite"),
    ("a,b,label\n1,10,0\n2,20\n", "line 3 has 2 cells, but the header has 3 columns"),
    ("a,b,y\n1,10,0\n", "has no column 'label' (data.label_column); it has ['a', 'b', 'y']"),
    ("a,b,label\n1,10,0.5\n", "line 2: column 'label' holds 0.5, but classification needs"),
    ("a,b,label\n", "has a header row but no data rows"),
    ("a,a,label\n1,10,0\n", "every column needs its own name"),
    ('a,b,label\n1,"10\n",0\n2,x,1\n', "line 4: column 'b' holds 'x'"),  # a quoted newline
    ("", "is empty"),
]


@pytest.mark.parametrize("text, cause", BAD_FILES, ids=[c for _, c in BAD_FILES])
def test_a_csv_that_does_not_parse_names_the_file_and_the_cause(tmp_path, text, cause):
    bad = text_file(tmp_path / "train.csv", text)
    with pytest.raises(DataError) as raised:
        train_on(tmp_path, bad)
    assert str(raised.value).startswith(str(bad)), raised.value
    assert cause in str(raised.value)
    assert not checkpoints(tmp_path)


def test_train_and_eval_files_need_the_same_feature_columns(tmp_path):
    train_csv = write_csv(tmp_path / "train.csv", ["a", "b", "label"], GOOD_ROWS)
    eval_csv = write_csv(tmp_path / "eval.csv", ["a", "c", "label"], GOOD_ROWS)
    with pytest.raises(DataError, match=r"only in the first \['b'\], only in the second \['c'\]"):
        train_on(tmp_path, train_csv, eval_csv)


def test_features_are_standardised_with_the_training_files_statistics(tmp_path):
    train_csv = write_csv(
        tmp_path / "train.csv",
        ["a", "b", "const", "label"],
        [[1.0, 10.0, 5.0, 0], [2.0, 20.0, 5.0, 1], [3.0, 60.0, 5.0, 1]],
    )
    # Other column order and other values: reordered to the training file's, never refitted.
    eval_csv = write_csv(
        tmp_path / "eval.csv", ["label", "b", "const", "a"], [[1, 1000.0, 7.0, 9.0]]
    )
    data = load_csv(train_csv, eval_csv, "label")
    np.testing.assert_allclose(data.feature_shift, [2.0, 30.0, 5.0])
    np.testing.assert_allclose(data.feature_scale, [np.std([1, 2, 3]), np.std([10, 20, 60]), 1.0])
    np.testing.assert_array_equal(data.eval_x, [[9.0, 1000.0, 7.0]])  # raw, as in the file
    assert data.n_classes == 2


def test_the_entry_point_reports_a_semicolon_csv_in_one_line(tmp_path):
    bad = text_file(tmp_path / "train.csv", "a;b;label\n1;10;0\n")
    result = run_entry_point(
        f"hydra.run.dir={tmp_path / 'run'}",
        "data=csv",
        f"data.train_path={bad}",
        f"data.eval_path={bad}",
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {bad}: the header 'a;b;label' reads as one column")
    assert "Traceback" not in result.stderr
