"""Three subject splits (issue 15): train / selection / test, disjoint by subject, on synthetic and WCPA layouts;
the old two-way split reproduced exactly; what a search records and what stage 2 is scored on."""
from types import SimpleNamespace

import numpy as np
import pytest

from facedata.cache import CacheConfig, assign_splits, build_cache, open_cache
from facedata.embedded import split_tag
from nas.settings import SettingsError, make_settings
from trainers.task import FaceTask, scored_split


def layout(subjects: int, frames: int, unlabelled: int = 0) -> SimpleNamespace:
    """A WCPA-like layout: `subjects` labelled subjects, then `unlabelled` subjects of WCPA's test list."""
    ids, split = [], []
    for s in range(subjects + unlabelled):
        for f in range(frames):
            ids.append((f"{s:03d}", "0", str(f)))
            split.append("train" if s < subjects else "test")
    return SimpleNamespace(ids=np.array(ids), split=np.array(split))


def subjects_of(lay: SimpleNamespace, split: np.ndarray, name: str) -> set[str]:
    return set(lay.ids[split == name, 0])


@pytest.mark.parametrize("unlabelled", [0, 7])  # the embedded synthetic set has no test list; a WCPA root has one
def test_three_splits_are_disjoint_by_subject(unlabelled):
    lay = layout(50, 4, unlabelled)
    split = assign_splits(lay, 0.15, seed=3, test_fraction=0.15)
    parts = {name: subjects_of(lay, split, name) for name in ("train", "val", "hold", "test")}
    assert (len(parts["val"]), len(parts["hold"]), len(parts["train"])) == (8, 8, 34)  # round(7.5) = 8
    assert len(parts["test"]) == unlabelled and all(int(s) >= 50 for s in parts["test"])
    names = list(parts)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not parts[a] & parts[b], (a, b)
    for s in np.unique(lay.ids[:, 0]):  # every frame of a subject in one split
        assert len(set(split[lay.ids[:, 0] == s])) == 1


def test_seeded_and_different_across_seeds():
    lay = layout(40, 2)
    a, b = (assign_splits(lay, 0.15, seed=s, test_fraction=0.15) for s in (0, 0))
    assert (a == b).all()
    assert not (a == assign_splits(lay, 0.15, seed=1, test_fraction=0.15)).all()


def test_the_old_two_way_split_is_reproduced_exactly():
    """Caches made before issue 15 (20 % selection subjects, no test split) are made again bit for bit."""
    lay = layout(50, 3, 5)
    old = np.where(lay.split == "test", "test", "train").astype("<U5")  # the former algorithm, written out
    subjects = np.unique(lay.ids[old == "train", 0])
    val = np.random.default_rng(0).permutation(subjects)[:10]
    old[(old == "train") & np.isin(lay.ids[:, 0], val)] = "val"
    assert (assign_splits(lay, 0.2, seed=0) == old).all()
    assert split_tag(0.2, 0.0) == "" and split_tag(0.15, 0.15) == "-v15t15"


def test_small_sets_keep_a_subject_to_train_on():
    split = assign_splits(layout(2, 2), 0.5, seed=0, test_fraction=0.5)
    assert (split == "train").any()
    assert set(np.unique(split)) <= {"train", "val", "hold"}


def test_a_cache_with_a_test_split_names_its_subjects(tiny_root, tmp_path):
    out = tmp_path / "c3"
    manifest = build_cache(CacheConfig(data=str(tiny_root), out=str(out), res=32, val_subjects=0.25,
                                       test_subjects=0.25))
    assert manifest["counts"]["hold"] > 0 and manifest["subjects"]["hold"] == 1
    splits = FaceTask().splits(str(out))
    subjects = splits["subjects"]
    assert set(subjects) >= {"train", "selection", "test"}
    assert not set(subjects["train"]) & set(subjects["selection"])
    assert not set(subjects["test"]) & (set(subjects["train"]) | set(subjects["selection"]))
    cache = open_cache(out)
    assert splits["frames"]["test"] == len(cache.indices("hold"))


def test_stage_2_is_scored_on_the_test_subjects_where_there_are_some():
    with_test = SimpleNamespace(rows={"val": np.arange(3), "hold": np.arange(2)})
    without = SimpleNamespace(rows={"val": np.arange(3), "hold": np.arange(0)})
    assert scored_split("test", with_test) == "hold" and scored_split("selection", with_test) == "val"
    assert scored_split("test", without) == "val"  # an older cache: the report says selection and test coincide
    with pytest.raises(ValueError):
        scored_split("train", with_test)


@pytest.mark.parametrize("values", [{"selection_subjects": 0.6, "test_subjects": 0.4},
                                    {"test_subjects": -0.1}, {"selection_subjects": 1.0}])
def test_split_fractions_are_checked(values):
    with pytest.raises(SettingsError):
        make_settings({"budget": "5G", **values}, "smoke")


def test_a_run_from_before_the_test_split_keeps_its_data(tmp_path):
    from nas.runs import write_yaml
    from nas.settings import load_settings
    values = make_settings({"budget": "5G"}, "smoke").to_dict()
    values.pop("selection_subjects"), values.pop("test_subjects")
    write_yaml(tmp_path / "config.yaml", values)
    s = load_settings(tmp_path / "config.yaml")
    assert (s.selection_subjects, s.test_subjects) == (0.2, 0.0)
