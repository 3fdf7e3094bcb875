"""Public API (README): the calibration and fit splits — re-exported from core.data."""
from core.data.splits import load_calibration, load_fit, split_info  # noqa: F401
