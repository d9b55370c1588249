"""Safe archive extraction (zip, tar, tar.gz/tgz, tar.bz2, tar.xz; rar through an external tool).

Every member name is checked before anything is written: absolute paths (``/x``, ``C:/x``) and ``..``
components are refused with :class:`UnsafeArchiveError`, and so are device files and FIFOs. Links are
checked against the files as they are on disk, not as text: every path is resolved following the links
that already exist (including those the archive made a moment earlier), so a chain of links cannot lead
out. A member is refused when its folder resolves outside the extraction folder or when its own path is
a link the archive made (writing would follow it). A symbolic link is refused when its target is
absolute or resolves outside the folder, and, once the whole archive is extracted (a later link can
change where an earlier one leads), unless it leads to a file inside the folder: links to folders and
dangling links are refused, as no dataset needs them. A tar hard link is copied from a file the archive
already extracted inside the folder. The bytes actually written are
counted against ``max_bytes`` (a zip bomb stops at the cap, whatever sizes the archive declares).
:func:`extract_archive` extracts into a temporary folder beside the target and renames it into place
only when everything succeeded, so a failed or interrupted extraction never leaves a half-filled
target.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import stat
import subprocess
import tarfile
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from gmc.data.download import check_free_space
from gmc.errors import InputFileError, UserError

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 256 * 2**30  # 256 GiB: far above any dataset here, stops runaway archives
DEFAULT_MAX_MEMBERS = 2_000_000
_COPY_CHUNK = 1 << 20

ARCHIVE_SUFFIXES = {
    ".zip": "zip",
    ".tar": "tar",
    ".tgz": "tgz",
    ".tar.gz": "tgz",
    ".tbz2": "tbz2",
    ".tar.bz2": "tbz2",
    ".txz": "txz",
    ".tar.xz": "txz",
    ".rar": "rar",
}


class UnsafeArchiveError(InputFileError):
    """The archive holds a member that would be written outside the target, or is otherwise unsafe or
    unreadable; the message names the archive or the member."""


class ArchiveTooLargeError(UnsafeArchiveError):
    """The archive has more members or more bytes than the caps allow."""


class ExtractionToolMissing(UserError, RuntimeError):
    """A RAR archive needs an external tool and none is installed; the message says what to install."""


def archive_kind(path: str | Path) -> str | None:
    """``zip``/``tar``/``tgz``/``tbz2``/``txz``/``rar`` from the file name (then the content), else None."""
    name = Path(path).name.lower()
    for suffix in sorted(ARCHIVE_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return ARCHIVE_SUFFIXES[suffix]
    p = Path(path)
    if p.is_file():
        if zipfile.is_zipfile(p):
            return "zip"
        with open(p, "rb") as fh:
            head = fh.read(8)
        if head.startswith(b"Rar!"):
            return "rar"
        try:
            if tarfile.is_tarfile(p):
                return "tar"
        except OSError:
            pass
    return None


def safe_member_path(name: str) -> PurePosixPath | None:
    """The relative path a member ``name`` may be written to; None for the archive root itself.
    Raises :class:`UnsafeArchiveError` for absolute paths and ``..`` components."""
    if "\x00" in name:
        raise UnsafeArchiveError(f"member name {name!r} contains a NUL byte")
    norm = name.replace("\\", "/")
    if norm.startswith("/") or re.match(r"^[A-Za-z]:", norm):
        raise UnsafeArchiveError(f"refusing absolute path {name!r} in the archive")
    parts = [p for p in norm.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(f"refusing path with '..' component {name!r} in the archive")
    return PurePosixPath(*parts) if parts else None


def _inside(base: Path, target: Path) -> bool:
    """Whether ``target``, resolved following every existing link, is ``base`` or lies below it."""
    base_real = os.path.realpath(base)
    target_real = os.path.realpath(target)
    return target_real == base_real or target_real.startswith(base_real + os.sep)


class _Budget:
    def __init__(self, max_bytes: int, max_members: int, archive: Path) -> None:
        self.max_bytes, self.max_members, self.archive = max_bytes, max_members, archive
        self.bytes = 0
        self.members = 0

    def member(self) -> None:
        self.members += 1
        if self.members > self.max_members:
            raise ArchiveTooLargeError(
                f"{self.archive}: more than {self.max_members} members; refusing to extract"
            )

    def add(self, n: int) -> None:
        self.bytes += n
        if self.bytes > self.max_bytes:
            raise ArchiveTooLargeError(
                f"{self.archive}: extracted size exceeds the cap of {self.max_bytes} bytes; refusing to "
                "extract (raise max_bytes if the archive is genuine)"
            )


def _copy_stream(src, dst_path: Path, budget: _Budget) -> None:
    with open(dst_path, "wb") as out:
        while True:
            chunk = src.read(_COPY_CHUNK)
            if not chunk:
                break
            budget.add(len(chunk))
            out.write(chunk)


def _target(base: Path, rel: PurePosixPath, name: str) -> Path:
    """The path member ``name`` (relative path ``rel``) is written to. Refused when its folder resolves,
    through links already on disk, outside ``base``, or when the path is itself a link (an earlier member
    made it; writing, copying or linking there would follow or replace it)."""
    target = base.joinpath(*rel.parts)
    if target.is_symlink():
        raise UnsafeArchiveError(
            f"refusing member {name!r}: its path is a link an earlier member created, and writing there "
            "would follow or replace it"
        )
    if not _inside(base, target.parent):
        raise UnsafeArchiveError(
            f"refusing member {name!r}: it would be written outside the target, to "
            f"{os.path.realpath(target.parent)} (through a link)"
        )
    return target


def _make_link(base: Path, link: Path, link_target: str, name: str, links: list[tuple[Path, str]]) -> None:
    """Create the symbolic link ``link -> link_target`` (member ``name``) and remember it in ``links``
    for :func:`_check_links`. Refused when the target is absolute, when it resolves (following the links
    already on disk) outside ``base``, or when the path already exists."""
    if os.path.isabs(link_target) or re.match(r"^[A-Za-z]:", link_target):
        raise UnsafeArchiveError(f"refusing link {name!r} -> {link_target!r}: absolute target")
    resolved = os.path.realpath(os.path.join(os.path.realpath(link.parent), link_target))
    if not _inside(base, Path(resolved)):
        raise UnsafeArchiveError(
            f"refusing link {name!r} -> {link_target!r}: it points outside the target (to {resolved})"
        )
    if os.path.lexists(link):
        raise UnsafeArchiveError(f"refusing link {name!r}: an earlier member already created that path")
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(link_target, link)
    links.append((link, name))


def _check_links(base: Path, links: list[tuple[Path, str]]) -> None:
    """Once every member is extracted, check where each link made by the archive finally leads: a later
    link can redirect an earlier one (``x -> d/..`` reaches above ``base`` once ``d`` is a link to
    ``base``). Every link must resolve to a file inside ``base``; links to folders (through which a
    labels row could reach anywhere) and dangling links are refused."""
    for link, name in links:
        resolved = Path(os.path.realpath(link))
        if not _inside(base, resolved):
            raise UnsafeArchiveError(
                f"refusing link {name!r} -> {os.readlink(link)!r}: once the archive is extracted it points "
                f"outside the target (to {resolved}), through other links of the archive"
            )
        if not link.is_file():  # resolved by the OS: a missing folder on the way counts as dangling
            what = "a folder" if link.is_dir() else "nothing (dangling)"
            raise UnsafeArchiveError(
                f"refusing link {name!r} -> {os.readlink(link)!r}: it leads to {what}; archives may only "
                "link to files they contain. Repack the archive without the link (e.g. 'tar -h' or "
                "'zip' without '-y' store the files instead)"
            )


#: an extractor: (archive, target folder, budget, progress tick, list collecting the links it made)
Extractor = Callable[[Path, Path, "_Budget", Callable[[], None], list[tuple[Path, str]]], None]


def _extract_zip(
    archive: Path, dest: Path, budget: _Budget, tick: Callable[[], None], links: list[tuple[Path, str]]
) -> None:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        declared = sum(i.file_size for i in infos)
        if declared > budget.max_bytes:
            raise ArchiveTooLargeError(
                f"{archive}: declares {declared} bytes, above the cap {budget.max_bytes}"
            )
        for info in infos:
            budget.member()
            rel = safe_member_path(info.filename)
            if rel is None:
                continue
            target = _target(dest, rel, info.filename)
            mode = info.external_attr >> 16
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
            elif stat.S_ISLNK(mode):
                link_target = zf.read(info).decode("utf-8", "replace")
                _make_link(dest, target, link_target, info.filename, links)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src:
                    _copy_stream(src, target, budget)
            tick()


def _extract_tar(
    archive: Path, dest: Path, budget: _Budget, tick: Callable[[], None], links: list[tuple[Path, str]]
) -> None:
    with tarfile.open(archive, "r:*") as tf:
        for member in tf:
            budget.member()
            rel = safe_member_path(member.name)
            if rel is None:
                continue
            target = _target(dest, rel, member.name)
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
            elif member.isreg():
                target.parent.mkdir(parents=True, exist_ok=True)
                src = tf.extractfile(member)
                if src is None:  # pragma: no cover - isreg members always have data
                    raise UnsafeArchiveError(f"{archive}: cannot read member {member.name!r}")
                with src:
                    _copy_stream(src, target, budget)
            elif member.issym():
                _make_link(dest, target, member.linkname, member.name, links)
            elif member.islnk():
                try:
                    link_rel = safe_member_path(member.linkname)
                except UnsafeArchiveError as err:
                    raise UnsafeArchiveError(f"refusing hard link {member.name!r}: {err}") from None
                source = dest.joinpath(*link_rel.parts) if link_rel else None
                if source is None or not _inside(dest, source) or not source.is_file():
                    raise UnsafeArchiveError(
                        f"refusing hard link {member.name!r} -> {member.linkname!r}: "
                        "target missing or outside"
                    )
                target.parent.mkdir(parents=True, exist_ok=True)
                budget.add(source.stat().st_size)
                shutil.copyfile(source, target)
            else:
                raise UnsafeArchiveError(
                    f"refusing special file {member.name!r} (device or FIFO) in {archive}"
                )
            tick()


#: external RAR tools: (executable, list command, extract command); {a} archive, {d} target folder
RAR_TOOLS = (
    ("unrar", ["unrar", "lb", "-p-", "{a}"], ["unrar", "x", "-p-", "-o+", "-idq", "{a}", "{d}/"]),
    ("bsdtar", ["bsdtar", "-tf", "{a}"], ["bsdtar", "-xf", "{a}", "-C", "{d}"]),
    ("7z", ["7z", "l", "-slt", "-ba", "{a}"], ["7z", "x", "-y", "-bd", "-o{d}", "{a}"]),
)


def _rar_names(tool: str, output: str) -> list[str]:
    if tool == "7z":
        return [line[7:] for line in output.splitlines() if line.startswith("Path = ")]
    return [line for line in output.splitlines() if line.strip()]


def _extract_rar(
    archive: Path, dest: Path, budget: _Budget, tick: Callable[[], None], links: list[tuple[Path, str]]
) -> None:
    for tool, list_cmd, extract_cmd in RAR_TOOLS:
        exe = shutil.which(tool)
        if exe is None:
            continue

        def fill(cmd: list[str], exe: str = exe) -> list[str]:
            return [
                exe if i == 0 else c.replace("{a}", str(archive)).replace("{d}", str(dest))
                for i, c in enumerate(cmd)
            ]

        listed = subprocess.run(fill(list_cmd), capture_output=True, text=True, check=False)
        if listed.returncode != 0:
            raise UnsafeArchiveError(f"{tool} cannot list {archive}: {listed.stderr.strip()[:500]}")
        for name in _rar_names(tool, listed.stdout):
            budget.member()
            safe_member_path(name)
        done = subprocess.run(fill(extract_cmd), capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise UnsafeArchiveError(f"{tool} failed to extract {archive}: {done.stderr.strip()[:500]}")
        # what the tool wrote: its links are checked with the others (_check_links), sizes count
        for dirpath, dirnames, filenames in os.walk(dest):
            for entry in dirnames + filenames:
                p = Path(dirpath) / entry
                if p.is_symlink():
                    links.append((p, p.relative_to(dest).as_posix()))
                elif p.is_file():
                    budget.add(p.stat().st_size)
                    tick()
        return
    raise ExtractionToolMissing(
        f"cannot extract {archive}: RAR archives need an external tool and none of unrar, bsdtar, 7z is on "
        "PATH. Install one (e.g. 'apt install unrar', 'apt install libarchive-tools' for bsdtar, or "
        "'apt install p7zip-full'), or repack the archive as .zip/.tar and point datasets.<key>.source at it"
    )


_EXTRACTORS: dict[str, Extractor] = {
    "zip": _extract_zip,
    "tar": _extract_tar,
    "tgz": _extract_tar,
    "tbz2": _extract_tar,
    "txz": _extract_tar,
    "rar": _extract_rar,
}


def estimated_size(archive: str | Path, kind: str | None = None) -> int:
    """Bytes the extraction will need: exact for zip, an estimate (file size, x1.2 if compressed) else."""
    archive = Path(archive)
    kind = kind or archive_kind(archive)
    if kind == "zip":
        try:
            with zipfile.ZipFile(archive) as zf:
                return sum(i.file_size for i in zf.infolist())
        except zipfile.BadZipFile as err:
            raise UnsafeArchiveError(f"{archive} is not a valid zip archive ({err})") from err
    size = archive.stat().st_size
    return size if kind in ("tar", "rar") else int(size * 1.2)


def extract_into(
    archive: str | Path,
    target: str | Path,
    *,
    kind: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_members: int = DEFAULT_MAX_MEMBERS,
    progress: bool = False,
) -> int:
    """Extract ``archive`` into the existing folder ``target`` (not atomic; see :func:`extract_archive`).
    Returns the number of bytes written."""
    from tqdm.auto import tqdm

    archive, target = Path(archive), Path(target)
    kind = kind if kind not in (None, "auto") else archive_kind(archive)
    if kind not in _EXTRACTORS:
        raise ValueError(
            f"{archive}: unknown archive type {kind!r}; supported: zip, tar, tar.gz/tgz, tar.bz2, tar.xz, rar"
        )
    target.mkdir(parents=True, exist_ok=True)
    budget = _Budget(max_bytes, max_members, archive)
    with tqdm(
        desc=f"extract {archive.name}", unit=" files", disable=not progress, mininterval=1.0, leave=False
    ) as bar:
        links: list[tuple[Path, str]] = []
        try:
            _EXTRACTORS[kind](archive, target, budget, lambda: bar.update(1), links)
        except (zipfile.BadZipFile, tarfile.TarError, EOFError) as err:
            raise UnsafeArchiveError(f"{archive} is not a valid {kind} archive ({err})") from err
        _check_links(target, links)
    return budget.bytes


def extract_archive(
    archive: str | Path,
    dest: str | Path,
    *,
    kind: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_members: int = DEFAULT_MAX_MEMBERS,
    overwrite: bool = False,
    progress: bool = False,
) -> Path:
    """Extract ``archive`` to ``dest`` atomically: into a temporary folder beside ``dest``, renamed to
    ``dest`` on success (removed on failure). An existing ``dest`` is an error unless ``overwrite``."""
    archive, dest = Path(archive), Path(dest)
    if dest.exists() and not overwrite:
        raise FileExistsError(f"{dest} already exists; remove it or pass overwrite=True")
    dest.parent.mkdir(parents=True, exist_ok=True)
    check_free_space(dest.parent, estimated_size(archive, kind), f"extracting {archive.name}")
    tmp = dest.with_name(f".{dest.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        extract_into(archive, tmp, kind=kind, max_bytes=max_bytes, max_members=max_members, progress=progress)
        replace_dir(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


def replace_dir(src: Path, dest: Path) -> None:
    """Rename folder ``src`` to ``dest``, replacing an existing ``dest`` (moved aside, then deleted)."""
    old = None
    if dest.exists() or dest.is_symlink():
        old = dest.with_name(f".{dest.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(dest, old)
    try:
        os.replace(src, dest)
    except BaseException:
        if old is not None:
            os.replace(old, dest)
        raise
    if old is not None:
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)
