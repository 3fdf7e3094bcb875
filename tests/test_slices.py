"""Slices and prediction depth on the hand trace of conftest (3 samples × 4 blocks): every number worked out by
hand in the comments, and slicings checked against what a person reads off the text."""
import numpy as np
import pandas as pd
import pytest

from core.analysis import (
    confusion_at_exit,
    confusion_per_exit,
    csv_column,
    depth_histogram,
    kl_to_final,
    make_slicing,
    mean_kl,
    prediction_depth,
    slice_table,
)
from core.policies import EntropyThreshold, decide
from core.trace import Trace
from tests.conftest import hand_trace

# Entropies of the hand trace (nats): sample 0 .673 .325 .056 .056 · sample 1 .611 .673 .500 .325 ·
# sample 2 .325 .611 .673 .500; labels 0 1 0; predictions 0000 · 0111 · 0101.


def test_slice_table_by_hand_entropy_04():
    # S = 0.4: sample 0 exits at block 2 (1-based) answering 0 (right); sample 1 never goes below .4 before the
    # last block: block 4, answers 1 (right); sample 2 exits at block 1 answering 0 (right; the final exit says 1:
    # wrong — an exit-fixed error and destructive overthinking).
    tr = hand_trace()
    df = slice_table(tr, EntropyThreshold(0.4), np.array(["x", "y", "x"])).set_index("slice")
    assert df.loc["x", "samples"] == 2 and df.loc["y", "samples"] == 1
    assert df.loc["x", "accuracy (policy)"] == 1.0 and df.loc["x", "accuracy (final exit)"] == 0.5
    assert df.loc["x", "accuracy drop"] == -0.5
    assert df.loc["x", "exit-induced error rate"] == 0.0
    assert df.loc["x", "mean exit block"] == 1.5 and df.loc["x", "layer speed-up"] == pytest.approx(4 / 1.5)
    assert df.loc["x", "destructive overthinking rate"] == 0.5
    assert df.loc["y", "mean exit block"] == 4.0 and df.loc["y", "layer speed-up"] == 1.0
    assert df.loc["y", "destructive overthinking rate"] == 0.0


def test_slice_table_exit_induced_error_and_bounds():
    # S = 0.68: every sample exits at block 1, answering 0. Sample 1 (label 1, final exit right) is an exit-induced
    # error: slice y has rate 1; slice x none.
    tr = hand_trace()
    df = slice_table(tr, EntropyThreshold(0.68), np.array(["x", "y", "x"]), delta=0.1).set_index("slice")
    assert df.loc["y", "exit-induced error rate"] == 1.0 and df.loc["x", "exit-induced error rate"] == 0.0
    assert df.loc["y", "accuracy (policy)"] == 0.0 and df.loc["y", "accuracy (final exit)"] == 1.0
    # Clopper–Pearson with 0 errors of 2 at δ = .1: 1 − .1^(1/2); 1 error of 1: 1
    assert df.loc["x", "induced rate bound"] == pytest.approx(1 - 0.1 ** 0.5)
    assert df.loc["y", "induced rate bound"] == 1.0
    # Hoeffding on the exit block in [1, 4], n = 2: 1 ± 3·sqrt(ln(20)/4), clipped to [1, 4]
    half = 3 * np.sqrt(np.log(20) / 4)
    assert df.loc["x", "speed-up high"] == 4.0 and df.loc["x", "speed-up low"] == pytest.approx(4 / min(1 + half, 4))
    assert df.attrs["rows"] == "3 rows"


def test_empty_slice_is_kept_and_unlabelled_rows_give_nan():
    tr = hand_trace(texts=["one two", "a b c d e f g h i j k l", "x"])
    df = slice_table(tr, EntropyThreshold(0.4), "length")
    assert df["slice"].tolist() == ["1–10 words", "11–20 words", "21–30 words", "> 30 words"]
    assert df["samples"].tolist() == [2, 1, 0, 0]               # 2, 12 and 1 words; empty slices stay as rows
    assert np.isnan(df.loc[2, "accuracy (policy)"]) and np.isnan(df.loc[2, "layer speed-up"])
    tr = hand_trace(labels=[0, -1, 0])
    df = slice_table(tr, EntropyThreshold(0.4), "label").set_index("slice")
    assert df.index.tolist() == ["0", "1", "unknown label"]
    assert df.loc["unknown label", "samples"] == 1 and np.isnan(df.loc["unknown label", "exit-induced error rate"])
    assert df.loc["0", "accuracy (policy)"] == 1.0


def test_slicings_read_the_text_the_labels_and_the_final_exit():
    texts = ["the film is n't bad", "a good film , but too long", "Nothing works", "fine"]
    n = len(texts)
    tr = Trace(logits=np.log([[[.5, .5], [.95, .05]], [[.5, .5], [.32, .68]], [[.5, .5], [.75, .25]],
                              [[.5, .5], [.35, .65]]]),
               pooled=np.zeros((n, 2, 1)), labels=[0, 1, 1, 0], texts=texts, flops_per_block=[1, 1])
    assert make_slicing(tr, "negation").codes(tr).tolist() == [0, 1, 0, 1]        # n't, nothing (any case)
    assert make_slicing(tr, "contrast").codes(tr).tolist() == [1, 0, 1, 1]
    assert make_slicing(tr, "intensifier").codes(tr).tolist() == [1, 0, 1, 1]     # "too" in sample 1 → 0
    assert make_slicing(tr, "regex", pattern=r"\bfilm\b").codes(tr).tolist() == [0, 0, 1, 1]
    assert make_slicing(tr, "pred").codes(tr).tolist() == [0, 1, 0, 1]
    assert make_slicing(tr, "label").codes(tr).tolist() == [0, 1, 1, 0]
    conf = make_slicing(tr, "confidence")                                         # max p: .95 .68 .75 .65
    assert conf.values == ("≤ 0.6", "0.6–0.7", "0.7–0.8", "0.8–0.9", "> 0.9")
    assert conf.codes(tr).tolist() == [4, 1, 2, 1]                               # bins (lo, hi]
    with pytest.raises(ValueError, match="regular expression"):
        make_slicing(tr, "regex", pattern="(")
    with pytest.raises(ValueError, match="cannot slice by"):
        make_slicing(tr, "shoe size")


