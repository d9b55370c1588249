"""Small file helpers: atomic writes (temporary file in the same folder, then ``os.replace``), so a
crash never leaves a half-written artefact under its final name.

* **Temporary files** are named ``.<name>.<random>.tmp`` beside the target (no dot in the random part).
  They are created with mode ``0o666`` and the kernel applies the user's umask (and any default ACL) as
  for any file the user creates, so shared results stay readable to the group; no umask is read or
  changed.
* **Stale temporary files**: a process killed mid-write (SIGKILL, the OOM killer, a cluster's time limit)
  leaves its temporary file behind. The next atomic write of the same target removes them first: files
  of exactly that pattern, for that target name only; nothing else in the folder is touched. One writer
  per target at a time is assumed (Snakemake never runs two jobs with the same output).
* **Failed writes** (disk full, quota, I/O error): the temporary file is removed, the previous file
  under the final name is left as it was, and the error propagates. A full disk or quota becomes a
  :class:`DiskFullError` (a user error: the CLI prints it without a traceback) naming the target and the
  fix; any other ``OSError`` that names no file is given the target's path.
* **Test hook**: when the environment variable ``GMC_TEST_KILL_AT=<point>:<n>`` is set, the process
  kills itself with SIGKILL the ``n``-th time it reaches ``kill_point(<point>)``. Every atomic write is
  a point named after its target (``last.pt``, ``model.pt``, ``log.jsonl``, ``summary.json``,
  ``run.json``, ...), reached when the temporary file is complete and before it is renamed; the
  training engine adds ``step`` (every optimisation step) and ``remove-last.pt``. The tests use it to
  kill real jobs at exact points (``tests/reliability/test_kill_resume.py``). Unset (always, in
  production), a point costs one environment lookup, well under a microsecond.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import secrets
import signal
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gmc.errors import UserError

log = logging.getLogger(__name__)


class DiskFullError(UserError, OSError):
    """No space (or quota) left while writing a file; ``filename`` is the target."""


_points_reached: Counter[str] = Counter()


def kill_point(name: str) -> None:
    """Test hook (module docstring): SIGKILL this process when ``GMC_TEST_KILL_AT`` is ``name:<n>`` and
    this is the ``n``-th call with ``name`` while it is set; otherwise do nothing."""
    kill_at = os.environ.get("GMC_TEST_KILL_AT")
    if not kill_at:
        return
    _points_reached[name] += 1
    if f"{name}:{_points_reached[name]}" == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)


def _temp_pattern(path: Path) -> re.Pattern:
    return re.compile(rf"\.{re.escape(path.name)}\.[^.]+\.tmp")


def remove_stale_temps(path: str | Path) -> list[Path]:
    """Remove the temporary files that killed atomic writes of ``path`` left beside it (names
    ``.<name>.<random>.tmp``, the random part without dots; nothing else); return them."""
    path = Path(path)
    pattern = _temp_pattern(path)
    with os.scandir(path.parent) as entries:
        stale = [Path(e.path) for e in entries if pattern.fullmatch(e.name) and e.is_file()]
    for tmp in stale:
        tmp.unlink(missing_ok=True)
        log.info("removed %s, left by an interrupted write of %s", tmp, path.name)
    return stale


def _new_temp(path: Path) -> Path:
    """Create an empty ``.<name>.<random>.tmp`` beside ``path`` with mode 0o666 less the umask (applied
    by the kernel). ``O_EXCL`` never reuses an existing file; 64 random bits make a clash improbable."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    return tmp


@contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path beside ``path`` for the caller to write; when the block succeeds it is
    renamed to ``path``, else removed and the previous ``path`` (if any) stays as it was. Stale
    temporary files of ``path`` are removed first (module docstring)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    tmp = _new_temp(path)
    try:
        yield tmp
        kill_point(path.name)
        os.replace(tmp, path)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFullError(
                err.errno,
                f"{os.strerror(err.errno)} while writing it (the previous file, if any, is unchanged); "
                "free space or move the results to a larger disk, then rerun",
                str(path),
            ) from err
        if isinstance(err, OSError) and err.errno is not None and err.filename is None:
            err.filename = str(path)  # "[Errno 5] Input/output error: '<path>'"
        raise


def atomic_write(path: str | Path, writer: Callable[[Path], Any]) -> None:
    """Call ``writer(tmp_path)`` then rename the result to ``path``."""
    with atomic_path(path) as tmp:
        writer(tmp)


def write_text(path: str | Path, text: str) -> None:
    atomic_write(path, lambda p: p.write_text(text))


def write_json(path: str | Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def write_csv(path: str | Path, frame) -> None:
    """Write a pandas DataFrame atomically, with a fixed float format for byte-stable output."""
    atomic_write(path, lambda p: frame.to_csv(p, index=False, float_format="%.10g"))
