"""Issue 20, item 14, the smaller things a new user saw: FastBERT's reason reads as words, the Learn page's policy
table is whole, the class band's labels stay horizontal, prototype stars sit on top of the points, and a corrupt
upload's message names the upload, not a temporary file. (Compare's load error: tests/test_app_compare.py.)"""
import numpy as np

from app import charts
from core.policies import POLICIES, decide, make_policy
from tests.conftest import hand_trace, submit_sentence


def test_fastbert_reason_reads_as_words():
    tr = hand_trace()
    pol = make_policy("norm_entropy", threshold=0.4)
    why = [pol.reason(tr, i, decide(pol, tr)) for i in range(tr.n)]
    assert all("the speed threshold 0.4" in w for w in why), why
    assert not any("speed =" in w for w in why)
    e = make_policy("entropy", threshold=0.25)                        # a symbol stays an equation
    assert "S = 0.25" in e.reason(tr, 0, decide(e, tr))


def test_fastbert_reason_on_the_playground(make_app):
    at = make_app(policy="norm_entropy", threshold="0.4")
    submit_sentence(at, "the plot is thin but the actors are having fun .")
    why = next(m.value for m in at.markdown if m.value.startswith("**Why:**"))
    assert "speed threshold" in why and "speed =" not in why


def test_the_learn_policy_table_is_whole(make_app):
    at = make_app(page="learn", topic="policies")
    assert not at.exception
    table = next(t for t in at.table)
    df = table.value
    assert sorted(df.index) == sorted(cls.title for cls in POLICIES.values())
    assert "rule" in df.columns and all(len(r) > 0 for r in df["rule"])


def test_the_class_band_keeps_its_labels_horizontal():
    fig = charts.class_band(np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]), ["cat", "dog"], 1)
    band = next(t for t in fig.data if t.name == "prediction")
    assert band.textangle == 0


def test_prototype_stars_are_drawn_over_the_points():
    for n in (100, 3000):                                               # SVG points, then WebGL points
        rng = np.random.default_rng(0)
        fig = charts.projection_scatter(rng.normal(size=(n, 2)), np.array(["correct"] * n), ["x"] * n,
                                        proto_xy=np.zeros((2, 2)), proto_names=["neg", "pos"])
        *points, stars = fig.data
        assert stars.name == "class prototypes"
        assert {p.type for p in points} == {stars.type}                 # one layer: the last drawn is on top


def test_a_corrupt_upload_names_the_upload_not_a_temporary_file(make_app):
    at = make_app()
    at.sidebar.radio(key="sb_open").set_value("trace").run()
    at.sidebar.file_uploader(key="byo_trace_upload").upload("mine.parquet", b"PAR1 not really a parquet PAR1",
                                                            "application/octet-stream")
    at.run()
    errs = [e.value for e in at.sidebar.error]
    assert len(errs) == 1 and "mine.parquet" in errs[0]
    assert "/tmp" not in errs[0] and "tmp" not in errs[0].lower().replace("mine", "")
