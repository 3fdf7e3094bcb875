"""app.charts without Streamlit: assertions on the figures' data and layout."""
import numpy as np
import pandas as pd
import pytest

from app import charts
from core.analysis import (
    Stat,
    calibration,
    destructive_overthinking,
    pareto_front,
    pca_2d,
    per_exit_accuracy,
    primary_cohort,
    sweep_all,
)
from core.model import approx_sign_curves
from core.policies import decide, make_policy, sample_signals
from tests.conftest import random_trace


def _trace(n=40, blocks=4, k=2, seed=0, protos=True):
    return random_trace(n, blocks, k, seed, flops=np.full(blocks, 1e6), scale=1.5, protos=protos,
                        embed_dim=3 if protos else 0, pooled_dim=5, flops_embed=1e5,
                        texts=[f"sentence {i}" for i in range(n)],
                        meta={"label_names": ["neg", "pos"][:k] if k == 2 else None})


def _named(fig, name):
    return [t for t in fig.data if t.name == name]


def test_signal_curves_threshold_line_and_exit_marker():
    tr = _trace()
    pol = make_policy("entropy", threshold=0.5)
    e = int(decide(pol, tr).exit_block[3])
    stats = sample_signals(tr, 3)
    fig = charts.signal_curves(stats, "entropy", 0.5, e, keys=["entropy", "entropy_norm", "frac_reduction", "edr"])
    # 4 signal curves + threshold line + exit marker
    assert len(fig.data) == 6
    (thr,) = _named(fig, "threshold")
    assert list(thr.y) == [0.5, 0.5]
    assert "text" in thr.mode and thr.text[-1] == "threshold 0.5 · exit when below"     # labelled, not hover-only
    (ex,) = _named(fig, "exit")
    assert list(ex.x) == [e + 1]
    assert ex.y[0] == pytest.approx(float(tr.entropy[3, e]))
    # panels titled and their y axes labelled by each Stat's name and unit
    titles = [a.text for a in fig.layout.annotations]
    assert titles[0].startswith("entropy H(p)") and "policy's signal" in titles[0]
    assert any(t.startswith("normalized entropy") for t in titles)
    assert fig.layout.yaxis.title.text == "nats"
    assert fig.layout.yaxis2.title.text == "× ln K"
    assert fig.layout.xaxis4.title.text == "block"


def test_signal_curves_policy_panel_is_added_and_direction_shown():
    tr = _trace()
    pol = make_policy("maxprob", threshold=0.8)
    e = int(decide(pol, tr).exit_block[0])
    fig = charts.signal_curves(sample_signals(tr, 0), "max_prob", 0.8, e, "above", keys=["entropy"])
    assert len([t for t in fig.data if t.name not in ("threshold", "exit")]) == 2      # entropy + max prob
    assert "≥" in _named(fig, "threshold")[0].hovertemplate
    assert list(_named(fig, "exit")[0].x) == [e + 1]


def test_signal_curves_without_policy_has_no_threshold():
    tr = _trace()
    fig = charts.signal_curves(sample_signals(tr, 0), None, None, None, keys=["entropy"])
    assert len(fig.data) == 1 and not _named(fig, "threshold") and not _named(fig, "exit")


def test_class_band_heatmap_and_exit():
    tr = _trace()
    fig = charts.class_band(tr.probs[0], tr.label_names, exit_block=2)
    (heat,) = [t for t in fig.data if t.type == "heatmap"]
    assert np.allclose(np.asarray(heat.z), tr.probs[0].T)
    assert list(heat.y) == ["neg", "pos"]
    (band,) = _named(fig, "prediction")
    assert list(band.text) == [tr.label_names[p] for p in tr.preds[0]]
    assert list(_named(fig, "exit")[0].x) == [3]
    assert charts.class_band(tr.probs[0], tr.label_names).data[-1].name != "exit"


def test_probability_lines_and_prototype_distances():
    tr = _trace(k=3)
    fig = charts.probability_lines(tr.probs[1], ["a", "b", "c"], exit_block=1)
    assert len(fig.data) == 3 and fig.layout.yaxis.title.text == "probability"
    fig = charts.prototype_distances(tr.proto_dist[1], ["a", "b", "c"], 1)
    assert len(fig.data) == 3 and fig.layout.barmode == "group"
    assert "squared Euclidean" in fig.layout.yaxis.title.text
    assert np.allclose(fig.data[2].y, tr.proto_dist[1][:, 2])


def test_flops_bar():
    fig = charts.flops_bar(2e6, 5e6, exit_block=1, n_blocks=4)
    assert list(fig.data[0].x) == [5.0, 2.0]
    assert "40%" in fig.data[0].text[1]


