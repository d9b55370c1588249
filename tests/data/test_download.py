"""Downloader against a loopback HTTP server: normal fetch, Range resume, hash check, 404, stall, space."""

from __future__ import annotations

import hashlib
import json
import time
from collections import namedtuple

import pytest

from gmc.data import download as dl
from gmc.data.download import (
    ChecksumError,
    HashLock,
    HostUnreachableError,
    HTTPStatusError,
    InsufficientSpaceError,
    StalledDownloadError,
    download,
)

PAYLOAD = bytes(range(256)) * 400  # 100 KiB
SHA = hashlib.sha256(PAYLOAD).hexdigest()
FAST = {"timeout": (2.0, 2.0), "retries": 2, "backoff": 0.01, "progress": False}


def test_normal_fetch_records_lock_and_reuses(http_server, tmp_path):
    http_server.files["/a.tgz"] = PAYLOAD
    lock = HashLock(tmp_path / "lock.json")
    dest = download(
        http_server.url("/a.tgz"), tmp_path / "dl" / "a.tgz", lock=lock, lock_name="x/a.tgz", **FAST
    )
    assert dest.read_bytes() == PAYLOAD
    assert not (tmp_path / "dl" / "a.tgz.part").exists()
    entry = json.loads((tmp_path / "lock.json").read_text())["archives"]["x/a.tgz"]
    assert entry["sha256"] == SHA and entry["size"] == len(PAYLOAD) and entry["url"].endswith("/a.tgz")
    download(
        http_server.url("/a.tgz"), dest, lock=lock, lock_name="x/a.tgz", **FAST
    )  # verified, not refetched
    assert len(http_server.hits("/a.tgz")) == 1


def test_dropped_connection_resumes_with_range(http_server, tmp_path):
    http_server.files["/big.zip"] = PAYLOAD
    http_server.faults["/big.zip"] = {"drop_after": 30_000}
    dest = download(http_server.url("/big.zip"), tmp_path / "big.zip", chunk_size=4096, **FAST)
    assert dest.read_bytes() == PAYLOAD
    hits = http_server.hits("/big.zip")
    assert len(hits) == 2 and hits[0][2] is None
    # the second request resumes from what was written (whole chunks received before the drop)
    assert hits[1][2] is not None and 0 < int(hits[1][2][6:-1]) <= 30_000


def test_partial_file_from_an_earlier_run_is_resumed(http_server, tmp_path):
    http_server.files["/big.zip"] = PAYLOAD
    (tmp_path / "big.zip.part").write_bytes(PAYLOAD[:12345])
    download(http_server.url("/big.zip"), tmp_path / "big.zip", **FAST)
    assert (tmp_path / "big.zip").read_bytes() == PAYLOAD
    assert http_server.hits("/big.zip")[0][2] == "bytes=12345-"
    # a partial file that is already complete: the server answers 416, the file is kept
    (tmp_path / "big.zip").unlink()
    (tmp_path / "big.zip.part").write_bytes(PAYLOAD)
    download(http_server.url("/big.zip"), tmp_path / "big.zip", **FAST)
    assert (tmp_path / "big.zip").read_bytes() == PAYLOAD


def test_server_ignoring_range_restarts_cleanly(http_server, tmp_path):
    http_server.files["/big.zip"] = PAYLOAD
    http_server.faults["/big.zip"] = {"drop_after": 50_000, "no_range": True}
    download(http_server.url("/big.zip"), tmp_path / "big.zip", **FAST)
    assert (tmp_path / "big.zip").read_bytes() == PAYLOAD


