"""Lay the project skeleton out where cookiecutter looks for it, and make sure cookiecutter's
private copy of the repository does not outlive the run.

cookiecutter only finds a skeleton among the direct children of the folder holding
cookiecutter.json, but this repository keeps it under template/ and keeps the Hydra
configs (conf/), the training image (Dockerfile), the dependency locks (locks/) and the
library every project installs (estimator_inmemory/) once, at the top. Symbolic links join them (`{{cookiecutter.project_slug}}` -> template/...,
template/.../conf -> conf, ...), which serves `git clone`, local paths,
`--accept-hooks no` and cruft. Zip archives unpacked by Python lose those links, so this
hook, which runs in cookiecutter's private copy of the repository before any question is
asked, rebuilds the layout from the real files whatever state the links are in.

That private copy is `<TMPDIR>/cookiecutterXXXX/<repository>` (cookiecutter 2.7.1,
hooks.run_pre_prompt_hook -> utils.create_tmp_repo_dir). cookiecutter removes only
`<repository>` and only on success: the `cookiecutterXXXX` folder always stays, and the
whole copy stays when generation stops (an answer cookiecutter itself rejects, a failing
hook, Ctrl-C). No later hook can fix that (post_gen runs before cookiecutter's own
removal, which fails if the folder is already gone; cookiecutter's refusals run no hook
at all), so this hook starts a small detached process that waits for the copy to be
removed or for cookiecutter to exit, then removes the folder.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SKELETON_NAME = "{{cookiecutter.project_slug}}"
# What every generated project receives from the top of this repository: its name in the
# project -> its source here (the library's distribution folder, conf/, the Dockerfile, locks/).
SHARED = {
    "conf": "conf",
    "Dockerfile": "Dockerfile",
    "locks": "locks",
    "estimator-inmemory": "estimator_inmemory",
}

# What a working copy may hold that no project needs (post_gen_project removes them too,
# for cruft, which copies through the links).
CACHES = ("__pycache__", "*.pyc", ".pytest_cache", ".ruff_cache", "*.egg-info", "build", "dist")

# Run by a detached `python -c`: argv = cookiecutter's pid, the copy, the folder holding it.
CLEANUP = """
import os, select, shutil, sys, time
from pathlib import Path

pid, copy, holder = int(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
try:
    exited = select.poll()
    exited.register(os.pidfd_open(pid), select.POLLIN)
    wait = lambda: exited.poll(100)
except (AttributeError, OSError):  # no pidfd: check the pid every 0.1 s instead
    def wait():
        time.sleep(0.1)
        try:
            os.kill(pid, 0)
            return False
        except ProcessLookupError:
            return True
# On success cookiecutter removes the copy itself and the folder is then empty; when the
# process ends first, generation stopped and the copy is removed with the folder.
while copy.exists() and not wait():
    pass
shutil.rmtree(holder, ignore_errors=True)
"""


def replace(target: Path, source: Path) -> None:
    if target.is_symlink() or target.is_file():
        target.unlink()
    elif target.is_dir():
        shutil.rmtree(target)
    if source.is_dir():
        shutil.copytree(source, target, ignore=shutil.ignore_patterns(*CACHES))
    else:
        shutil.copy2(source, target)


def remove_copy_when_done(copy: Path) -> None:
    holder = copy.parent
    # Only ever cookiecutter's own mkdtemp folder (never a user's checkout).
    if not (
        holder.name.startswith("cookiecutter")
        and holder.parent == Path(tempfile.gettempdir()).resolve()
    ):
        return
    subprocess.Popen(
        [sys.executable, "-c", CLEANUP, str(os.getppid()), str(copy), str(holder)],
        cwd="/",  # not inside the folder it removes
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,  # a caller capturing cookiecutter's output must not wait
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # Ctrl-C at a prompt stops cookiecutter, not the cleanup
    )


def main() -> None:
    skeleton = Path("template") / SKELETON_NAME
    exposed = Path(SKELETON_NAME)
    replace(exposed, skeleton)
    for name, source in SHARED.items():
        if Path(source).exists():
            replace(exposed / name, Path(source))
    remove_copy_when_done(Path.cwd().resolve())


if __name__ == "__main__":
    main()
