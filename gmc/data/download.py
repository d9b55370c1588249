"""Robust HTTP downloads and the archive lock file.

:func:`download` streams a URL to ``<dest>.part`` with a progress bar, resumes a partial file with an
HTTP ``Range`` request, retries dropped connections and server errors a bounded number of times with
exponential backoff, applies connect/read timeouts (a stalled server ends with
:class:`StalledDownloadError` after ``read timeout x (retries + 1)`` seconds at most), checks the free
disk space, and only renames the file to ``dest`` once it is complete and its sha256 matches what is
pinned or recorded. A mismatch raises :class:`ChecksumError` naming the file and both hashes, and the
bad file is deleted: nothing half-written or corrupt ever sits under the final name.

A host that cannot be reached at all is not retried: a host name that cannot be resolved (DNS failure:
no network, or a wrong URL) or a network that is unreachable (``ENETUNREACH``/``ENETDOWN``: no network
connection) ends the attempt at once with :class:`HostUnreachableError`, so a fetch moves on to the next
mirror (or ends with its clear error) without minutes of backoff. It is recognised by walking the
exception chain (``socket.gaierror``, urllib3's ``NameResolutionError``, the errno), with the usual
resolver messages as a fallback. A refused connection or a server error is still retried: the server
exists and may be restarting.

:class:`HashLock` is the lock file (``resources/datasets/lock.json``): the sha256, size and URL of every
archive, recorded the first time it is fetched and checked every time after; updated atomically
(temporary file + rename) under an advisory file lock so parallel fetches do not lose entries.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import tempfile
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

from gmc.errors import UserError

log = logging.getLogger(__name__)

#: free space kept in reserve beyond what a download or extraction needs
SPACE_MARGIN = 64 * 2**20
DEFAULT_TIMEOUT = (15.0, 60.0)  # (connect, read) seconds
USER_AGENT = "gmc-iqa-bench (+https://github.com; dataset fetcher)"


class DownloadError(UserError, RuntimeError):
    """A download failed for good; the message names the URL and the cause (the command line prints it
    without a traceback, :class:`gmc.errors.UserError`)."""


class HTTPStatusError(DownloadError):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class StalledDownloadError(DownloadError):
    """The server stopped sending data for longer than the read timeout (on every attempt)."""


class HostUnreachableError(DownloadError):
    """The host cannot be reached at all (its name does not resolve, or there is no network): not retried."""

    def __init__(self, message: str, host: str) -> None:
        super().__init__(message)
        self.host = host


class ChecksumError(DownloadError):
    """A file's sha256 differs from the pinned or recorded one."""

    def __init__(
        self, name: str, expected: str, actual: str, origin: str, removed: Path | None = None
    ) -> None:
        self.name, self.expected, self.actual, self.origin = name, expected, actual, origin
        what = f"the file was removed ({removed})" if removed else "the file was not used"
        super().__init__(
            f"sha256 mismatch for {name}: expected {expected} ({origin}), got {actual}; {what}. If the "
            "upstream archive legitimately changed, delete its entry from the lock file and fetch again."
        )


class InsufficientSpaceError(DownloadError, OSError):
    """The file system has too little free space for a download or an extraction."""


def sha256_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(chunk_size), b""):
            h.update(chunk)
    return h.hexdigest()


def check_free_space(folder: str | Path, needed: int, what: str = "") -> None:
    """Raise :class:`InsufficientSpaceError` when ``folder``'s file system has less than ``needed`` bytes
    (plus :data:`SPACE_MARGIN`) free."""
    folder = Path(folder)
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if needed + SPACE_MARGIN > free:
        raise InsufficientSpaceError(
            f"not enough free space in {folder} for {what or 'the download'}: need {_size(needed)} "
            f"(+{_size(SPACE_MARGIN)} reserve), {_size(free)} free; free some space or point the dataset "
            "folder elsewhere"
        )


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


