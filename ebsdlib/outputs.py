"""What the commands write for a user: never over a file they did not write, and never half.

Every command that writes into a folder the user names (``ebsdlib simulate --out``, ``train --out``,
``classify --out``, ``same-seed --folder``) writes into a temporary sibling and publishes it with a rename
when it is complete, so a run that fails or is interrupted leaves the earlier result as it was. A published
folder holds a record (:data:`RECORD`) of the command and of every file it wrote, with its size and SHA-256.
A later run of the same command may replace that folder only while it holds nothing else: a file the
command did not write, or one changed since, makes it refuse with a message naming the file, before any
work is done. A single file (``simulate --scan``) is written to a temporary sibling and renamed into place;
an existing file is replaced only when the user says so.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from ebsdlib.cache import file_digest

__all__ = ["RECORD", "OutputError", "check_output_folder", "check_output_files", "publish_folder", "publish_files"]

#: The record of what a command wrote into its output folder.
RECORD = ".ebsdlib-output.json"


class OutputError(ValueError):
    """An output path that would overwrite something the command did not write; the message says what to do."""


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if (p.is_file() or p.is_symlink()) and p.name != RECORD)


def _record(folder: Path, command: str) -> dict:
    return {
        "command": command,
        "files": {p.relative_to(folder).as_posix(): {"size": p.stat().st_size, "sha256": file_digest(p)} for p in _files(folder)},
    }


def check_output_folder(folder: str | Path, command: str, option: str = "--out") -> None:
    """Refuse ``folder`` as the output of ``ebsdlib <command>`` unless it is missing, empty, or holds exactly
    what an earlier run of the same command wrote there (its record, every file unchanged).

    Raises
    ------
    OutputError
        Naming the folder and the first files that are not the command's own.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> check_output_folder(folder, "classify")  # empty: fine
    >>> _ = (folder / "notes.txt").write_text("mine")
    >>> check_output_folder(folder, "classify")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ebsdlib.outputs.OutputError: --out ... holds files that `ebsdlib classify` did not write (notes.txt); name a new or empty folder, or move them away
    """
    folder = Path(folder)
    if folder.is_symlink() and not folder.exists():
        raise OutputError(f"{option} {folder} is a symbolic link that leads nowhere (broken, or a loop); name a folder")
    if not folder.exists():
        return
    if not folder.is_dir():
        raise OutputError(f"{option} {folder} is a file; name a folder")
    try:
        present = _files(folder)
    except OSError as err:
        raise OutputError(f"{option} {folder} cannot be read ({err.strerror or err}); name another folder") from None
    if not present and not (folder / RECORD).exists():
        return
    try:
        record = json.loads((folder / RECORD).read_text())
        own = record["files"] if record.get("command") == command else {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        own = {}
    foreign = []
    for path in present:
        name = path.relative_to(folder).as_posix()
        mine = own.get(name)
        if not mine or path.is_symlink() or path.stat().st_size != mine.get("size") or file_digest(path) != mine.get("sha256"):
            foreign.append(name)
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise OutputError(
            f"{option} {folder} holds files that `ebsdlib {command}` did not write ({shown}); "
            "name a new or empty folder, or move them away"
        )


@contextlib.contextmanager
def publish_folder(folder: str | Path, command: str, option: str = "--out"):
    """Yield a temporary folder beside ``folder`` to fill; when the block ends without error, record its files
    and put it in the place of ``folder`` (a rename; an earlier result of the same command is removed only
    then). On an error nothing changes at ``folder``. ``folder`` is checked first (:func:`check_output_folder`)."""
    folder = Path(folder)
    check_output_folder(folder, command, option)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.writing-", dir=folder.parent))
    try:
        yield tmp
        (tmp / RECORD).write_text(json.dumps(_record(tmp, command), indent=1))
        check_output_folder(folder, command, option)  # nothing else arrived there meanwhile
        old = None
        if folder.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old-", dir=folder.parent))
            os.replace(folder, old / "previous")
        os.replace(tmp, folder)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def check_output_files(paths, replace: bool = False, option: str = "--scan") -> None:
    """Refuse output files that exist (unless ``replace``) or are folders, before any work is done."""
    paths = [Path(p) for p in paths]
    for path in paths:
        if path.is_dir():
            raise OutputError(f"{option}: {path} is a folder; name a file")
    existing = [p for p in paths if p.exists() or p.is_symlink()]
    if existing and not replace:
        raise OutputError(
            f"{option}: {existing[0]} exists; name a new file, or add --overwrite to replace "
            + ("it" if len(existing) == 1 else "it and " + ", ".join(str(p) for p in existing[1:]))
        )


def publish_files(targets: dict[str, Path], write, replace: bool = False, option: str = "--scan") -> None:
    """Write the files ``targets`` (name → final path) through ``write(temporary paths)`` and rename each into
    place when all are written. An existing target is refused unless ``replace``; on an error the targets are
    left as they were."""
    targets = {name: Path(path) for name, path in targets.items()}
    check_output_files(targets.values(), replace, option)
    temporary = {}
    try:
        for name, path in targets.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.writing-", suffix=path.suffix, dir=path.parent)
            os.close(handle)
            os.unlink(tmp)  # the writer makes the file (some refuse an existing one)
            temporary[name] = Path(tmp)
        write(temporary)
        for name, path in targets.items():
            os.replace(temporary[name], path)
    finally:
        for tmp in temporary.values():
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