def test_corrupted_byte_is_caught_and_nothing_is_left(http_server, tmp_path):
    lock = HashLock(tmp_path / "lock.json")
    lock.record("x/a.tgz", SHA, size=len(PAYLOAD))
    corrupt = bytearray(PAYLOAD)
    corrupt[5000] ^= 0xFF
    http_server.files["/a.tgz"] = bytes(corrupt)
    with pytest.raises(ChecksumError) as err:
        download(http_server.url("/a.tgz"), tmp_path / "a.tgz", lock=lock, lock_name="x/a.tgz", **FAST)
    msg = str(err.value)
    assert "x/a.tgz" in msg and SHA in msg and hashlib.sha256(bytes(corrupt)).hexdigest() in msg
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["lock.json"]
    assert lock.get("x/a.tgz") == SHA
    # a pinned hash is checked the same way
    with pytest.raises(ChecksumError, match="pinned"):
        download(http_server.url("/a.tgz"), tmp_path / "b.tgz", sha256=SHA, **FAST)
    assert not (tmp_path / "b.tgz").exists() and not (tmp_path / "b.tgz.part").exists()


def test_corrupt_file_already_in_place_is_removed(http_server, tmp_path):
    lock = HashLock(tmp_path / "lock.json")
    lock.record("x/a.tgz", SHA)
    (tmp_path / "a.tgz").write_bytes(b"tampered")
    with pytest.raises(ChecksumError):
        download(http_server.url("/a.tgz"), tmp_path / "a.tgz", lock=lock, lock_name="x/a.tgz", **FAST)
    assert not (tmp_path / "a.tgz").exists()


def test_404_fails_at_once_with_the_url(http_server, tmp_path):
    t0 = time.monotonic()
    with pytest.raises(HTTPStatusError, match=r"HTTP 404.*") as err:
        download(http_server.url("/missing.zip"), tmp_path / "m.zip", **FAST)
    assert err.value.status == 404 and "/missing.zip" in str(err.value)
    assert len(http_server.hits("/missing.zip")) == 1 and time.monotonic() - t0 < 2
    assert not list(tmp_path.iterdir())


def test_html_page_instead_of_archive_is_refused(http_server, tmp_path):
    http_server.files["/login.zip"] = b"<html>please log in</html>"
    http_server.faults["/login.zip"] = {"ctype": "text/html; charset=utf-8"}
    with pytest.raises(dl.DownloadError, match="HTML page"):
        download(http_server.url("/login.zip"), tmp_path / "l.zip", **FAST)
    assert len(http_server.hits("/login.zip")) == 1 and not (tmp_path / "l.zip").exists()


def test_server_errors_are_retried_then_reported(http_server, tmp_path):
    http_server.faults["/err.zip"] = {"status": 503}
    with pytest.raises(dl.DownloadError, match="after 3 attempt"):
        download(http_server.url("/err.zip"), tmp_path / "e.zip", **FAST)
    assert len(http_server.hits("/err.zip")) == 3


def test_stalled_server_ends_within_the_timeout(http_server, tmp_path):
    http_server.files["/slow.tgz"] = PAYLOAD
    http_server.faults["/slow.tgz"] = {"stall": 30, "stall_after": 1000}
    t0 = time.monotonic()
    with pytest.raises(StalledDownloadError, match="stalled") as err:
        download(
            http_server.url("/slow.tgz"),
            tmp_path / "s.tgz",
            timeout=(1.0, 1.0),
            retries=1,
            backoff=0.01,
            progress=False,
        )
    elapsed = time.monotonic() - t0
    assert elapsed < 5, elapsed  # 2 attempts x 1 s read timeout
    assert "read timeout" in str(err.value)
    assert not (tmp_path / "s.tgz").exists()


def test_refused_connection_is_a_clear_error(tmp_path):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(dl.DownloadError, match="failed after 2 attempt"):
        download(
            f"http://127.0.0.1:{port}/x.zip",
            tmp_path / "x.zip",
            timeout=(1, 1),
            retries=1,
            backoff=0.01,
            progress=False,
        )


class _CountingSession:
    """A requests session that counts its GET calls, or raises ``error`` on each instead."""

    def __init__(self, error: Exception | None = None) -> None:
        import requests

        self.session, self.error, self.calls = requests.Session(), error, 0
        self.headers = self.session.headers

    def get(self, *args, **kwargs):
        self.calls += 1
        if self.error is not None:
            raise self.error
        return self.session.get(*args, **kwargs)


def test_unresolvable_host_fails_at_once_naming_the_host(tmp_path):
    session = _CountingSession()
    t0 = time.monotonic()
    with pytest.raises(HostUnreachableError) as err:  # .invalid never resolves (RFC 2606)
        download(
            "http://nonexistent.invalid/x.zip",
            tmp_path / "x.zip",
            retries=4,
            backoff=5,
            progress=False,
            session=session,
        )
    elapsed = time.monotonic() - t0
    assert elapsed < 4, elapsed  # no backoff (5 s, 10 s, ...) was waited
    msg = str(err.value)
    assert "'nonexistent.invalid' could not be resolved" in msg and "no network, or a wrong URL" in msg
    assert "datasets.<key>.source" in msg and "not retried" in msg
    assert err.value.host == "nonexistent.invalid" and session.calls == 1
    assert not list(tmp_path.iterdir())


def test_no_network_fails_at_once(tmp_path):
    import errno

    import requests

    cause = OSError(errno.ENETUNREACH, "Network is unreachable")
    error = requests.ConnectionError("connection failed")
    error.__cause__ = cause
    session = _CountingSession(error)
    with pytest.raises(HostUnreachableError, match="network is unreachable.*'10.0.0.1'"):
        download(
            "http://10.0.0.1/x.zip", tmp_path / "x.zip", retries=4, backoff=5, progress=False, session=session
        )
    assert session.calls == 1


def test_name_resolution_is_recognised_through_the_chain():
    import socket

    import requests

    def chained(inner: BaseException) -> Exception:
        try:
            try:
                raise inner
            except BaseException as e:
                raise OSError("wrapped") from e
        except OSError as outer:
            try:
                raise requests.ConnectionError(outer)
            except requests.ConnectionError as err:
                return err

    assert dl._unreachable(chained(socket.gaierror(-3, "Temporary failure in name resolution")))[0] == "dns"
    # a chain that lost the gaierror: the resolver's message (macOS) is enough
    assert (
        dl._unreachable(requests.ConnectionError("nodename nor servname provided, or not known"))[0] == "dns"
    )
    # a refused connection or a server error is worth a retry
    assert dl._unreachable(chained(ConnectionRefusedError(111, "Connection refused"))) is None
    assert dl._unreachable(dl._Retry("HTTP 503 Service Unavailable")) is None


def test_free_space_is_checked(http_server, tmp_path, monkeypatch):
    http_server.files["/a.tgz"] = PAYLOAD
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(dl.shutil, "disk_usage", lambda p: usage(10**9, 10**9, 1000))
    with pytest.raises(InsufficientSpaceError, match="not enough free space"):
        download(http_server.url("/a.tgz"), tmp_path / "a.tgz", **FAST)
    assert not (tmp_path / "a.tgz").exists()
    assert len(http_server.hits("/a.tgz")) == 1  # not retried


def test_lock_file_is_json_and_refuses_a_changed_hash(tmp_path):
    lock = HashLock(tmp_path / "sub" / "lock.json")
    lock.record("a/x.zip", "1" * 64, size=3)
    lock.record("b/y.zip", "2" * 64)
    lock.record("a/x.zip", "1" * 64)  # same hash again: fine
    data = json.loads((tmp_path / "sub" / "lock.json").read_text())
    assert set(data["archives"]) == {"a/x.zip", "b/y.zip"} and data["version"] == 1
    with pytest.raises(ChecksumError, match="expected 1111"):
        lock.record("a/x.zip", "3" * 64)
    assert [p.name for p in (tmp_path / "sub").iterdir() if p.name.endswith(".tmp")] == []