# ------------------------------------------------------------------------------------------- lock file
@contextmanager
def _file_lock(path: Path):
    """Advisory exclusive lock on ``path`` (POSIX); a no-op where fcntl is unavailable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class HashLock:
    """The JSON lock file: ``{"version": 1, "archives": {"<dataset>/<file>": {"sha256", "size", "url",
    "recorded"}}}``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._guard = self.path.with_name(f".{self.path.name}.lck")

    def _read(self) -> dict:
        if not self.path.exists():
            return {"version": 1, "archives": {}}
        try:
            data = json.loads(self.path.read_text())
        except json.JSONDecodeError as err:
            raise DownloadError(f"lock file {self.path} is not valid JSON ({err}); fix or delete it") from err
        data.setdefault("archives", {})
        return data

    def entries(self) -> dict[str, dict]:
        return dict(self._read()["archives"])

    def get(self, name: str) -> str | None:
        entry = self._read()["archives"].get(name)
        return entry.get("sha256") if entry else None

    def record(self, name: str, sha256: str, **info) -> None:
        """Record ``name``'s hash (atomic read-modify-write). An existing different hash is an error."""
        with _file_lock(self._guard):
            data = self._read()
            old = data["archives"].get(name, {}).get("sha256")
            if old and old != sha256:
                raise ChecksumError(name, old, sha256, f"recorded in {self.path}")
            if old == sha256:
                return
            entry = {"sha256": sha256, "recorded": datetime.now(UTC).isoformat(timespec="seconds")}
            entry.update({k: v for k, v in info.items() if v is not None})
            data["archives"][name] = entry
            data["archives"] = dict(sorted(data["archives"].items()))
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w") as fh:
                    json.dump(data, fh, indent=2, sort_keys=True)
                    fh.write("\n")
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise

    def expected(self, name: str, pinned: str | None = None) -> list[tuple[str, str]]:
        """The (hash, origin) pairs ``name`` must match: the pinned one and the recorded one."""
        out = []
        if pinned:
            out.append((pinned.lower(), "pinned"))
        recorded = self.get(name)
        if recorded:
            out.append((recorded, f"recorded in {self.path}"))
        return out


def verify_file(
    path: str | Path,
    name: str,
    lock: HashLock | None,
    pinned: str | None = None,
    *,
    remove_on_mismatch: bool = True,
    url: str | None = None,
    record: bool = True,
) -> str:
    """Hash ``path``, check it against the pinned and recorded hashes (removing it on a mismatch when
    ``remove_on_mismatch``), then record it in the lock (when ``record``). Returns the sha256."""
    path = Path(path)
    actual = sha256_file(path)
    checks = lock.expected(name, pinned) if lock else ([(pinned.lower(), "pinned")] if pinned else [])
    for expected, origin in checks:
        if actual != expected:
            removed = None
            if remove_on_mismatch:
                path.unlink(missing_ok=True)
                removed = path
            raise ChecksumError(name, expected, actual, origin, removed)
    if lock and record:
        lock.record(name, actual, size=path.stat().st_size, url=url)
    return actual


# -------------------------------------------------------------------------------------------- download
class _Retry(Exception):
    """A transient failure worth another attempt."""


_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


def _stalled(err: BaseException) -> bool:
    import requests

    if isinstance(err, requests.Timeout):
        return True
    text = f"{err!r} {err.__cause__!r} {err.__context__!r}".lower()
    return "timed out" in text or "timeout" in text


#: errno values that mean this machine has no usable network (not a problem of one server)
_NO_NETWORK_ERRNOS = frozenset({errno.ENETUNREACH, errno.ENETDOWN})
#: resolver messages (glibc, macOS/BSD, Windows, urllib3), for errors that lost their gaierror
_DNS_MESSAGES = (
    "name or service not known",
    "temporary failure in name resolution",
    "nodename nor servname provided",
    "no address associated with hostname",
    "getaddrinfo failed",
    "failed to resolve",
)


