"""Public API (README): reading and writing recorded traces — re-exported from core.trace; the command line
is `python -m core.trace import FILE`."""
from core.trace.io import main, read_trace, write_parquet  # noqa: F401

if __name__ == "__main__":
    import sys

    from core.util import run

    sys.exit(run("python -m core.trace_io", main))