def test_pareto_chart_points_carry_policy_and_threshold():
    tr = _trace(n=200)
    df = sweep_all(tr, n=21, include_oracle=True)
    front = pareto_front(df[df.policy != "oracle"])
    fig = charts.pareto_chart(df, front, "layer_speedup", "accuracy", current=("maxprob", 0.8),
                              baseline=0.5)
    names = [t.name for t in fig.data]
    assert "pareto front" in names and "current" in names
    assert len(fig.data) == df.policy.nunique() + 2
    assert fig.layout.xaxis.title.text.startswith("layer speed-up")
    assert fig.layout.yaxis.title.text == "accuracy"
    ent = next(t for t in fig.data if t.name == "entropy")
    d = df[df.policy == "entropy"].sort_values("layer_speedup")
    assert [c[0] for c in ent.customdata] == ["entropy"] * len(d)
    assert np.allclose([c[1] for c in ent.customdata], d.threshold)
    # the "current" ring sits on the sweep row closest to the sidebar's threshold
    cur = _named(fig, "current")[0]
    mp = df[df.policy == "maxprob"]
    row = mp.iloc[int(np.argmin(np.abs(mp.threshold - 0.8)))]
    assert cur.x[0] == pytest.approx(row.layer_speedup) and cur.y[0] == pytest.approx(row.metric)
    fig2 = charts.pareto_chart(df, pareto_front(df, x="flops_reduction"), "flops_reduction")
    assert fig2.layout.xaxis.title.text.startswith("FLOPs reduction")


def test_picked_point_maps_a_click_back():
    sel = {"points": [{"curve_number": 1, "point_index": 3, "x": 1.2, "y": 0.8,
                       "customdata": ["maxprob", 0.845]}]}
    assert charts.picked_point(sel) == ("maxprob", 0.845)
    assert charts.picked_point({"points": [{"customdata": ["oracle", float("nan")]}]}) == ("oracle", None)
    assert charts.picked_point({"points": [{"x": 1}]}) is None
    assert charts.picked_point({"points": []}) is None
    assert charts.picked_point(None) is None


def test_exit_histogram_stacks_by_class():
    eb = np.array([0, 0, 1, 3, 3, 3])
    lab = np.array([0, 1, 1, 0, 0, 1])
    fig = charts.exit_histogram(eb, 4, lab, ["neg", "pos"])
    assert len(fig.data) == 2 and fig.layout.barmode == "stack"
    assert list(fig.data[0].y) == [1, 0, 0, 2] and list(fig.data[1].y) == [1, 1, 0, 1]
    fig = charts.exit_histogram(eb, 4)
    assert list(fig.data[0].y) == [2, 1, 0, 3]
    assert fig.layout.xaxis.title.text == "exit block"


def test_calibration_charts_label_themselves():
    tr = _trace(n=300)
    cal = calibration(tr, n_bins=10)
    fig = charts.ece_bars(cal.ece)
    assert np.allclose(fig.data[0].y, cal.ece.value)
    assert fig.layout.yaxis.title.text == "expected calibration error (fraction)"
    fig = charts.reliability(cal.confidence, cal.accuracy, cal.count)
    assert len(fig.data) == 1 + tr.n_blocks
    assert fig.data[0].name == "perfect calibration"


def test_projection_scatter_groups_and_prototypes():
    tr = _trace()
    xy, pxy = pca_2d(np.asarray(tr.proto_emb[:, 1], np.float32), tr.prototypes[1])
    groups = primary_cohort(tr)
    fig = charts.projection_scatter(xy, groups, tr.texts, pxy, tr.label_names, method="PCA")
    n_groups = len(set(groups))
    assert len(fig.data) == n_groups + 1
    assert fig.data[-1].name == "class prototypes" and len(fig.data[-1].x) == 2
    idx = np.concatenate([np.asarray(t.customdata).ravel() for t in fig.data[:-1]])
    assert sorted(idx.tolist()) == list(range(tr.n))          # every sample once, by its index
    # a click selects (plotly fires no click in lasso mode); lasso and box are in the modebar
    assert fig.layout.dragmode == "zoom"


def test_overthinking_per_layer():
    tr = _trace(n=200)
    d = destructive_overthinking(tr)
    fig = charts.overthinking_per_layer(d.per_layer, per_exit_accuracy(tr), 0.9, 0.6)
    assert np.allclose(fig.data[0].y, d.per_layer.value)
    assert list(fig.data[2].y) == [0.9, 0.9] and list(fig.data[3].y) == [0.6, 0.6]
    assert fig.layout.yaxis.title.text.startswith("destructive overthinking per exit")


