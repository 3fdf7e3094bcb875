"""Bring your own model: a Hugging Face classifier or bare encoder becomes a multi-exit model directory
(importer); `python -m core.hf import SRC --task sst2 --out DIR`.

Other packages import this package, never its modules."""
from core.hf.cli import main
from core.hf.importer import import_model
from core.hf.source import hf_offline, inspect_source, is_hf_model_dir, source_fingerprint
from core.model import FAMILIES, HFExitConfig, HFModelError, HFMultiExit, load_dir

__all__ = ["FAMILIES", "HFExitConfig", "HFModelError", "HFMultiExit", "hf_offline", "import_model", "inspect_source",
           "is_hf_model_dir", "load_dir", "main", "source_fingerprint"]
