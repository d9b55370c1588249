"""Archives cannot let a file outside the extraction folder in: chains of links, links redirected by later
links, writes through links, hard links; zip and tar alike (gmc.data.extract)."""

from __future__ import annotations

import os

import pytest

from gmc.data.extract import UnsafeArchiveError, extract_archive
from gmc.data.fetch import fetch_dataset

from .helpers_data import ARCHIVERS, CSV_OPTIONS, png_bytes

FORMATS = sorted(ARCHIVERS)


def _extract_refused(tmp_path, fmt, members, match):
    """Extracting ``members`` into out/data fails with ``match`` and leaves neither the target nor a
    temporary folder."""
    archive = ARCHIVERS[fmt](tmp_path / f"bad.{fmt}", members)
    with pytest.raises(UnsafeArchiveError, match=match):
        extract_archive(archive, tmp_path / "out" / "data")
    left = os.listdir(tmp_path / "out") if (tmp_path / "out").is_dir() else []
    assert [name for name in left if "data" in name] == []


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "chain",
    [
        # u -> the extraction folder (text and reality agree); v is resolved as text from u's folder
        # (a/b/u, harmless) but really from the extraction folder: three levels above it
        [("a/b/u", ("sym", "../..")), ("a/b/u/v", ("sym", "../../.."))],
        # the chain as first reported: one level deeper
        [("a/b/u", ("sym", "../../..")), ("a/b/u/v", ("sym", "../../../.."))],
        # the same through a one-level link
        [("a/u", ("sym", "..")), ("a/u/v", ("sym", "../.."))],
    ],
)
def test_chained_links_cannot_lead_outside(tmp_path, fmt, chain):
    _extract_refused(tmp_path, fmt, chain, "points outside")
    assert not os.path.lexists(tmp_path / "out" / "data" / "v")


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_later_link_cannot_redirect_an_earlier_one(tmp_path, fmt):
    """x -> s/../secret.png is inside while s does not exist; once s -> . exists, x leads to the folder
    above the extraction folder."""
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "secret.png").write_bytes(png_bytes(1))
    members = [("x", ("sym", "s/../secret.png")), ("s", ("sym", "."))]
    _extract_refused(tmp_path, fmt, members, "outside the target")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "members,match",
    [
        ([("d/", None), ("d/sub/", None), ("d/link", ("sym", "sub"))], "leads to a folder"),
        ([("link", ("sym", "nowhere.png"))], "dangling"),
        ([("link", ("sym", "/etc/passwd"))], "absolute target"),
        ([("link", ("sym", "/tmp"))], "absolute target"),
    ],
)
def test_links_to_folders_dangling_and_absolute_links_are_refused(tmp_path, fmt, members, match):
    _extract_refused(tmp_path, fmt, members, match)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_a_member_is_not_written_through_an_earlier_link(tmp_path, fmt):
    members = [("f.txt", b"original"), ("l", ("sym", "f.txt")), ("l", b"replaced")]
    _extract_refused(tmp_path, fmt, members, "path is a link an earlier member created")


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_member_is_not_written_through_a_redirected_link(tmp_path, fmt):
    members = [("x/", None), ("l", ("sym", "s/../x")), ("s", ("sym", ".")), ("l/evil.txt", b"x")]
    _extract_refused(tmp_path, fmt, members, "outside the target")
    assert not (tmp_path / "out" / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()


def test_tar_hard_link_through_a_link_chain_is_refused(tmp_path):
    (tmp_path / "secret.txt").write_text("outside")
    members = [("x", ("sym", "s/../secret.txt")), ("s", ("sym", ".")), ("h", ("hard", "x"))]
    _extract_refused(tmp_path, "tgz", members, "hard link")


def test_tar_hard_link_outside_is_refused(tmp_path):
    _extract_refused(tmp_path, "tgz", [("h", ("hard", "../secret.txt"))], "hard link")


@pytest.mark.parametrize("fmt", FORMATS)
def test_links_to_files_inside_still_work(tmp_path, fmt):
    members = [("sub/", None), ("sub/y.txt", b"yy"), ("top/link", ("sym", "../sub/y.txt"))]
    out = extract_archive(ARCHIVERS[fmt](tmp_path / f"ok.{fmt}", members), tmp_path / "out")
    assert (out / "top" / "link").is_symlink() and (out / "top" / "link").read_bytes() == b"yy"


@pytest.mark.parametrize("fmt", FORMATS)
def test_fetching_the_reported_archive_lets_no_outside_file_in(tmp_path, fmt):
    """The report: an archive whose links lead from data/v to the folder above the dataset, and a labels
    row v/secret.png; before, the secret image entered the manifest."""
    (tmp_path / "secret.png").write_bytes(png_bytes(9))
    members = [
        ("img.png", png_bytes(1)),
        ("labels.csv", b"image,mos\nimg.png,3\nv/secret.png,4\n"),
        ("a/b/u", ("sym", "../..")),
        ("a/b/u/v", ("sym", "../../..")),
    ]
    archive = ARCHIVERS[fmt](tmp_path / f"mine.{fmt}", members)
    dest = tmp_path / "resources" / "mine"
    with pytest.raises(UnsafeArchiveError, match="points outside"):
        fetch_dataset(
            "mine", {**CSV_OPTIONS, "source": str(archive)}, dest, tmp_path / "lock.json", progress=False
        )
    assert not (dest / "data").exists()
