"""A private temp folder for the process, removed when the process ends, however it ends.

TensorFlow writes files into the temp folder while it trains (autograph's converted
functions, `__autograph_generated_file*.py`) and removes them only at a normal exit; a task
the cluster launcher stops, or `kill -9`, leaves them behind, one set per process, for good.
`use_private_tempdir()` points the process (`TMPDIR`, `tempfile.tempdir`) and every child
it starts at a folder of its own inside the temp folder, and starts a small watcher process
that removes that folder once this process has ended: it holds the read end of a pipe whose
write end only this process holds, so the process's end, by any signal, is the pipe's end.
A normal exit removes the folder at once (atexit). No TensorFlow here: the entry point calls
it first.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile

PREFIX = "estimator-inmemory-"
# Set to the folder in the process that made it (and inherited by its children, which make
# their own inside it): a second call in the same process keeps the first folder.
ENVIRONMENT = "ESTIMATOR_INMEMORY_TMPDIR"

# Run by the watcher: argv = the pipe's read end, the folder.
_WATCH = """
import os, shutil, sys
fd, folder = int(sys.argv[1]), sys.argv[2]
try:
    while os.read(fd, 4096):
        pass
except OSError:
    pass
shutil.rmtree(folder, ignore_errors=True)
"""

_alive: list[int] = []  # the pipe's write end: open as long as this process lives


def use_private_tempdir(prefix: str = PREFIX) -> str:
    """Make the temp folder of this process (and its children) its own; return it."""
    if os.environ.get(ENVIRONMENT) == str(os.getpid()) and tempfile.tempdir:
        return tempfile.tempdir
    folder = tempfile.mkdtemp(prefix=prefix, dir=tempfile.gettempdir())
    read_end, write_end = os.pipe()  # neither end is inherited by other children
    subprocess.Popen(
        [sys.executable, "-c", _WATCH, str(read_end), folder],
        pass_fds=(read_end,),
        cwd="/",  # not inside the folder it removes
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # Ctrl-C or a launcher's signal to the group spares it
    )
    os.close(read_end)
    _alive.append(write_end)
    os.environ["TMPDIR"] = folder
    os.environ[ENVIRONMENT] = str(os.getpid())
    tempfile.tempdir = folder
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder
