"""Getting a real dataset onto disk: download (or take a local copy), verify, extract, find its root.

:func:`fetch_dataset` handles the config entry ``datasets.<key>``:

- no ``source``: the spec's downloads are tried in order (official, then mirrors); a network failure
  or HTTP error moves on to the next one (a host that cannot be resolved or reached at all is given up
  at once, without retries), a checksum mismatch stops everything. Datasets without a
  scriptable download (BID, SPAQ) look for an archive (or an extracted tree) the user placed in the
  dataset folder, and otherwise fail with the spec's instructions.
- ``source: https://...`` (or a list of URLs): those archives instead of the defaults; plain label
  files in the list (.csv, .txt, .mat, .xls, .xlsx) are copied into the tree (``meta_info_*`` files into
  ``meta_info/``), e.g. ``[.../spaq.tgz, .../meta_info_SPAQDataset.csv]``.
- ``source: file:///...`` or a local path: a local archive (hash-checked against the lock, then
  extracted) or a local folder (used in place, nothing copied).
- ``sha256``: pins the archive hash (a string for a single archive, or ``{file name: sha256}``).

Layout of the dataset folder ``dest_dir`` (e.g. ``resources/datasets/livec``): ``archives/`` (downloads,
``*.part`` while incomplete), ``data/`` (the extracted tree, renamed into place only when complete and
recognised), ``fetched.json`` (root, source, archive hashes). The lock file records every archive's
sha256 the first time and checks it afterwards.
"""

from __future__ import annotations

import json
import logging
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

from gmc.data.datasets import DatasetSpec, DownloadOption, RemoteFile, build_dataset_spec
from gmc.data.datasets.parsers import DatasetNotFoundError, find_root
from gmc.data.download import (
    DEFAULT_TIMEOUT,
    ChecksumError,
    DownloadError,
    HashLock,
    HostUnreachableError,
    check_free_space,
    download,
    verify_file,
)
from gmc.data.extract import (
    DEFAULT_MAX_BYTES,
    UnsafeArchiveError,
    archive_kind,
    estimated_size,
    extract_into,
    replace_dir,
)
from gmc.errors import ConfigError, UserError
from gmc.io import write_json

log = logging.getLogger(__name__)

#: plain (non-archive) files a source may list beside its archives; copied into the tree as they are
LABEL_SUFFIXES = (".csv", ".txt", ".mat", ".xls", ".xlsx")
STAMP = "fetched.json"
DATA_DIR = "data"
ARCHIVE_DIR = "archives"


class ManualDownloadRequired(UserError, FileNotFoundError):
    """The dataset cannot be downloaded by script; the message says where to get it and where to put it."""


class FetchError(UserError, RuntimeError):
    """No source gave a usable copy of the dataset; the message names each source's failure and the fix."""


def dataset_root(key: str, dest_dir: str | Path) -> Path:
    """The root of dataset ``key`` fetched into ``dest_dir`` (read from ``fetched.json``, or the
    ``dataset.json`` the CLI writes). Raises DatasetNotFoundError (a FileNotFoundError) when it has not
    been fetched."""
    dest_dir = Path(dest_dir)
    for name in (STAMP, "dataset.json"):
        path = dest_dir / name
        if path.is_file():
            root = Path(json.loads(path.read_text())["root"])
            if root.is_dir():
                return root
    raise DatasetNotFoundError(
        f"dataset {key!r} has not been fetched into {dest_dir} (no {STAMP}); run "
        f"'python -m gmc fetch --dataset {key} --options ... --out {dest_dir}' first"
    )


def _pin(pinned, filename: str, n_files: int) -> str | None:
    if not pinned:
        return None
    if isinstance(pinned, dict):
        return pinned.get(filename)
    if n_files == 1:
        return str(pinned)
    raise ConfigError(
        f"datasets.<key>.sha256 is one hash ({pinned!r}) but the source has {n_files} archives; map each "
        "file name to its sha256 instead, e.g. {a.zip: <sha256>, b.zip: <sha256>}"
    )


def _source_id(source) -> str:
    if source is None:
        return "default"
    if isinstance(source, (list, tuple)):
        return "urls:" + " ".join(str(s) for s in source)
    return str(source)


def _local_path(source: str) -> Path | None:
    """A local path for ``file://`` URLs and plain paths; None for http(s) URLs."""
    parsed = urlparse(str(source))
    if parsed.scheme in ("http", "https"):
        return None
    if parsed.scheme == "file":
        return Path(url2pathname(unquote(parsed.path)))
    if parsed.scheme and len(parsed.scheme) > 1:
        raise ConfigError(f"unsupported source {source!r}: use an http(s):// or file:// URL or a local path")
    return Path(str(source)).expanduser()


def _read_stamp(dest_dir: Path) -> dict | None:
    path = dest_dir / STAMP
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return None


def _write_stamp(dest_dir: Path, key: str, root: Path, source_id: str, archives: list[dict]) -> None:
    write_json(
        dest_dir / STAMP,
        {
            "key": key,
            "root": root.as_posix(),
            "source": source_id,
            "archives": archives,
            "fetched": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )


def _install(
    spec: DatasetSpec,
    dest_dir: Path,
    items: list[tuple[Path, RemoteFile | None]],
    *,
    max_bytes: int,
    progress: bool,
) -> Path:
    """Extract every archive (and place every plain file) into one temporary tree, find the dataset
    root in it, then rename the tree to ``dest_dir/data``. Returns the root."""
    data = dest_dir / DATA_DIR
    tmp = dest_dir / f".{DATA_DIR}.tmp-{uuid.uuid4().hex[:8]}"
    need = sum(estimated_size(p) if archive_kind(p) else p.stat().st_size for p, _ in items)
    check_free_space(dest_dir, need, f"extracting {spec.key}")
    try:
        tmp.mkdir(parents=True)
        written = 0
        for path, remote in items:
            if remote is not None and remote.kind == "file":
                target = tmp / (remote.target or remote.filename)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
                continue
            kind = remote.kind if remote is not None and remote.kind != "auto" else archive_kind(path)
            if kind is None and path.suffix.lower() in LABEL_SUFFIXES:
                # a plain label file given beside the archive (e.g. pyiqa's meta-info CSV)
                target = tmp / ("meta_info" if path.name.startswith("meta_info_") else "") / path.name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
                continue
            if kind is None:
                raise FetchError(
                    f"{path}: not a recognised archive (zip, tar, tar.gz/tgz, tar.bz2, tar.xz, rar) "
                    f"nor a label file ({', '.join(LABEL_SUFFIXES)})"
                )
            log.info("extracting %s", path)
            written += extract_into(path, tmp, kind=kind, max_bytes=max_bytes - written, progress=progress)
        rel_root = find_root(tmp, spec.root_markers).relative_to(tmp)
        replace_dir(tmp, data)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return data / rel_root


def _download_option(
    spec: DatasetSpec,
    option: DownloadOption,
    dest_dir: Path,
    lock: HashLock,
    pinned,
    *,
    timeout,
    retries: int,
    backoff: float,
    progress: bool,
) -> list[tuple[Path, RemoteFile]]:
    out = []
    for remote in option.files:
        name = remote.filename
        target = dest_dir / ARCHIVE_DIR / name
        sha = remote.sha256 or _pin(pinned, name, len(option.files))
        log.info("fetching %s (%s) from %s", name, option.label, remote.url)
        download(
            remote.url,
            target,
            sha256=sha,
            lock=lock,
            lock_name=f"{spec.key}/{name}",
            record=False,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            progress=progress,
        )
        out.append((target, remote))
    return out


def _archive_record(path: Path, remote: RemoteFile | None, key: str, lock: HashLock) -> dict:
    rec = {"name": path.name, "sha256": lock.get(f"{key}/{path.name}")}
    rec["url" if remote is not None else "path"] = (
        remote.url if remote is not None else path.resolve().as_posix()
    )
    return rec


def _placed_archives(dest_dir: Path) -> list[Path]:
    found = []
    for folder in (dest_dir, dest_dir / ARCHIVE_DIR):
        if folder.is_dir():
            found += [
                p
                for p in sorted(folder.iterdir())
                if p.is_file()
                and archive_kind(p) is not None
                and not p.name.endswith(".part")
                and not p.name.startswith(".")
            ]
    return found


def fetch_dataset(
    key: str,
    options: dict | None,
    dest_dir: str | Path,
    lock_path: str | Path,
    *,
    progress: bool = True,
    timeout: tuple[float, float] | float = DEFAULT_TIMEOUT,
    retries: int = 4,
    backoff: float = 2.0,
    keep_archives: bool = True,
    max_extract_bytes: int = DEFAULT_MAX_BYTES,
    force: bool = False,
) -> Path:
    """Make dataset ``key`` (config entry ``options``) available under ``dest_dir`` and return its root
    (the folder its parser reads). See the module docstring. Reruns with the same source return the
    recorded root at once (``force=True`` fetches again)."""
    options = dict(options or {})
    spec = build_dataset_spec(key, options)
    source, pinned = options.get("source"), options.get("sha256")
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    lock = HashLock(lock_path)
    source_id = _source_id(source)
    stamp = _read_stamp(dest_dir)
    if not force and stamp and stamp.get("source") == source_id and Path(stamp["root"]).is_dir():
        log.info("%s: already fetched (%s)", key, stamp["root"])
        return Path(stamp["root"])
    common = {"timeout": timeout, "retries": retries, "backoff": backoff, "progress": progress}

    def install(items, cleanup: bool) -> Path:
        root = _install(spec, dest_dir, items, max_bytes=max_extract_bytes, progress=progress)
        # the lock records an archive's hash once it proved usable (extracted, dataset found)
        for p, r in items:
            verify_file(p, f"{key}/{p.name}", lock, None, remove_on_mismatch=False, url=r.url if r else None)
        records = [_archive_record(p, r, key, lock) for p, r in items]
        _write_stamp(dest_dir, key, root, source_id, records)
        if cleanup and not keep_archives:
            for p, _ in items:
                p.unlink(missing_ok=True)
        return root

    # 1. a source given in the config
    if source:
        urls = source if isinstance(source, (list, tuple)) else [source]
        local = [_local_path(u) for u in urls]
        if all(p is None for p in local):
            option = DownloadOption("config source", tuple(RemoteFile(str(u)) for u in urls))
            return install(_download_option(spec, option, dest_dir, lock, pinned, **common), cleanup=True)
        if len(urls) != 1:
            raise ConfigError(
                f"datasets.{key}.source: give one local path, or a list of http(s) URLs, not {urls}"
            )
        path = local[0]
        if path.is_dir():
            root = find_root(path, spec.root_markers)
            _write_stamp(dest_dir, key, root.resolve(), source_id, [])
            return root.resolve()
        if path.is_file():
            pin = _pin(pinned, path.name, 1)
            verify_file(path, f"{key}/{path.name}", lock, pin, remove_on_mismatch=False, record=False)
            return install([(path, None)], cleanup=False)
        raise DatasetNotFoundError(
            f"datasets.{key}.source: {source!r} does not exist ({path}); fix the path in the config"
        )

    # 2. the spec's downloads, official first
    if spec.downloads:
        errors, offline = [], True
        for option in spec.downloads:
            try:
                return install(_download_option(spec, option, dest_dir, lock, pinned, **common), cleanup=True)
            except ChecksumError:
                raise
            except (DownloadError, FetchError, UnsafeArchiveError, FileNotFoundError) as err:
                # unreachable, or the archive is not usable (not an archive, no dataset inside): next source
                log.warning("%s: %s source failed: %s", key, option.label, err)
                errors.append(f"{option.label}: {err}")
                offline = offline and isinstance(err, HostUnreachableError)
        fix = f"set datasets.{key}.source to a reachable URL, a local archive or a local folder."
        if offline:
            fix = "no source host could be reached (no network?): download the archive elsewhere and " + fix
        raise FetchError(
            f"could not download dataset {key!r} from any source:\n  - "
            + "\n  - ".join(errors)
            + f"\n{fix[0].upper()}{fix[1:]}"
        )

    # 3. manual download: an archive or an extracted tree placed in the dataset folder
    placed = _placed_archives(dest_dir)
    if placed:
        for p in placed:
            pin = _pin(pinned, p.name, len(placed))
            verify_file(p, f"{key}/{p.name}", lock, pin, remove_on_mismatch=False, record=False)
        return install([(p, None) for p in placed], cleanup=False)
    if spec.root_markers:
        try:
            root = find_root(dest_dir, spec.root_markers)
        except FileNotFoundError:
            pass
        else:
            _write_stamp(dest_dir, key, root.resolve(), source_id, [])
            return root.resolve()
    if spec.manual_download:
        raise ManualDownloadRequired(
            spec.manual_download.replace("<key>", key)
            + f" (Looked in {dest_dir} and found no archive or extracted dataset.)"
        )
    raise FetchError(
        f"dataset {key!r} has no download; set datasets.{key}.source to a URL, a local archive or a "
        "local folder"
    )
