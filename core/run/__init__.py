"""Running a model: recording a Trace and real early exit (recorder), the on-disk trace cache (cache), a
loaded model with its card (bundle), recording over torchrun's processes (distributed).

Other packages import this package, never its modules."""
from core.run import bundle
from core.run.allowed import PathNotAllowed, allowed_roots, check_allowed, is_allowed
from core.run.bundle import ModelBundle, card_task, default_model, list_models, load_bundle, models_dir
from core.run.cache import (
    RECORDER_VERSION,
    cache_dir,
    model_key,
    recording_inputs,
    save_cached,
    store_path,
    trace_for,
    trace_path,
)
from core.run.distributed import close, global_lengths, rank_batches, record_distributed, world
from core.run.pairs import partners, why_not_comparable
from core.run.recorder import (
    PRECISIONS,
    EarlyExitResult,
    LiveSignals,
    autocast,
    early_exit,
    length_batches,
    order_by_length,
    place_model,
    record,
    record_one,
    record_store,
)
from core.run.shipped import SHIPPED, add_to_index, shipped_file, shipped_for, shipped_name, slim, weights_digest

__all__ = ["EarlyExitResult", "LiveSignals", "ModelBundle", "PRECISIONS", "PathNotAllowed", "RECORDER_VERSION",
           "SHIPPED", "add_to_index", "allowed_roots", "autocast", "bundle", "cache_dir", "card_task",
           "check_allowed", "close", "default_model", "early_exit", "global_lengths", "is_allowed", "length_batches",
           "list_models", "load_bundle", "model_key", "models_dir", "order_by_length", "partners", "place_model",
           "rank_batches", "record", "record_distributed", "record_one", "record_store", "recording_inputs",
           "save_cached", "shipped_file", "shipped_for", "shipped_name", "slim", "store_path", "trace_for",
           "trace_path", "weights_digest", "why_not_comparable", "world"]
