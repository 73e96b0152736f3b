"""Data: CSV files standardised with the training split's statistics; a file that does not
parse stops training with a `DataError` naming the file and the likely cause; the input
functions give each training task its own part of the data, and evaluate once through."""

import numpy as np
import pytest
import tensorflow as tf

from estimator_inmemory import (
    ConfigError,
    DataError,
    Dataset,
    EstimatorInMemoryError,
    eval_input_fn,
    load_csv,
    train_input_fn,
)
from helpers import (
    checkpoints,
    compose_train,
    run_entry_point,
    train,
    without_tensorflow,
    write_csv,
)

GOOD_ROWS = [[1.0, 10.0, 0], [2.0, 20.0, 1], [3.0, 40.0, 1]]


def text_file(path, text):
    path.write_text(text)
    return path


def train_on(tmp_path, train_csv, eval_csv=None, *overrides):
    eval_csv = eval_csv or write_csv(tmp_path / "eval.csv", ["a", "b", "label"], GOOD_ROWS)
    cfg = compose_train(
        "data=csv", f"data.train_path={train_csv}", f"data.eval_path={eval_csv}", *overrides
    )
    return train(cfg, tmp_path / "run")


BAD_FILES = [
    ("a;b;label\n1;10;0\n2;20;1\n", "looks separated by semicolons, but it must be comma-"),
    ("a\tb\tlabel\n1\t10\t0\n", "looks separated by tabs"),
    ("a|b|label\n1|10|0\n", "looks separated by pipes"),
    ("label\n1\n", "only one column ('label')"),
    ("1,10,0\n2,20,1\n", "has no header row: its first line holds numbers"),
    ("a,b,label\n1,10,0\n2,ten,1\n", "line 3: column 'b' holds 'ten', which is not a number"),
    ("a,b,label\n1,10,0\n2,,1\n", "line 3: column 'b' is empty"),
    ("a,b,label\n1,10,0\n2,inf,1\n", "line 3: column 'b' holds 'inf', which is not a finite"),
    ("a,b,label\n1,10,0\n2,20\n", "line 3 has 2 cells, but the header has 3 columns"),
    ("a,b,y\n1,10,0\n", "has no column 'label' (data.label_column); it has ['a', 'b', 'y']"),
    ("a,b,label\n1,10,0.5\n", "line 2: column 'label' holds 0.5, but classification needs"),
    ("a,b,label\n1,10,-1\n", "line 2: column 'label' holds -1, but classification needs"),
    ("a,b,label\n", "has a header row but no data rows"),
    ("a,a,label\n1,10,0\n", "every column needs its own name"),
    ("a,,label\n1,10,0\n", "every column needs its own name"),
    ('a,b,label\n1,"10\n",0\n2,x,1\n', "line 4: column 'b' holds 'x'"),  # a quoted newline
    ("a,b,label\n\n1,10,0\n\n2,x,1\n", "line 5: column 'b' holds 'x'"),  # blank lines counted
    ("", "is empty"),
]


@pytest.mark.parametrize("text, cause", BAD_FILES, ids=[c for _, c in BAD_FILES])
def test_a_csv_that_does_not_parse_names_the_file_and_the_cause(tmp_path, text, cause):
    bad = text_file(tmp_path / "train.csv", text)
    with pytest.raises(DataError) as raised:
        train_on(tmp_path, bad)
    assert str(raised.value).startswith(str(bad)), raised.value
    assert cause in str(raised.value)
    assert isinstance(raised.value, EstimatorInMemoryError)
    assert not checkpoints(tmp_path)


