"""Small helpers every layer may use: atomic file writes, a number with its name and unit (Stat), the
cache folder, torch thread settings.

Other packages import this package, never its modules."""
from core.util.atomic import save_npz_atomic, write_atomic
from core.util.cli import probability, run
from core.util.paths import cache_dir
from core.util.stat import Stat
from core.util.threads import single_threaded

__all__ = ["Stat", "cache_dir", "probability", "run", "save_npz_atomic", "single_threaded", "write_atomic"]
