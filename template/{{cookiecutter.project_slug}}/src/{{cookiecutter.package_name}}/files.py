"""Files a run folder holds are replaced whole, never written in place.

`replaced_whole(path)` gives a temporary file beside `path` to write, then renames it onto
`path`: a reader, or a kill at any moment, finds the old file or the new one, never part of
one. The temporary name is `.<stem>-<random><suffix>`, so a resumed run can tidy what a
kill left.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

# The process's umask, read once at import (on the main thread: setting it to read it is
# not thread-safe). mkstemp creates files readable by their owner only; these get the
# permissions a plain open() would give.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


@contextlib.contextmanager
def replaced_whole(path: Path, mode: str = "w"):
    """Open a temporary file beside `path` (mode "w" or "wb"); on success, rename it onto it."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(
        prefix=f".{path.stem}-", suffix=path.suffix, dir=path.parent
    )
    try:
        os.fchmod(handle, 0o666 & ~_UMASK)
        with os.fdopen(handle, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