def test_weight_charts():
    names = ["blocks.0.attn.query", "blocks.0.gate_in"]
    fig = charts.sign_balance(names, [0.5, 0.52])
    assert list(fig.data[0].y) == [0.5, 0.52] and list(fig.data[0].x) == ["b0.query", "b0.gate_in"]
    fig = charts.alpha_box(names, [np.ones(4), np.ones(3)])
    assert len(fig.data) == 2
    fig = charts.latent_histogram(np.linspace(-2, 2, 5), np.array([1, 2, 3, 4]), "x")
    assert list(fig.data[0].y) == [1, 2, 3, 4]
    fig = charts.size_bars(4096, 1024, 2048)
    assert list(fig.data[0].y) == [4.0, 1.0, 2.0]
    fig = charts.sign_flip_bars({"blocks.0.attn.query": 0.1}, "other")
    assert list(fig.data[0].y) == [0.1]


def test_compare_charts():
    front = pd.DataFrame({"layer_speedup": [1.0, 2.0], "metric": [0.9, 0.8], "policy": ["entropy"] * 2,
                          "threshold": [0.1, 0.2]})
    fig = charts.paired_pareto({"A": front, "B": front}, sweeps={"A": front})
    assert len(fig.data) == 3
    fig = charts.difference_histogram(np.array([-2, 0, 0, 1]))
    assert list(fig.data[0].x) == [-2, -1, 0, 1] and list(fig.data[0].y) == [1, 0, 2, 1]


def test_approx_sign_chart_uses_the_codes_surrogate():
    x = np.linspace(-1.5, 1.5, 31)
    sign, grad = approx_sign_curves(x)
    assert np.allclose(sign, np.where(x >= 0, 1, -1))
    assert np.allclose(grad, np.where(np.abs(x) < 1, 2 - 2 * np.abs(x), 0))
    fig = charts.approx_sign_chart(x, sign, grad, marker=0.5)
    assert fig.data[-1].y[0] == pytest.approx(1.0)


def test_stat_title():
    assert charts.stat_title(Stat("entropy", 0.1, "nats", (0, 1))) == "entropy (nats)"
    assert charts.stat_title(Stat("count", 1, "", (0, 1))) == "count"


def test_picked_samples_reads_clicks_boxes_and_lassos_as_the_browser_sends_them():
    """A click sends the row of a 2-D customdata as {"0": index}; a box or lasso sends lists; prototypes
    (no customdata) are skipped; indices come back sorted and unique."""
    sel = {"points": [{"curve_number": 0, "point_index": 5, "customdata": {"0": 166}},
                      {"curve_number": 1, "customdata": [12]}, {"curve_number": 2, "customdata": 3},
                      {"curve_number": 3}, {"customdata": {"0": 166}}], "box": [], "lasso": []}
    assert charts.picked_samples(sel) == [3, 12, 166]
    assert charts.picked_samples(None) == [] and charts.picked_samples({"points": []}) == []


def test_reliability_legend_sits_below_the_plot_and_every_minilm_layer_is_labelled():
    """The legend beside a reliability diagram in a half-width column squeezed the plot to ~100 px; the weight
    charts labelled every other of a 6-block model's 36 linears."""
    import numpy as np

    from app import charts
    conf = np.tile(np.linspace(0.55, 0.95, 5), (6, 1))
    fig = charts.reliability(conf, conf, np.ones((6, 5), int))
    assert fig.layout.legend.orientation == "h" and fig.layout.legend.y < 0
    names = [f"blocks.{b}.{m}" for b in range(6) for m in ("attn.query", "attn.key", "attn.value", "attn.out",
                                                           "ffn_in", "ffn_out")]
    fig = charts.sign_balance(names, np.full(36, 0.5))
    assert len(fig.layout.xaxis.ticktext) == 36


def test_flops_read_as_people_write_them():
    from app.charts.common import fmt_flops
    assert fmt_flops(1.94e9) == "1.94 GFLOPs" and fmt_flops(1_940e6) == "1.94 GFLOPs"
    assert fmt_flops(385e6) == "385 MFLOPs" and fmt_flops(12_300) == "12.3 kFLOPs" and fmt_flops(512) == "512 FLOPs"
    assert "e+" not in fmt_flops(1.94e15)


def test_the_gradient_window_is_shaded_only_where_the_weights_reach_it():
    import numpy as np

    from app import charts
    narrow = charts.latent_histogram(np.linspace(-0.05, 0.05, 11), np.ones(10, int), "b0.query", latent=False)
    assert not narrow.layout.shapes                                     # stored ±α: no |w| < 1 window to show
    wide = charts.latent_histogram(np.linspace(-1.5, 1.5, 31), np.ones(30, int), "b0.query", latent=True)
    assert len(wide.layout.shapes) == 1 and wide.layout.shapes[0].x0 == -1 and wide.layout.shapes[0].x1 == 1
