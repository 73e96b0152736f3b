"""Write or check the dependency lock of every supported TF version (locks/tf<X.Y>.txt).

    python tests/lock.py            # `tox -e lock`: update the locks where pyproject.toml changed
    python tests/lock.py --upgrade  # `tox -e lock -- --upgrade`: newest versions everywhere
    python tests/lock.py --check    # `tox -e lock -- --check`: exit 1 if a lock is stale

A lock is stale when resolving the generated pyproject.toml again, seeded with the lock,
changes it (a dependency added, removed or re-ranged), or when the TF table in
cookiecutter.json and the files in locks/ disagree.
"""

from __future__ import annotations

import argparse
import difflib
import sys
import tempfile
from pathlib import Path

from template_repo import LOCKS_DIR, SUPPORTED_TF, compile_lock, lock_path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="change nothing; exit 1 if stale")
    mode.add_argument("--upgrade", action="store_true", help="resolve without the old pins")
    parser.add_argument("tf_versions", nargs="*", default=SUPPORTED_TF, metavar="TF_VERSION")
    args = parser.parse_args()

    stale = []
    for tf_version in args.tf_versions:
        if tf_version not in SUPPORTED_TF:
            parser.error(f"TF {tf_version} is not in cookiecutter.json's _tensorflow table")
        path = lock_path(tf_version)
        with tempfile.TemporaryDirectory(prefix="lock-") as workdir:
            fresh = compile_lock(tf_version, Path(workdir), upgrade=args.upgrade)
        current = path.read_text() if path.is_file() else ""
        if fresh == current:
            print(f"{path.relative_to(LOCKS_DIR.parent)}: up to date")
            continue
        if args.check:
            stale.append(path)
            diff = difflib.unified_diff(
                current.splitlines(keepends=True),
                fresh.splitlines(keepends=True),
                str(path.name),
                f"{path.name} from pyproject.toml",
            )
            sys.stdout.writelines(diff)
        else:
            path.parent.mkdir(exist_ok=True)
            path.write_text(fresh)
            print(f"{path.relative_to(LOCKS_DIR.parent)}: written")
    unsupported = sorted(
        {p.stem.removeprefix("tf") for p in LOCKS_DIR.glob("tf*.txt")} - set(SUPPORTED_TF)
    )
    for tf_version in unsupported:
        if args.check:
            stale.append(lock_path(tf_version))
            print(f"{lock_path(tf_version).name}: TF {tf_version} is no longer supported")
        else:
            lock_path(tf_version).unlink()
            print(f"{lock_path(tf_version).name}: removed (TF {tf_version} is not supported)")
    if stale:
        print(f"stale: {', '.join(p.name for p in stale)}: run `tox -e lock` and commit locks/")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
