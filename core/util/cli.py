"""Running a command-line entry point the way a user deserves: bad input gets one clear line on stderr (what is
wrong, what to do) and exit code 2 — never a traceback. Every ExitLens error a user can cause (a model
directory, a data set, a trace, an imported model, an argument out of range) is a ValueError with such a
message; a missing or unreadable file is an OSError."""
from __future__ import annotations

import sys
from collections.abc import Callable

USER_ERRORS = (ValueError, OSError, KeyError)


def run(prog: str, main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """``main(argv)``'s exit code, or 2 with ``prog: error: <message>`` for a user error (KeyboardInterrupt: 130)."""
    try:
        return int(main(argv) or 0)
    except USER_ERRORS as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        text = str(msg).strip() or type(e).__name__
        if isinstance(e, OSError) and e.filename and str(e.filename) not in text:
            text = f"{e.filename}: {text}"
        print(f"{prog}: error: {text}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


def probability(name: str):
    """An argparse type: a float strictly between 0 and 1 (ε, δ), refused otherwise with what it means."""
    import argparse

    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number between 0 and 1, got {text!r}") from None
        if not 0.0 < v < 1.0:
            raise argparse.ArgumentTypeError(f"{name} must be strictly between 0 and 1 (e.g. 0.01 = one point), "
                                             f"got {text}")
        return v

    return parse