def _causes(err: BaseException):
    """``err`` and every exception it wraps (``__cause__``, ``__context__``, urllib3's ``reason``, exceptions
    in ``args``), each once."""
    seen, todo = set(), [err]
    while todo:
        e = todo.pop(0)
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        linked = [e.__cause__, e.__context__, getattr(e, "reason", None), *getattr(e, "args", ())]
        todo += [x for x in linked if isinstance(x, BaseException)]


def _unreachable(err: BaseException) -> tuple[str, BaseException] | None:
    """``("dns", cause)`` when ``err`` comes from a host name that could not be resolved, ``("network",
    cause)`` when this machine has no route to any network, else None (a failure worth retrying)."""
    try:
        from urllib3.exceptions import NameResolutionError
    except ImportError:  # pragma: no cover - urllib3 < 2
        NameResolutionError = socket.gaierror  # noqa: N806
    chain = list(_causes(err))
    for e in chain:
        if isinstance(e, socket.gaierror):
            return "dns", e
    for e in chain:
        if isinstance(e, NameResolutionError):
            return "dns", e
        if isinstance(e, OSError) and e.errno in _NO_NETWORK_ERRNOS:
            return "network", e
    text = " ".join(str(e) for e in chain).lower()
    if any(m in text for m in _DNS_MESSAGES):
        return "dns", err
    if "network is unreachable" in text:
        return "network", err
    return None


def _unreachable_error(
    url: str, err: BaseException, why: str, cause: BaseException, kept: str
) -> HostUnreachableError:
    # urllib3 names the host it failed to resolve (a proxy's, when one is set); else the URL's host
    named = [h for e in _causes(err) if isinstance(h := getattr(e, "_host", None), str)]
    host = named[0] if named else urlparse(url).hostname or url
    if why == "dns":
        what = f"the host name {host!r} could not be resolved (no network, or a wrong URL)"
    else:
        what = f"the network is unreachable (this machine has no network connection) to reach {host!r}"
    return HostUnreachableError(
        f"download of {url} failed: {what}: {cause}; not retried{kept}. Check the network and the URL, or "
        "set datasets.<key>.source to a reachable mirror or a local copy",
        host,
    )


