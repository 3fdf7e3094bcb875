"""The Trace (base): every exit's logits and signals for N samples × L blocks; its exchange formats (io),
validation (checks), and out-of-core stores of Parquet parts (store).  `python -m core.trace import FILE`.

Other packages import this package, never its modules."""
from core.trace.base import EPS, Trace, TraceError, entropy_nats, fractional_reduction, softmax
from core.trace.io import main, read_trace, summarize, write_parquet
from core.trace.store import MANIFEST, StoreWriter, TraceStore, save_store, write_manifest

__all__ = ["EPS", "MANIFEST", "StoreWriter", "Trace", "TraceError", "TraceStore", "entropy_nats",
           "fractional_reduction", "main", "read_trace", "save_store", "softmax", "summarize", "write_manifest",
           "write_parquet"]
