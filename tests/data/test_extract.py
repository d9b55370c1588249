"""Safe extraction: normal archives, path traversal, absolute paths, escaping links, size cap, atomicity."""

from __future__ import annotations

import io
import os
import stat
import sys
import tarfile
import zipfile

import pytest

from gmc.data.extract import (
    ArchiveTooLargeError,
    ExtractionToolMissing,
    UnsafeArchiveError,
    archive_kind,
    extract_archive,
    safe_member_path,
)


def _tar(path, members, mode="w:gz"):
    """members: (name, bytes | None for a dir | ("sym"|"hard"|"chr", target))"""
    with tarfile.open(path, mode) as tf:
        for name, content in members:
            info = tarfile.TarInfo(name)
            if content is None:
                info.type = tarfile.DIRTYPE
                tf.addfile(info)
            elif isinstance(content, tuple):
                kind, target = content
                info.type = {"sym": tarfile.SYMTYPE, "hard": tarfile.LNKTYPE, "chr": tarfile.CHRTYPE}[kind]
                info.linkname = target
                tf.addfile(info)
            else:
                info.size = len(content)
                tf.addfile(info, io.BytesIO(content))
    return path


def _zip(path, members):
    with zipfile.ZipFile(path, "w") as zf:
        for name, content in members:
            zf.writestr(zipfile.ZipInfo(name), content)
    return path


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("suffix,mode", [(".tgz", "w:gz"), (".tar", "w"), (".tar.bz2", "w:bz2")])
def test_tar_extracts(tmp_path, suffix, mode):
    arc = _tar(
        tmp_path / f"a{suffix}",
        [
            ("top/", None),
            ("top/x.txt", b"hello"),
            ("top/sub/y.txt", b"yy"),
            ("top/link", ("sym", "sub/y.txt")),
            ("top/hard", ("hard", "top/x.txt")),
        ],
        mode,
    )
    out = extract_archive(arc, tmp_path / "out")
    assert (out / "top/x.txt").read_bytes() == b"hello"
    assert (out / "top/link").read_bytes() == b"yy" and (out / "top/link").is_symlink()
    assert (out / "top/hard").read_bytes() == b"hello"
    assert _leftovers(tmp_path) == sorted([arc.name, "out"])


def test_zip_extracts_and_kind(tmp_path):
    arc = _zip(tmp_path / "a.zip", [("d/", b""), ("d/x.txt", b"hello")])
    assert archive_kind(arc) == "zip" and archive_kind(tmp_path / "x.tar.gz") == "tgz"
    out = extract_archive(arc, tmp_path / "out")
    assert (out / "d/x.txt").read_bytes() == b"hello"


@pytest.mark.parametrize(
    "name,match",
    [
        ("../evil.txt", r"'\.\.'"),
        ("ok/../../evil.txt", r"'\.\.'"),
        ("/tmp/evil.txt", "absolute"),
        ("C:/evil.txt", "absolute"),
        ("..\\evil.txt", r"'\.\.'"),
    ],
)
def test_traversal_and_absolute_paths_are_refused(tmp_path, name, match):
    archives = [
        _zip(tmp_path / "bad.zip", [("fine.txt", b"1"), (name, b"x")]),
        _tar(tmp_path / "bad.tgz", [("fine.txt", b"1"), (name, b"x")]),
    ]
    for arc in archives:
        with pytest.raises(UnsafeArchiveError, match=match):
            extract_archive(arc, tmp_path / "out")
        assert not (tmp_path.parent / "evil.txt").exists()
        assert _leftovers(tmp_path) == ["bad.tgz", "bad.zip"]  # no target, no temporary folder


