"""Public API (README): recording a Trace and real early exit — re-exported from core.run; the command line
`python -m core.inference record|demo` (core.cli.record)."""
from core.cli.record import main  # noqa: F401
from core.run import EarlyExitResult, LiveSignals, early_exit, record, record_one, record_store, trace_for  # noqa: F401

if __name__ == "__main__":
    import sys

    from core.util import run

    sys.exit(run("python -m core.inference", main))
