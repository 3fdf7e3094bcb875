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


def write_readme_table(readme: str | Path, model_dirs) -> None:
    path = Path(readme)
    text = path.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise ValueError(f"{path} has no {START} … {END} block to write the model table into")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{START}\n{table(model_dirs)}\n{END}{tail}", encoding="utf-8")
