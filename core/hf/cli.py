"""Bring your own model: a Hugging Face encoder classifier (or bare encoder) becomes an ExitLens multi-exit model.

Entry points (the app's checkpoint-directory field calls these):

    is_hf_model_dir(path) -> bool          a transformers ``save_pretrained`` folder (not an ExitLens one)
    inspect_source(src) -> SourceInfo      family, classifier or bare encoder, labels, default exits
    import_model(src, task, out, exits="own-head" | "probe", *, limit=None, finetune_epochs=0,
                 progress=callback(stage, done, total)) -> ImportResult
                                           writes a model directory for core.model.checkpoint.load / load_tokenizer

CLI:
    python -m core.hf import SRC --task sst2 --out DIR [--exits own-head|probe] [--limit N] [--finetune E]
                                 [--csv FILE]   (fit the heads on your own labelled rows, not the task's fit split)
    python -m core.hf inspect SRC

The model wrapper is core.model.families (exits, prototypes, save format; it implements core.model's
MultiExitModel interface, which recording and the explainers use), the import steps core.hf.importer.
"""
from __future__ import annotations

import argparse
import sys

from core.hf.importer import ImportResult, import_model
from core.hf.source import EXIT_MODES, SourceInfo, inspect_source, is_hf_model_dir
from core.model import FAMILIES, HFExitConfig, HFModelError, HFMultiExit, load_dir

__all__ = ["EXIT_MODES", "FAMILIES", "HFExitConfig", "HFModelError", "HFMultiExit", "ImportResult",
           "SourceInfo", "import_model", "inspect_source", "is_hf_model_dir", "load_dir", "main"]


class _Bars:
    """A tqdm bar per import stage, as ``progress(stage, done, total)`` reports them."""

    def __init__(self):
        self.stage, self.bar = None, None

    def __call__(self, stage: str, done: int, total: int) -> None:
        from tqdm.auto import tqdm

        if stage != self.stage:
            self.close()
            self.stage, self.bar = stage, tqdm(total=total, desc=stage, unit="row" if stage == "record" else "step")
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _print_info(info: SourceInfo) -> None:
    kind = f"classifier with {info.num_labels} labels {info.label_names}" if info.has_classifier else "bare encoder"
    print(f"{info.src}: {info.model_type}, {info.n_layers} layers × {info.hidden} wide, {kind}; pools "
          f"{info.pooling}; default exits: {info.default_exits}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m core.hf", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    i = sub.add_parser("import", help="import a Hugging Face model folder (or hub name) as a multi-exit model")
    i.add_argument("src", help="a folder written by save_pretrained, or a hub name when online")
    i.add_argument("--task", required=True, help="GLUE task whose fit split trains probes and prototypes")
    i.add_argument("--out", required=True, help="the ExitLens model directory to write")
    i.add_argument("--exits", choices=EXIT_MODES, default=None,
                   help="own-head: the model's classifier on every layer; probe: one head per layer trained "
                        "here (default: own-head for a classifier, probe for a bare encoder)")
    i.add_argument("--limit", type=int, default=None, help="a seeded random subset of the fit rows (default all)")
    i.add_argument("--csv", default=None, metavar="FILE",
                   help="fit probes and prototypes on this labelled CSV (text[, text_b], label columns, as the app's "
                        "upload) instead of the task's fit split — for a task whose data is not here")
    i.add_argument("--finetune", type=int, default=0, help="epochs of fine-tuning all trained heads together")
    i.add_argument("--C", type=float, default=1.0, help="inverse L2 strength of the logistic-regression probes")
    i.add_argument("--batch-size", type=int, default=64)
    i.add_argument("--max-len", type=int, default=128)
    i.add_argument("--seed", type=int, default=0)
    s = sub.add_parser("inspect", help="say what a Hugging Face model folder is")
    s.add_argument("src")
    a = ap.parse_args(argv)
    try:
        info = inspect_source(a.src)
        _print_info(info)
        if a.cmd == "inspect":
            return 0
        rows = None
        if a.csv is not None:
            from core.data import columns, load_csv_upload
            rows = columns(load_csv_upload(a.csv, a.task))
        bars = _Bars()
        try:
            res = import_model(a.src, a.task, a.out, a.exits or info.default_exits, limit=a.limit,
                               finetune_epochs=a.finetune, C=a.C, batch_size=a.batch_size, max_len=a.max_len,
                               seed=a.seed, progress=bars, rows=rows, rows_name=a.csv)
        finally:
            bars.close()
    except ValueError as e:              # HFModelError, an unknown task, …: the message says what to do
        print(f"error: {e}", file=sys.stderr)
        return 2
    sec = res.seconds
    print(f"wrote {res.out}: {res.model.cfg.n_blocks} exits ({', '.join(res.model.cfg.exit_heads)}), "
          f"{res.fit_rows} fit rows; fit accuracy per exit " + " ".join(f"{v:.3f}" for v in res.fit_accuracy)
          + f"; record {sec['record']:.1f} s, heads {sec['heads']:.1f} s, total {sec['total']:.1f} s")
    print(f"next: python -m core.train.card {res.out}")
    return 0


if __name__ == "__main__":
    import sys

    from core.util import run

    sys.exit(run("python -m core.hf.cli", main))
