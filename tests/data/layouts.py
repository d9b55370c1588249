"""Builders of tiny datasets in each real dataset's official layout and label format (a few 8x8 images),
plus archive writers. Each builder returns the folder it created (the dataset root) and what a
correct parser must return."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from scipy.io import savemat


def write_image(path: Path, seed: int = 0, size: int = 8) -> Path:
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP", ".png": "PNG"}[path.suffix.lower()]
    Image.fromarray(arr).save(path, format=fmt)
    return path


def jpeg_bytes(seed: int = 0, size: int = 64) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(
        buf, format="JPEG", quality=90
    )
    return buf.getvalue()


def cell(names: list[str]) -> np.ndarray:
    """A MATLAB cell array (column) of strings, as savemat writes it."""
    arr = np.empty((len(names), 1), dtype=object)
    for i, n in enumerate(names):
        arr[i, 0] = n
    return arr


def make_zip(src: Path, out: Path, arcroot: str = "") -> Path:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(src.rglob("*")):
            name = (
                (Path(arcroot) / p.relative_to(src)).as_posix() if arcroot else p.relative_to(src).as_posix()
            )
            zf.write(p, name)
    return out


def make_tar(src: Path, out: Path, arcroot: str = "", mode: str = "w:gz") -> Path:
    with tarfile.open(out, mode) as tf:
        for p in sorted(src.rglob("*")):
            name = (
                (Path(arcroot) / p.relative_to(src)).as_posix() if arcroot else p.relative_to(src).as_posix()
            )
            tf.add(p, name, recursive=False)
    return out


# ------------------------------------------------------------------------------------------ authentic
def build_livec(base: Path, n: int = 6) -> tuple[Path, dict]:
    """ChallengeDB_release/: Images/*.bmp|*.JPG, Images/trainingImages/t1..t7.bmp, Data/*.mat."""
    root = base / "ChallengeDB_release"
    names = [f"t{i}.bmp" for i in range(1, 8)]
    for i in range(1, 8):
        write_image(root / "Images" / "trainingImages" / f"t{i}.bmp", seed=100 + i)
    kept = []
    for i in range(n):
        name = f"{10 + i}.bmp" if i % 2 == 0 else f"{10 + i}.JPG"
        write_image(root / "Images" / name, seed=i)
        kept.append(name)
    names += kept
    mos = np.linspace(5.0, 90.0, len(names))
    std = np.linspace(10.0, 20.0, len(names))
    (root / "Data").mkdir(parents=True)
    savemat(root / "Data" / "AllImages_release.mat", {"AllImages_release": cell(names)})
    savemat(root / "Data" / "AllMOS_release.mat", {"AllMOS_release": mos.reshape(1, -1)})
    savemat(root / "Data" / "AllStdDev_release.mat", {"AllStdDev_release": std.reshape(1, -1)})
    return root, {"images": [f"Images/{k}" for k in kept], "mos": mos[7:], "std": std[7:]}


def build_koniq(base: Path, n: int = 10, resolution: str = "1024x768") -> tuple[Path, dict]:
    """koniq10k_<res>/<res>/*.jpg plus the scores and distributions/sets CSVs at the top."""
    root = base
    ids = [str(10_000_000 + 37 * i) for i in range(n)]
    rng = np.random.default_rng(1)
    counts = rng.integers(0, 30, (n, 5))
    counts[:, 2] += 1
    frac = counts / counts.sum(1, keepdims=True)
    mos = frac @ np.arange(1, 6)
    sets = np.array(["training", "validation", "test"])[np.arange(n) % 3]
    for i, name in enumerate(ids):
        write_image(root / resolution / f"{name}.jpg", seed=i)
    pd.DataFrame(
        {
            "image_name": [f"{i}.jpg" for i in ids],
            **{f"c{k}": counts[:, k - 1] for k in range(1, 6)},
            "c_total": counts.sum(1),
            "MOS": mos,
            "SD": np.full(n, 0.5),
            "MOS_zscore": (mos - 1) * 25,
        }
    ).to_csv(root / "koniq10k_scores_and_distributions.csv", index=False, quoting=1)
    pd.DataFrame(
        {
            "image_name": [f"{i}.jpg" for i in ids],
            **{f"c{k}": frac[:, k - 1] for k in range(1, 6)},
            "c_total": counts.sum(1),
            "MOS": (mos - 1) * 25,
            "SD": np.full(n, 0.5),
            "set": sets,
        }
    ).to_csv(root / "koniq10k_distributions_sets.csv", index=False)
    return root, {"images": [f"{resolution}/{i}.jpg" for i in ids], "mos": mos, "sets": sets}


def build_biq2021(base: Path, n_train: int = 8, n_test: int = 4) -> tuple[Path, dict]:
    """Images/ss0x (N).jpg, 'Train (Images and MOS).csv' with header 'Image Name,MOS,,'; one image is
    stored as .JPG while the CSV says .jpg."""
    root = base / "BIQ2021-main"
    rows = {}
    for which, n, off in (("Train", n_train, 0), ("Test", n_test, 1000)):
        lines = ["Image Name,MOS,,"]
        for i in range(n):
            name = f"ss0{1 + i % 3} ({off + i + 1}).jpg"
            on_disk = name[:-4] + ".JPG" if (which == "Train" and i == 1) else name
            write_image(root / "Images" / on_disk, seed=off + i)
            lines.append(f"{name},{(i + 1) / (n + 1):.4f},,")
            rows.setdefault(which, []).append(on_disk)
        (root / f"{which} (Images and MOS).csv").write_text("\n".join(lines) + "\n")
    return root, rows


def build_bid(base: Path, numbers=(1, 3, 4, 7)) -> tuple[Path, dict]:
    root = base / "BID"
    header = [
        "Image Number",
        "Average Subjective Grade",
        "Number of Grades",
        "Grade #1",
        "Grade #2",
        "Grade #3",
    ]
    rows = []
    for k, n in enumerate(numbers):
        write_image(root / "ImageDatabase" / f"DatabaseImage{n:04d}.JPG", seed=k)
        g = [1.0 + k, 2.0 + k * 0.5, 1.5]
        rows.append([n, float(np.mean(g)), 3, *g])
    pd.DataFrame(rows, columns=header).to_excel(root / "DatabaseGrades.xlsx", index=False)
    (root / "DatabaseGrades.xlsx").rename(root / "DatabaseGrades.xls")  # pandas reads by content
    return root, {"images": [f"ImageDatabase/DatabaseImage{n:04d}.JPG" for n in numbers]}


# ------------------------------------------------------------------------------------------ synthetic
def build_kadid(base: Path, n_refs: int = 4, n_dist: int = 3) -> tuple[Path, dict]:
    """kadid10k/images/I01.png, I01_01_01.png ..., kadid10k/dmos.csv."""
    root = base / "kadid10k"
    rows = []
    for r in range(1, n_refs + 1):
        write_image(root / "images" / f"I{r:02d}.png", seed=r)
        for d in range(1, n_dist + 1):
            name = f"I{r:02d}_{d:02d}_01.png"
            write_image(root / "images" / name, seed=100 * r + d)
            rows.append((name, f"I{r:02d}.png", 1.0 + (r + d) % 4, 0.25))
    pd.DataFrame(rows, columns=["dist_img", "ref_img", "dmos", "var"]).to_csv(root / "dmos.csv", index=False)
    return root, {"n": len(rows), "refs": n_refs}


def build_pipal(base: Path, n_refs: int = 3, n_dist: int = 4) -> tuple[Path, dict]:
    root = base / "PIPAL"
    for r in range(1, n_refs + 1):
        ref = f"A{r:04d}"
        write_image(root / "Train_Ref" / f"{ref}.bmp", seed=r)
        lines = []
        for d in range(n_dist):
            name = f"{ref}_{d:02d}_00.bmp"
            write_image(root / f"Distortion_{1 + d % 4}" / name, seed=10 * r + d)
            lines.append(f"{name},{1200 + 50 * d + r:.4f}")
        (root / "Train_Label").mkdir(parents=True, exist_ok=True)
        (root / "Train_Label" / f"{ref}.txt").write_text("\n".join(lines) + "\n")
    return root, {"n": n_refs * n_dist}


def build_tid2013(base: Path, n_refs: int = 2, n_dist: int = 3) -> tuple[Path, dict]:
    root = base / "tid2013"
    mos_lines, std_lines = [], []
    for r in range(1, n_refs + 1):
        write_image(root / "reference_images" / f"I{r:02d}.BMP", seed=r)
        for d in range(1, n_dist + 1):
            listed = f"i{r:02d}_{d:02d}_1.bmp"
            on_disk = listed.upper().replace(".BMP", ".bmp") if d == 1 else listed  # case differs on disk
            write_image(root / "distorted_images" / on_disk, seed=10 * r + d)
            mos_lines.append(f"{4 + 0.1 * d:.5f} {listed}")
            std_lines.append(f"{0.1 * d:.5f}")
    (root / "mos_with_names.txt").write_text("\n".join(mos_lines) + "\n")
    (root / "mos_std.txt").write_text("\n".join(std_lines) + "\n")
    return root, {"n": n_refs * n_dist}


def build_live(base: Path) -> tuple[Path, dict]:
    """databaserelease2/: jp2k/img1..227.bmp ... (tiny), refimgs/*.bmp, dmos_realigned.mat,
    refnames_all.mat."""
    from gmc.data.datasets.parsers import LIVE_FOLDERS

    root = base / "databaserelease2"
    refs = ["bikes.bmp", "house.bmp", "parrots.bmp"]
    for i, r in enumerate(refs):
        write_image(root / "refimgs" / r, seed=i, size=4)
    names, k = [], 0
    for folder, count in LIVE_FOLDERS:
        for i in range(1, count + 1):
            write_image(root / folder / f"img{i}.bmp", seed=k, size=4)
            names.append(refs[k % 3])
            k += 1
    total = len(names)
    orgs = np.zeros(total)
    orgs[::5] = 1  # every fifth entry is a copy of a reference
    dmos = np.where(orgs == 1, 0.0, 20 + (np.arange(total) % 60))
    savemat(
        root / "dmos_realigned.mat",
        {"dmos_new": dmos.reshape(1, -1), "orgs": orgs.reshape(1, -1), "dmos_std": np.full((1, total), 5.0)},
    )
    ref_cell = np.empty((1, total), dtype=object)
    for i, n in enumerate(names):
        ref_cell[0, i] = n
    savemat(root / "refnames_all.mat", {"refnames_all": ref_cell})
    return root, {"n": int((orgs == 0).sum())}


def build_csiq(base: Path) -> tuple[Path, dict]:
    root = base / "CSIQ"
    rows = []
    for img in (1600, "boston"):
        write_image(root / "src_imgs" / f"{img}.png", seed=1)
        for dst_type, folder, token in (("noise", "awgn", "AWGN"), ("jpeg 2000", "jpeg2000", "jpeg2000")):
            for lev in (1, 2):
                write_image(root / "dst_imgs" / folder / f"{img}.{token}.{lev}.png", seed=lev)
                rows.append([img, 1, dst_type, lev, 0.05, 0.1 * lev])
    raw = [[None] * 9 for _ in range(3)]
    raw.append([None, None, None, "image", "dst_idx", "dst_type", "dst_lev", "dmos_std", "dmos"])
    raw += [[None, None, None, *r] for r in rows]
    with pd.ExcelWriter(root / "csiq.DMOS.xlsx") as xw:
        pd.DataFrame(raw).to_excel(xw, sheet_name="all_by_image", header=False, index=False)
    return root, {"n": len(rows)}


def build_spaq(base: Path, n: int = 4) -> tuple[Path, dict]:
    root = base / "SPAQ"
    names = [f"{i:05d}.jpg" for i in range(1, n + 1)]
    for i, name in enumerate(names):
        write_image(root / "TestImage" / name, seed=i)
    (root / "Annotations").mkdir(parents=True)
    pd.DataFrame({"Image name": names, "MOS": np.linspace(10, 90, n), "Brightness": 1.0}).to_excel(
        root / "Annotations" / "MOS_and_Image_attribute_scores.xlsx", index=False
    )
    return root, {"n": n}


def build_flive(base: Path, n: int = 4) -> tuple[Path, dict]:
    root = base / "FLIVE_Database"
    names = [f"AVA__{i}.jpg" if i % 2 else f"voc_emotic_ava/VOC_{i}.jpg" for i in range(n)]
    for i, name in enumerate(names):
        write_image(root / "database" / name, seed=i)
    pd.DataFrame({"name": names, "mos": np.linspace(20, 80, n)}).to_csv(
        root / "labels_image.csv", index=False
    )
    return root, {"n": n}
