"""The calibration split (core.data.splits) on the real GLUE train files: held out from training, drawn with a fixed
seed, of the documented size — and for SST-2 made of whole sentences whose phrases leave the fit split too."""
import numpy as np
import pytest

from core.data import load_task, splits
from core.train import load_rows


@pytest.fixture(scope="module")
def sst2_train():
    return [t.strip() for t in load_task("sst2", "train")["text"]]


def test_sst2_calibration_is_2000_whole_sentences_none_of_which_trains(sst2_train):
    cal, fit = splits.calibration_indices("sst2"), splits.fit_indices("sst2")
    assert len(cal) == 2000 and len(set(cal) & set(fit)) == 0
    texts = set(sst2_train)
    spans_of_cal = set()
    for i in cal:
        words = sst2_train[i].split(" ")
        assert len(words) >= 1
        spans_of_cal.update(" ".join(words[a:b]) for a in range(len(words)) for b in range(a + 1, len(words) + 1))
    assert not any(sst2_train[i] in spans_of_cal for i in fit)          # no phrase of a held-out sentence trains
    roots = set(splits.root_rows(sst2_train).tolist())
    assert set(cal.tolist()) <= roots                                  # each one is a sentence, not a fragment
    assert len(texts) > 0 and len(fit) + len(cal) < len(sst2_train)    # the removed phrases went nowhere


def test_calibration_sentences_look_like_dev(sst2_train):
    cal = splits.calibration_indices("sst2")
    cal_len = np.median([len(sst2_train[i].split()) for i in cal])
    dev_len = np.median([len(t.split()) for t in load_task("sst2", "validation")["text"]])
    assert abs(cal_len - dev_len) <= 3                                  # not SST-2's two-word fragments


def test_root_rows_by_hand():
    rows = ["a fine film", "fine film", "film", "a dull one", "dull"]
    assert splits.root_rows(rows).tolist() == [0, 3]


def test_the_seed_fixes_the_draw_and_the_card_records_it():
    a, b = splits.split_info("mrpc"), splits.split_info("mrpc")
    assert a == b and a["rows"] == 400 and a["fit_rows"] == 3668 - 400 and a["selection"] == "uniform"
    other = splits.calibration_indices("mrpc", seed=1)
    assert not np.array_equal(other, splits.calibration_indices("mrpc"))
    assert splits.split_info("mrpc", seed=1)["ids_sha256"] != a["ids_sha256"]


def test_load_split_and_training_rows_use_the_same_partition():
    cal = splits.load_split("mrpc", "calibration")
    fit_a, fit_b, _ = load_rows("mrpc", "fit", None)
    assert len(cal) == 400 and len(fit_a) == 3268
    assert not set(zip(cal["text"], cal["text_b"])) & set(zip(fit_a, fit_b))     # no held-out pair trains
