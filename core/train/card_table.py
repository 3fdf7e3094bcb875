"""The README's model table, generated from the model cards (never copied by hand).

``write_readme_table(readme, model_dirs)`` replaces what stands between ``<!-- models:start -->`` and
``<!-- models:end -->`` in the README with one row per model: what it is, the dev metric (final and per
exit), the threshold chosen on the calibration split with its dev replay (or "equivalent to a k-block
model"), the certified threshold (LTT, ε = 0.01, δ = 0.05) with its dev replay, the oracle, destructive
overthinking, the prototypes' worst centrality ratio, and the size on disk.
"""
from __future__ import annotations

import json
from pathlib import Path

START, END = "<!-- models:start -->", "<!-- models:end -->"
SLIM_START, SLIM_END = "<!-- slim:start -->", "<!-- slim:end -->"


def _pct(x) -> str:
    return "—" if x is None else f"{100 * float(x):.1f}"


def _chosen(card: dict) -> str:
    rec = card.get("recommended")
    if not rec:
        return "— (no calibration split held out)"
    if rec.get("equivalent_to_blocks"):
        k = rec["equivalent_to_blocks"]
        return f"{rec['calibration']['policy']} → equivalent to a {k}-block model (dev {_pct(rec['dev']['metric'])})"
    d = rec["dev"]
    return (f"{rec['calibration']['policy']} {rec['calibration']['threshold']:.3g}: dev {_pct(d['metric'])} at "
            f"{d['layer_speedup']:.2f}×, FLOPs −{_pct(d['flops_reduction'])} %")


def _certified(card: dict) -> str:
    certs = card.get("certificates") or []
    c = next((c for c in certs if abs(c["epsilon"] - 0.01) < 1e-12), None)
    if c is None:
        return "—"
    if c["threshold"] is None:
        return "nothing certifiable: full depth"
    d = c["dev"]
    eq = f" (= {c['equivalent_to_blocks']}-block model)" if c.get("equivalent_to_blocks") else ""
    return (f"{c['policy']} {c['threshold']:.3g}: {d['layer_speedup']:.2f}× on dev{eq}, dev drop "
            f"{100 * d['accuracy_drop']:+.2f} pt")


def row(card: dict) -> str:
    size = card["size"]
    protos = card.get("prototypes") or {}
    metric = "F1" if card.get("metric") == "f1" else "acc" if card.get("metric") == "accuracy" else card.get("metric")
    return " | ".join([
        f"`{card['name']}`", card.get("what", ""), f"{metric} {_pct(card['final'])}",
        " ".join(_pct(v) for v in card["dev_per_exit"]), _chosen(card), _certified(card), _pct(card["oracle"]),
        f"{_pct(card['destructive_overthinking_rate'])} %",
        f"{protos['max_ratio']:.2f}" if protos else "—",
        f"{size['disk_bytes'] / 2**20:.1f} MiB ({size['disk_ratio']:.1f}×)" + _storage(card)])


def _storage(card: dict) -> str:
    st = card.get("storage")
    return "" if not st else f"; int8, dev change ≤ {100 * st['largest_change']:.2f} pt"


HEADER = ("| model | what | dev, final exit | per exit (blocks 1→L) | threshold chosen on calibration, replayed on "
          "dev | certified on calibration (ε = 1 pt, δ = 0.05), replayed on dev | oracle | destructive "
          "overthinking | prototype centrality (worst block, ≤ 0.5 good) | on disk (× vs fp32) |\n"
          "|---|---|---|---|---|---|---|---|---|---|")


def table(model_dirs) -> str:
    cards = [json.loads((Path(d) / "card.json").read_text()) for d in sorted(model_dirs)]
    return HEADER + "\n" + "\n".join(f"| {row(c)} |" for c in cards)


SLIM_HEADER = ("| slim model (from) | widths kept: heads, FFN, embedding rank | parameters | on disk | FLOPs at full "
               "depth | dev, last exit (full model) | certified threshold (calibration) | combined FLOPs vs full "
               "at full depth | wall-clock, batch 1 / 64 | dev drop vs full |\n"
               "|---|---|---|---|---|---|---|---|---|---|")


def slim_row(card: dict) -> str:
    """COST-EFF's space and time together (card["slenderized"], core.train.slim_report)."""
    s = card["slenderized"]
    w, full = s["widths"]["slim"], s["widths"]["full"]
    kept = ", ".join(f"{w[k]}/{full[k]}" for k in ("heads", "ffn", "embedding_rank"))
    cells = [f"`{card['name']}` (`{s['from']}`)", kept,
             f"{s['parameters']['ratio']:.2f}×", f"{s['disk_bytes']['ratio']:.2f}×",
             f"{s['flops_full_depth_ratio']:.2f}×",
             f"{_pct(s['slim_full_depth_metric'])} ({_pct(s['full_metric'])})"]
    if s.get("threshold"):
        t, wc = s["threshold"], s["wall_clock"]
        cells += [f"{t['policy']} {t['value']:.4g} (ε = {t['epsilon']}, δ = {t['delta']}): "
                  f"{s['slim_layer_speedup']:.2f}× layers", f"{s['combined_flops_ratio']:.2f}×",
                  f"{wc['batch_1']['speedup']:.2f}× / {wc['batch_64']['speedup']:.2f}×",
                  f"{100 * s['metric_drop_vs_full']:+.2f} pt"]
    else:
        cells += ["— (nothing certified)", "—", "—", "—"]
    return "| " + " | ".join(cells) + " |"


def _replace(text: str, start: str, end: str, body: str, path) -> str:
    if start not in text or end not in text:
        raise ValueError(f"{path} has no {start} … {end} block to write the table into")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body}\n{end}{tail}"


def write_readme_table(readme: str | Path, model_dirs) -> None:
    """The model table, and the slim models' space-and-time table when the README has its block."""
    path = Path(readme)
    text = _replace(path.read_text(encoding="utf-8"), START, END, table(model_dirs), path)
    if SLIM_START in text:
        cards = [json.loads((Path(d) / "card.json").read_text()) for d in sorted(model_dirs)]
        rows = [slim_row(c) for c in cards if c.get("slenderized")]
        text = _replace(text, SLIM_START, SLIM_END, SLIM_HEADER + "\n" + "\n".join(rows), path)
    path.write_text(text, encoding="utf-8")