def test_a_file_that_is_not_utf8_is_named(tmp_path):
    bad = tmp_path / "train.csv"
    bad.write_bytes("a,b,label\n1,10,0\n2,\xe9,1\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"train\.csv is not UTF-8 text \(invalid continuation"):
        train_on(tmp_path, bad)
    assert not checkpoints(tmp_path)


@pytest.mark.parametrize(
    "path, cause",
    [
        ("nowhere.csv", "does not exist (data.train_path / data.eval_path)"),
        (".", "is a directory, not a CSV file (data.train_path / data.eval_path name one file"),
    ],
)
def test_a_path_that_is_no_file_names_the_keys(tmp_path, path, cause):
    with pytest.raises(DataError) as raised:
        train_on(tmp_path, tmp_path / path)
    assert str(raised.value).startswith(f"data file {tmp_path / path} {cause}"), raised.value
    assert not checkpoints(tmp_path)


def test_excels_byte_order_mark_line_ends_and_spaces_around_names_are_read(tmp_path):
    train_csv = tmp_path / "train.csv"
    train_csv.write_bytes("\ufeffa , b,label\r\n1,10,0\r\n2,20,1\r\n\r\n".encode())  # Excel
    eval_csv = write_csv(tmp_path / "eval.csv", ["b", "a", "label"], [[30.0, 3.0, 1]])
    data = load_csv(train_csv, eval_csv, "label")
    np.testing.assert_array_equal(data.train_x, [[1, 10], [2, 20]])
    np.testing.assert_array_equal(data.eval_x, [[3, 30]])
    assert data.train_y.dtype == np.int32 and data.n_classes == 2


def test_train_and_eval_files_need_the_same_feature_columns(tmp_path):
    train_csv = write_csv(tmp_path / "train.csv", ["a", "b", "label"], GOOD_ROWS)
    eval_csv = write_csv(tmp_path / "eval.csv", ["a", "c", "label"], GOOD_ROWS)
    with pytest.raises(DataError, match=r"only in the first \['b'\], only in the second \['c'\]"):
        train_on(tmp_path, train_csv, eval_csv)
    assert not checkpoints(tmp_path)


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


def test_a_regression_csv_keeps_float_targets_and_has_no_classes(tmp_path):
    rows = [[1.0, 0.25], [2.0, 7.5], [3.0, -1.0]]
    train_csv = write_csv(tmp_path / "train.csv", ["a", "y"], rows)
    data = load_csv(train_csv, train_csv, "y", task="regression")
    assert (data.task, data.n_classes) == ("regression", 0)
    assert data.train_y.dtype == np.float32
    np.testing.assert_array_equal(data.train_y, [0.25, 7.5, -1.0])


def test_an_unknown_task_is_a_config_error(tmp_path):
    train_csv = write_csv(tmp_path / "train.csv", ["a", "label"], GOOD_ROWS[:1])
    with pytest.raises(ConfigError, match="data.task must be one of classification, regression"):
        load_csv(train_csv, train_csv, "label", task="ranking")
    x, y = np.zeros((2, 1), np.float32), np.zeros(2, np.int32)
    with pytest.raises(ConfigError, match="got 'ranking'"):
        Dataset(x, y, x, y, n_classes=1, task="ranking")


def batches(input_fn) -> list[tuple[np.ndarray, np.ndarray]]:
    """What an input_fn yields, as numpy: (features x, labels) per batch."""
    return [(f["x"], y) for f, y in input_fn().as_numpy_iterator()]


def small_data(n=10) -> Dataset:
    x = np.arange(n, dtype=np.float32).reshape(n, 1)
    return Dataset(x, np.arange(n, dtype=np.int32), x[:7], np.arange(7, dtype=np.int32), 10)


def test_each_training_task_reads_its_own_part_of_the_data():
    data = small_data()
    seen = []
    for shard in range(3):
        ds = train_input_fn(data, batch_size=4, seed=1, shards=3, shard=shard)().unbatch()
        # Endless: one pass over a part is its first len(part) examples, each once.
        part = [int(y) for _, y in ds.take(len(range(shard, 10, 3))).as_numpy_iterator()]
        assert sorted(part) == list(range(shard, 10, 3))
        seen += part
    assert sorted(seen) == list(range(10))  # the parts do not overlap and leave nothing out


def test_training_batches_are_shuffled_by_the_seed_and_repeat():
    data = small_data()

    def first_examples(seed):
        ds = train_input_fn(data, batch_size=5, seed=seed)()
        return [int(y) for _, ys in ds.take(4).as_numpy_iterator() for y in ys]

    one = first_examples(1)
    assert len(one) == 20 and sorted(one) == sorted(list(range(10)) * 2)  # each epoch whole
    assert one == first_examples(1)
    assert one != first_examples(2)


def test_evaluation_reads_the_eval_split_once_in_order():
    data = small_data()
    got = batches(eval_input_fn(data, batch_size=3))
    assert [len(y) for _, y in got] == [3, 3, 1]
    np.testing.assert_array_equal(np.concatenate([x for x, _ in got]), data.eval_x)
    assert all(x.dtype == np.float32 and tf.as_dtype(y.dtype) == tf.int32 for x, y in got)


def test_the_entry_point_reports_a_semicolon_csv_in_one_line(tmp_path):
    bad = text_file(tmp_path / "train.csv", "a;b;label\n1;10;0\n")
    result = run_entry_point(
        f"hydra.run.dir={tmp_path / 'run'}",
        "data=csv",
        f"data.train_path={bad}",
        f"data.eval_path={bad}",
        check=False,
        env=without_tensorflow(tmp_path / "no_tensorflow"),  # data errors come before it
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"error: {bad}: the header 'a;b;label' reads as one column")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()  # the failed attempt's folder is discarded