@pytest.mark.parametrize(
    "members,match",
    [
        ([("link", ("sym", "../../outside"))], "points outside"),
        ([("link", ("sym", "/etc"))], "absolute target"),
        ([("d/", None), ("d/link", ("sym", "../../x"))], "points outside"),
        ([("hard", ("hard", "../x"))], "hard link"),
        ([("dev", ("chr", ""))], "special file"),
    ],
)
def test_escaping_links_and_devices_are_refused(tmp_path, members, match):
    arc = _tar(tmp_path / "bad.tgz", members)
    with pytest.raises(UnsafeArchiveError, match=match):
        extract_archive(arc, tmp_path / "out")
    assert _leftovers(tmp_path) == ["bad.tgz"]


def test_zip_symlink_escaping_is_refused(tmp_path):
    info = zipfile.ZipInfo("link")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(tmp_path / "l.zip", "w") as zf:
        zf.writestr(info, "../../etc/passwd")
    with pytest.raises(UnsafeArchiveError, match="points outside"):
        extract_archive(tmp_path / "l.zip", tmp_path / "out")


def test_size_cap(tmp_path):
    arc = _tar(tmp_path / "big.tgz", [("a.bin", b"\0" * 5000), ("b.bin", b"\0" * 5000)])
    with pytest.raises(ArchiveTooLargeError, match="cap"):
        extract_archive(arc, tmp_path / "out", max_bytes=8000)
    assert _leftovers(tmp_path) == ["big.tgz"]
    zarc = _zip(tmp_path / "big.zip", [("a.bin", b"\0" * 20000)])
    with pytest.raises(ArchiveTooLargeError):
        extract_archive(zarc, tmp_path / "out", max_bytes=8000)


def test_existing_target_and_overwrite(tmp_path):
    arc = _zip(tmp_path / "a.zip", [("x.txt", b"new")])
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.txt").write_text("old")
    with pytest.raises(FileExistsError):
        extract_archive(arc, tmp_path / "out")
    extract_archive(arc, tmp_path / "out", overwrite=True)
    assert _leftovers(tmp_path / "out") == ["x.txt"]
    assert _leftovers(tmp_path) == ["a.zip", "out"]


def test_corrupt_archive_is_a_clear_error(tmp_path):
    (tmp_path / "bad.zip").write_bytes(b"PK\x03\x04 garbage")
    with pytest.raises(UnsafeArchiveError, match="not a valid zip"):
        extract_archive(tmp_path / "bad.zip", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_safe_member_path():
    assert str(safe_member_path("./a/./b.txt")) == "a/b.txt"
    assert safe_member_path("./") is None


def test_rar_without_tool_names_what_to_install(tmp_path, monkeypatch):
    (tmp_path / "x.rar").write_bytes(b"Rar!\x1a\x07\x00")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ExtractionToolMissing, match="unrar.*bsdtar.*7z"):
        extract_archive(tmp_path / "x.rar", tmp_path / "out")
    assert not (tmp_path / "out").exists()


FAKE_BSDTAR = """#!{python}
import sys, tarfile
args = sys.argv[1:]
if args[0] == "-tf":
    with tarfile.open(args[1]) as tf:
        print("\\n".join(m.name for m in tf))
elif args[0] == "-xf":
    with tarfile.open(args[1]) as tf:
        tf.extractall(args[3], filter="fully_trusted")
"""


@pytest.mark.skipif(os.name != "posix", reason="fake tool script needs a POSIX shebang")
def test_rar_through_external_tool(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    tool = bindir / "bsdtar"
    tool.write_text(FAKE_BSDTAR.format(python=sys.executable))
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", str(bindir))
    good = _tar(tmp_path / "good.rar", [("d/", None), ("d/x.txt", b"hello")], mode="w")
    out = extract_archive(good, tmp_path / "out", kind="rar")
    assert (out / "d/x.txt").read_bytes() == b"hello"
    bad = _tar(tmp_path / "bad.rar", [("../evil.txt", b"x")], mode="w")
    with pytest.raises(UnsafeArchiveError, match=r"'\.\.'"):
        extract_archive(bad, tmp_path / "out2", kind="rar")
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "out2").exists()
