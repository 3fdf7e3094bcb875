"""The Playground flags an early answer that the final block overturns (issue 20, item 9), shows FLOPs without
cutting them, and gives a neutral delta no arrow."""
import numpy as np

from core import checkpoint
from core.data import get_task
from core.inference import record
from core.policies import decide, make_policy
from tests.conftest import metric_value, submit_sentence

DIRECTION_NONE = 2          # streamlit's Metric proto: DOWN 0, UP 1, NONE 2


def _record(models, text, label):
    d = models / "tiny-sst2"
    task = get_task(checkpoint.load_card(d)["task"])
    return record(checkpoint.load(d), checkpoint.load_tokenizer(d), [text], None, [label], batch_size=1, max_len=128,
                  meta={"label_names": list(task.label_names)})


def _pick(dev_trace, flips: bool) -> int:
    short = [i for i in range(dev_trace.n) if len(dev_trace.texts[i]) < 90]
    return next(i for i in short if (dev_trace.preds[i, 0] != dev_trace.preds[i, -1]) == flips)


def _overturns(at):
    return [w.value for w in at.warning if w.value.startswith("The final block overturns")]


def test_an_early_answer_the_final_block_overturns_is_flagged(make_app, app_env, dev_trace):
    at = make_app(policy="maxprob", threshold="0.5")            # every sentence exits at block 1
    i = _pick(dev_trace, flips=True)
    text, label = dev_trace.texts[i], int(dev_trace.labels[i])
    tr = _record(app_env, text, label)
    ex = decide(make_policy("maxprob", threshold=0.5), tr)
    early, final = int(ex.pred[0]), int(tr.preds[0, -1])
    assert early != final, "the dev trace and a fresh recording disagree on this sentence"
    submit_sentence(at, text)
    said = _overturns(at)
    names = tr.label_names
    assert len(said) == 1 and f"block 1 says **{names[early]}**" in said[0]
    assert f"the full model ({tr.n_blocks} blocks) answers {names[final]}" in said[0]
    later = np.flatnonzero(tr.preds[0] != early) + 1
    assert f"{later[0]}" in said[0].split("but block")[1]
    assert "needs the true label" in said[0]
    # with the true label (from a shared URL) the page says who was right
    at2 = make_app(policy="maxprob", threshold="0.5", text=text, label=names[label])
    said = _overturns(at2)
    assert len(said) == 1
    if early == label:
        assert "destructive overthinking" in said[0] and "costs" not in said[0]
    else:
        assert "exit-induced error" in said[0] and "destructive" not in said[0]
    # the same sentence, no exit before the last block: nothing is overturned
    at.sidebar.slider(key="sb_thr_maxprob").set_value(1.0).run()
    assert _overturns(at) == []


def test_an_agreeing_early_answer_is_not_flagged(make_app, dev_trace):
    at = make_app(policy="maxprob", threshold="0.5")
    submit_sentence(at, dev_trace.texts[_pick(dev_trace, flips=False)])
    assert _overturns(at) == []


def test_flops_are_not_cut_and_a_neutral_delta_has_no_arrow(make_app):
    at = make_app(policy="entropy")
    submit_sentence(at, "the plot is thin but the actors are having fun .")
    flops = metric_value(at, "FLOPs spent, of full")
    assert flops.endswith("%") and len(flops) <= 4                   # "100%", never "100% of f…"
    same = next(m for m in at.metric if m.label == "exit block")
    assert same.proto.delta == "same as sidebar" and same.proto.direction == DIRECTION_NONE   # no "↑ same as…"
    at.slider(key="sb_thr_entropy").set_value(0.0).run()               # the sidebar: the last block
    at.slider(key="pg_whatif").set_value(float(np.log(2))).run()       # the what-if: entropy ≤ ln 2, block 1
    moved = next(m for m in at.metric if m.label == "exit block")
    assert moved.proto.delta.endswith("vs sidebar") and moved.proto.direction != DIRECTION_NONE
