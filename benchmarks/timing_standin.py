"""A timing stand-in for a dataset that cannot be downloaded where a config's run time must be measured.

It writes a folder in LIVE Challenge's release layout (``ChallengeDB_release/Images``, ``Data/*.mat``,
the 7 training images ``t1..t7.bmp`` included, 1,169 rows) whose photos are other real photos resized to
LIVEC's 500 x 500 and whose MOS are those photos' own MOS rescaled to LIVEC's 0-100. The workflow
reads it like the real release (``datasets.livec.source: <folder>``), so every job has the real job's
image count and size: its **times** stand for LIVEC's, its **scores are not LIVEC's** and must never be
reported as such (the photos are another dataset's; with BIQ2021's as the source, the "cross-dataset"
scores are on overlapping photos).

    python benchmarks/timing_standin.py --photos ../shared/data/biq2021-test --out /tmp/livec-standin
    # then a copy of config/cpu-real.yaml with datasets.livec.source: /tmp/livec-standin/ChallengeDB_release
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from scipy.io import savemat

LIVEC_ROWS, LIVEC_TRAINING, LIVEC_SIDE = 1169, 7, 500


def _cell(names: list[str]) -> np.ndarray:
    """A MATLAB cell array (column) of strings, as the release's ``AllImages_release`` is."""
    out = np.empty((len(names), 1), dtype=object)
    out[:, 0] = names
    return out


def build(photos: Path, out: Path, seed: int = 0) -> Path:
    """Write the stand-in under ``out/ChallengeDB_release`` from BIQ2021's layout (``Images/``, the CSV of
    ``Image Name, MOS`` in [0, 1]); returns the release folder."""
    table = pd.read_csv(next(photos.glob("*.csv")))
    rows = table.sample(n=LIVEC_ROWS, random_state=seed).reset_index(drop=True)
    root = out / "ChallengeDB_release"
    (root / "Images" / "trainingImages").mkdir(parents=True, exist_ok=True)
    (root / "Data").mkdir(parents=True, exist_ok=True)
    names = []
    for i, name in enumerate(rows["Image Name"]):
        image = Image.open(photos / "Images" / name).convert("RGB").resize((LIVEC_SIDE, LIVEC_SIDE))
        if i < LIVEC_TRAINING:
            target, names_entry = root / "Images" / "trainingImages" / f"t{i + 1}.bmp", f"t{i + 1}.bmp"
        else:
            target, names_entry = root / "Images" / f"{i + 3}.JPG", f"{i + 3}.JPG"
        image.save(target, quality=95) if target.suffix == ".JPG" else image.save(target)
        names.append(names_entry)
    mos = rows["MOS"].to_numpy(dtype=float) * 100.0
    savemat(root / "Data" / "AllImages_release.mat", {"AllImages_release": _cell(names)})
    savemat(root / "Data" / "AllMOS_release.mat", {"AllMOS_release": mos.reshape(1, -1)})
    savemat(root / "Data" / "AllStdDev_release.mat", {"AllStdDev_release": np.full((1, len(mos)), 10.0)})
    (out / "README.txt").write_text(
        f"TIMING STAND-IN, NOT LIVEC: {LIVEC_ROWS} photos of {photos} resized to {LIVEC_SIDE} x {LIVEC_SIDE} "
        "in LIVE Challenge's release layout, with their own MOS x 100. Its scores say nothing of LIVEC.\n",
        encoding="utf-8",
    )
    return root


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=Path, required=True, help="BIQ2021's folder: Images/ and its MOS CSV")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print(build(args.photos, args.out, args.seed))


if __name__ == "__main__":
    main()