def download(
    url: str,
    dest: str | Path,
    *,
    sha256: str | None = None,
    lock: HashLock | None = None,
    lock_name: str | None = None,
    timeout: tuple[float, float] | float = DEFAULT_TIMEOUT,
    retries: int = 4,
    backoff: float = 2.0,
    max_backoff: float = 60.0,
    progress: bool = True,
    chunk_size: int = 1 << 18,
    session=None,
    record: bool = True,
    reject_html: bool = True,
) -> Path:
    """Download ``url`` to ``dest`` (see the module docstring). ``lock_name`` is the file's key in the
    lock (default: ``dest``'s name). Returns ``dest``. An existing complete ``dest`` is verified against
    the lock instead of being downloaded again. ``record=False`` checks the lock without adding the hash
    (the caller records it once the file proved usable, e.g. extracted). ``reject_html``: an HTML answer
    for a non-HTML file (a login or confirmation page) is an error, not a download."""
    import requests
    from tqdm.auto import tqdm

    dest = Path(dest)
    name = lock_name or dest.name
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        verify_file(dest, name, lock, sha256, url=url, record=record)
        return dest
    part = dest.with_name(dest.name + ".part")
    timeout = (float(timeout), float(timeout)) if isinstance(timeout, (int, float)) else tuple(timeout)
    own_session = session is None
    session = session or requests.Session()
    session.headers.setdefault("User-Agent", USER_AGENT)
    attempt, last_error, restarts = 0, None, 0
    try:
        while True:
            offset = part.stat().st_size if part.exists() else 0
            headers = {"Accept-Encoding": "identity"}
            if offset:
                headers["Range"] = f"bytes={offset}-"
            try:
                with session.get(
                    url, headers=headers, stream=True, timeout=timeout, allow_redirects=True
                ) as r:
                    if r.status_code == 416 and offset:
                        m = re.match(r"bytes\s+\*/(\d+)", r.headers.get("Content-Range", ""))
                        if m and int(m.group(1)) == offset:
                            break  # the partial file is already complete
                        part.unlink(missing_ok=True)  # stale partial file: start again
                        restarts += 1
                        if restarts > 2:
                            raise DownloadError(f"{url}: the server keeps refusing byte ranges (HTTP 416)")
                        continue
                    if r.status_code in (408, 425, 429) or r.status_code >= 500:
                        raise _Retry(f"HTTP {r.status_code} {r.reason}")
                    if r.status_code >= 400:
                        raise HTTPStatusError(
                            f"download of {url} failed: HTTP {r.status_code} {r.reason}. Check the URL, "
                            "or set datasets.<key>.source to a mirror or a local copy",
                            r.status_code,
                        )
                    ctype = r.headers.get("Content-Type", "")
                    if (
                        reject_html
                        and ctype.startswith("text/html")
                        and not name.lower().endswith((".html", ".htm"))
                    ):
                        raise DownloadError(
                            f"{url} returned an HTML page (Content-Type {ctype}) instead of the file: the "
                            "link probably needs a browser (login, form or confirmation page). Download it "
                            "by hand and set datasets.<key>.source to the file"
                        )
                    total = None
                    if offset and r.status_code == 206:
                        m = _CONTENT_RANGE.match(r.headers.get("Content-Range", ""))
                        if not m or int(m.group(1)) != offset:
                            part.unlink(missing_ok=True)
                            raise _Retry(
                                f"bad Content-Range {r.headers.get('Content-Range')!r} for offset {offset}"
                            )
                        total = int(m.group(3)) if m.group(3) != "*" else None
                        mode = "ab"
                    else:
                        if offset:
                            log.info("%s: server ignored the Range request; starting again", url)
                        offset, mode = 0, "wb"
                        length = r.headers.get("Content-Length")
                        total = int(length) if length and length.isdigit() else None
                    if total is not None:
                        check_free_space(dest.parent, total - offset, f"{name} ({_size(total)})")
                    with (
                        open(part, mode) as fh,
                        tqdm(
                            total=total,
                            initial=offset,
                            unit="B",
                            unit_scale=True,
                            unit_divisor=1024,
                            desc=name,
                            disable=not progress,
                            mininterval=1.0,
                            leave=False,
                        ) as bar,
                    ):
                        for chunk in r.iter_content(chunk_size):
                            if chunk:
                                fh.write(chunk)
                                bar.update(len(chunk))
                    size = part.stat().st_size
                    if total is not None and size < total:
                        raise _Retry(f"connection closed after {size} of {total} bytes")
                    if total is not None and size > total:
                        part.unlink(missing_ok=True)
                        raise DownloadError(f"{url}: received {size} bytes, more than the announced {total}")
                    break
            except DownloadError:
                raise
            except (_Retry, requests.RequestException, OSError) as err:
                last_error = err
                attempt += 1
                kept = f"; the partial file {part} is kept for a later resume" if part.exists() else ""
                unreachable = _unreachable(err)
                if unreachable:
                    raise _unreachable_error(url, err, *unreachable, kept) from err
                if attempt > retries:
                    if _stalled(err):
                        raise StalledDownloadError(
                            f"download of {url} stalled: no data for {timeout[1]:g} s (read timeout), "
                            f"{attempt} attempt(s){kept}"
                        ) from err
                    raise DownloadError(
                        f"download of {url} failed after {attempt} attempt(s): {err}{kept}"
                    ) from err
                wait = min(max_backoff, backoff * 2 ** (attempt - 1))
                log.warning("%s: %s; retry %d/%d in %.1f s", url, err, attempt, retries, wait)
                time.sleep(wait)
    finally:
        if own_session:
            session.close()
    if last_error is not None:
        log.info("%s: completed after %d retries", url, attempt)
    verify_file(part, name, lock, sha256, url=url, record=record)  # removes the file on a mismatch
    os.replace(part, dest)
    return dest
