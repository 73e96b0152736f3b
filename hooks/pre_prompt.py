"""Lay the project skeleton out where cookiecutter looks for it.

cookiecutter only finds a skeleton among the direct children of the folder holding
cookiecutter.json, but this repository keeps it under template/ and keeps the Hydra
configs (conf/) and the training image (Dockerfile) once, at the top. Symbolic links
join them (`{{cookiecutter.project_slug}}` -> template/..., template/.../conf -> conf),
which serves `git clone`, local paths, `--accept-hooks no` and cruft. Zip archives
unpacked by Python lose those links, so this hook, which runs in cookiecutter's
private copy of the repository before any question is asked, rebuilds the layout
from the real files whatever state the links are in.
"""

import shutil
from pathlib import Path

SKELETON_NAME = "{{cookiecutter.project_slug}}"
SHARED = ("conf", "Dockerfile")  # top-level files every generated project receives
# Tells the other hooks this folder is cookiecutter's throwaway copy (see pre_gen_project).
COPY_MARKER = ".cookiecutter-repo-copy"


def replace(target: Path, source: Path) -> None:
    if target.is_symlink() or target.is_file():
        target.unlink()
    elif target.is_dir():
        shutil.rmtree(target)
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        shutil.copy2(source, target)


def main() -> None:
    skeleton = Path("template") / SKELETON_NAME
    exposed = Path(SKELETON_NAME)
    replace(exposed, skeleton)
    for name in SHARED:
        if Path(name).exists():
            replace(exposed / name, Path(name))
    Path(COPY_MARKER).touch()


if __name__ == "__main__":
    main()