def test_columns_recorded_or_uploaded():
    tr = hand_trace(meta={"categories": ["negation", "short", "negation"]})
    s = make_slicing(tr, "category")
    assert s.values == ("negation", "short") and s.codes(tr).tolist() == [0, 1, 0]
    s = make_slicing(tr, np.array(["b", None, "a"], dtype=object), name="genre")
    assert s.values == ("a", "b", "missing") and s.codes(tr).tolist() == [1, 2, 0]
    x = np.arange(20, dtype=float)                                                # > 12 numbers: quartiles
    many = Trace(logits=np.zeros((20, 2, 2)), pooled=np.zeros((20, 2, 1)), labels=[0] * 20, texts=[""] * 20,
                 flops_per_block=[1, 1])
    s = make_slicing(many, x, name="age")
    assert s.values == ("≤ 4.75", "4.75–9.5", "9.5–14.25", "> 14.25")
    assert np.bincount(s.codes(many)).tolist() == [5, 5, 5, 5]


def test_prediction_depth_by_hand():
    tr = hand_trace()                                  # predictions 0000 · 0111 · 0101
    assert prediction_depth(tr).tolist() == [0, 1, 3]
    h = depth_histogram(tr, make_slicing(tr, np.array(["x", "y", "x"])))
    assert h[["block 1", "block 2", "block 3", "block 4"]].to_numpy().tolist() == [[1, 0, 0, 1], [0, 1, 0, 0]]
    assert h["mean depth (1-based)"].tolist() == [2.5, 2.0]
    one = Trace(logits=np.zeros((2, 1, 2)), pooled=np.zeros((2, 1, 1)), labels=[0, 1], texts=["", ""],
                flops_per_block=[1])
    assert prediction_depth(one).tolist() == [0, 0]


def test_kl_to_final_by_hand():
    tr = hand_trace()
    kl = kl_to_final(tr)
    # sample 1, block 0: p_L = (.1, .9), p_0 = (.7, .3): .1 ln(.1/.7) + .9 ln(.9/.3)
    assert kl[1, 0] == pytest.approx(0.1 * np.log(0.1 / 0.7) + 0.9 * np.log(3), rel=1e-6)
    assert kl[0, 2] == pytest.approx(0.0, abs=1e-7) and (kl[:, -1] == 0).all()
    m = mean_kl(tr).iloc[0]
    assert m["block 1"] == pytest.approx(kl[:, 0].mean()) and m["samples"] == 3


def test_confusions_by_hand():
    tr = hand_trace()                                  # labels 0 1 0
    c = confusion_per_exit(tr)
    assert c[0].tolist() == [[2, 0], [1, 0]]           # block 1 predicts 0 everywhere
    assert c[3].tolist() == [[1, 1], [0, 1]]           # last block: 0, 1, 1
    assert confusion_per_exit(tr, mask=np.array([True, False, False]))[3].tolist() == [[1, 0], [0, 0]]
    ex = decide(EntropyThreshold(0.68), tr)              # every answer 0
    assert confusion_at_exit(tr, ex).tolist() == [[2, 0], [1, 0]]


def test_table_is_one_row_per_value_in_order():
    tr = hand_trace()
    df = slice_table(tr, EntropyThreshold(0.4), "label")
    assert isinstance(df, pd.DataFrame) and df["slice"].tolist() == ["0", "1"]
    assert df["samples"].tolist() == [2, 1]


def test_csv_column_aligns_by_order_or_row():
    frame = pd.DataFrame({"genre": ["drama", "comedy", "drama"]})
    assert csv_column(frame, "genre", 3).tolist() == ["drama", "comedy", "drama"]
    with pytest.raises(ValueError, match="3 lines but the data has 4"):
        csv_column(frame, "genre", 4)
    with pytest.raises(ValueError, match="no column 'age'"):
        csv_column(frame, "age", 3)
    by_row = pd.DataFrame({"row": [2, 0, 9, 0], "genre": ["x", "y", "far", "again"]})
    assert csv_column(by_row, "genre", 4).tolist() == ["y", None, "x", None]     # row 9 out of range, row 0 once
    s = make_slicing(hand_trace(), csv_column(by_row, "genre", 3), name="genre")
    assert s.values == ("missing", "x", "y") and s.codes(hand_trace()).tolist() == [2, 0, 1]
    ages = pd.DataFrame({"row": [0, 2], "age": [31, 45]})                         # numbers stay numbers
    assert np.isnan(csv_column(ages, "age", 3)[1]) and csv_column(ages, "age", 3)[2] == 45.0
