"""The files a run keeps under model_dir, on a local disk or in a bucket.

Every file estimator_inmemory writes or reads under a model_dir goes through here, with
paths as strings. A path with a scheme (`gs://`, `s3://`, `hdfs://`, TensorFlow's
`ram://`) goes through TensorFlow's filesystem layer (`tf.io.gfile`), as Estimator's own
checkpoints do, so a model_dir in a bucket holds the whole run; a local path goes through
`os`, which needs no TensorFlow (config errors and the report answer before TensorFlow's
start-up).

Files are replaced whole, never written in place: `replaced_whole(path)` gives a temporary
file beside `path` to write, then renames it onto `path`, so a reader, or a kill at any
moment, finds the old file or the new one (on a local disk; a bucket's rename is a copy,
and readers see the old object until it ends). The temporary name is
`.<stem>-<random><suffix>`, so a resumed run can tidy what a kill left (`temporaries`).
"""

from __future__ import annotations

import contextlib
import fnmatch
import io
import os
import re
import shutil
import tempfile
import uuid

_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
# The process's umask, read once at import (on the main thread: setting it to read it is
# not thread-safe). mkstemp creates files readable by their owner only; these get the
# permissions a plain open() would give.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def is_remote(path: str) -> bool:
    """A path TensorFlow's filesystem layer serves (`scheme://...`), not the local disk."""
    return bool(_SCHEME.match(str(path))) and not str(path).startswith("file://")


def _gfile():
    import tensorflow as tf

    return tf.io.gfile


def join(path: str, *parts: str) -> str:
    return os.path.join(str(path), *parts)  # posix joins serve URLs too


def relpath(path: str, start: str) -> str:
    """`path` relative to the folder `start` (both local, or both under one scheme://)."""
    path, start = str(path), str(start).rstrip("/")
    if is_remote(path) or is_remote(start):
        if not path.startswith(start + "/"):
            raise ValueError(f"{path} is not inside {start}")
        return path[len(start) + 1 :]
    return os.path.relpath(path, start)


def dirname(path: str) -> str:
    return os.path.dirname(str(path).rstrip("/"))


def basename(path: str) -> str:
    return os.path.basename(str(path).rstrip("/"))


def exists(path: str) -> bool:
    return _gfile().exists(path) if is_remote(path) else os.path.exists(path)


def isdir(path: str) -> bool:
    return _gfile().isdir(path) if is_remote(path) else os.path.isdir(path)


def isfile(path: str) -> bool:
    return exists(path) and not isdir(path)


def makedirs(path: str) -> None:
    if is_remote(path):
        _gfile().makedirs(path)
    else:
        os.makedirs(path, exist_ok=True)


def listdir(path: str) -> list[str]:
    """The names in a folder (none when it does not exist)."""
    if not isdir(path):
        return []
    names = _gfile().listdir(path) if is_remote(path) else os.listdir(path)
    return sorted(name.rstrip("/") for name in names)


def glob(folder: str, pattern: str) -> list[str]:
    """Paths of the entries of `folder` whose names match `pattern` (fnmatch), sorted."""
    return [join(folder, name) for name in listdir(folder) if fnmatch.fnmatch(name, pattern)]


def remove(path: str) -> None:
    """Remove a file; a missing one is fine."""
    with contextlib.suppress(FileNotFoundError):
        if is_remote(path):
            import tensorflow as tf

            with contextlib.suppress(tf.errors.NotFoundError):
                _gfile().remove(path)
        else:
            os.unlink(path)


def rmtree(path: str) -> None:
    """Remove a folder and everything in it; a missing one is fine."""
    if is_remote(path):
        if _gfile().exists(path):
            _gfile().rmtree(path)
    else:
        shutil.rmtree(path, ignore_errors=True)


def read_text(path: str) -> str:
    if is_remote(path):
        with _gfile().GFile(path, "r") as f:
            return f.read()
    with open(path) as f:
        return f.read()


def read_bytes(path: str) -> bytes:
    if is_remote(path):
        with _gfile().GFile(path, "rb") as f:
            return f.read()
    with open(path, "rb") as f:
        return f.read()


def write_bytes(path: str, data: bytes) -> None:
    """Replace the file with `data`, whole."""
    with replaced_whole(path, "wb") as f:
        f.write(data)


def read_lines(path: str) -> list[str]:
    """The non-empty lines of a text file (none when it does not exist)."""
    if not isfile(path):
        return []
    return [line for line in read_text(path).splitlines() if line.strip()]


def write_text(path: str, text: str) -> None:
    """Replace the file with `text`, whole."""
    with replaced_whole(path) as f:
        f.write(text)


def append_line(path: str, line: str) -> None:
    """Append one line. Buckets cannot append: there the file is replaced whole."""
    append_text(path, line + "\n")


def append_text(path: str, text: str) -> None:
    """Append `text` to a file (created if missing); in a bucket, replace it whole."""
    if is_remote(path):
        old = read_text(path) if exists(path) else ""
        write_text(path, old + text)
        return
    with open(path, "a") as f:
        f.write(text)


def temporaries(folder: str, stem: str) -> list[str]:
    """Temporary files `replaced_whole` left beside `<stem>.*` (a kill mid-write)."""
    return glob(folder, f".{stem}-*")


@contextlib.contextmanager
def replaced_whole(path: str, mode: str = "w"):
    """Open a temporary file beside `path` (mode "w" or "wb"); on success, rename it onto it."""
    path = str(path)
    folder, name = os.path.split(path)
    stem, suffix = os.path.splitext(name)
    if is_remote(path):
        temporary = join(folder, f".{stem}-{uuid.uuid4().hex[:8]}{suffix}")
        buffer = io.BytesIO() if "b" in mode else io.StringIO()
        yield buffer
        try:
            with _gfile().GFile(temporary, mode) as f:
                f.write(buffer.getvalue())
            _gfile().rename(temporary, path, overwrite=True)
        except BaseException:
            remove(temporary)
            raise
        return
    handle, temporary = tempfile.mkstemp(prefix=f".{stem}-", suffix=suffix, dir=folder or ".")
    try:
        os.fchmod(handle, 0o666 & ~_UMASK)
        with os.fdopen(handle, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
