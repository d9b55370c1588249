"""make_splits / official_splits: no leakage, deterministic, independent of row order, sizes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gmc.data.splits import check_splits, make_splits, official_splits, split_sizes


def authentic(n=50):
    return pd.DataFrame(
        {"image": [f"img{i:03d}.jpg" for i in range(n)], "content": [f"img{i:03d}.jpg" for i in range(n)]}
    )


def synthetic(n_refs=10, per_ref=7):
    rows = [(f"I{r:02d}_{d:02d}.png", f"I{r:02d}.png") for r in range(n_refs) for d in range(per_ref)]
    return pd.DataFrame(rows, columns=["image", "content"])


def test_sizes_and_parts():
    table = authentic(50)
    splits = make_splits(table, n_splits=3, seed=0)
    assert list(splits.columns) == ["image", "split", "part"]
    assert len(splits) == 150
    sizes = check_splits(splits, table)
    assert sizes[0] == {"train": 36, "val": 4, "test": 10}
    assert split_sizes(50, 0.2, 0.1) == (36, 4, 10)
    assert split_sizes(3, 0.2, 0.1) == (1, 1, 1)
    assert split_sizes(10, 0.0, 0.0) == (10, 0, 0)
    with pytest.raises(ValueError):
        split_sizes(1, 0.2, 0.1)


def test_deterministic_and_order_free():
    table = authentic(40)
    a = make_splits(table, n_splits=4, seed=7)
    shuffled = table.sample(frac=1.0, random_state=3).reset_index(drop=True)
    b = make_splits(shuffled, n_splits=4, seed=7)
    pd.testing.assert_frame_equal(a, b)
    c = make_splits(table, n_splits=4, seed=8)
    assert not a.equals(c)
    # splits differ from each other, and split k does not depend on n_splits
    tests = [set(a[(a.split == k) & (a.part == "test")].image) for k in range(4)]
    assert len({frozenset(t) for t in tests}) == 4
    first = make_splits(table, n_splits=1, seed=7)
    pd.testing.assert_frame_equal(first, a[a.split == 0].reset_index(drop=True))


def test_group_by_content_keeps_references_together():
    table = synthetic()
    splits = make_splits(table, n_splits=5, seed=1, group_by="content")
    check_splits(splits, table, group_by="content")
    merged = splits.merge(table, on="image")
    assert (merged.groupby(["split", "content"])["part"].nunique() == 1).all()
    counts = merged[merged.split == 0].groupby("part")["content"].nunique().to_dict()
    assert counts == {"test": 2, "train": 7, "val": 1}
    # "reference" is an alias of "content"
    pd.testing.assert_frame_equal(splits, make_splits(table, n_splits=5, seed=1, group_by="reference"))


def test_leakage_is_detected():
    table = synthetic(4, 3)
    splits = make_splits(table, n_splits=1, seed=0, group_by="content")
    leaked = splits.copy()
    first_test = leaked.index[leaked.part == "test"][0]
    ref = table.set_index("image").loc[leaked.loc[first_test, "image"], "content"]
    other = leaked.index[(leaked.part == "test") & (leaked.image.str.startswith(ref[:3]))][1]
    leaked.loc[other, "part"] = "train"
    with pytest.raises(ValueError, match="leakage"):
        check_splits(leaked, table, group_by="content")


def test_bad_input():
    with pytest.raises(ValueError, match="duplicate"):
        make_splits(pd.DataFrame({"image": ["a", "a", "b"]}), n_splits=1, seed=0)
    with pytest.raises(ValueError, match="group_by"):
        make_splits(authentic(5), n_splits=1, seed=0, group_by="scene")
    with pytest.raises(ValueError, match="no official split"):
        official_splits("livec", "/nonexistent")


def test_seed_sequence_is_documented_behaviour():
    table = authentic(20)
    order = np.array(sorted(table.image), dtype=object)
    rng = np.random.default_rng(np.random.SeedSequence([5, 2]))
    expect_test = set(order[rng.permutation(20)][:4])
    s = make_splits(table, n_splits=3, seed=5)
    assert set(s[(s.split == 2) & (s.part == "test")].image) == expect_test
