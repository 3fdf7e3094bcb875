"""`exitlens` — the command line of ExitLens, one sub-command per job:

    exitlens app      [--port 8501] [--address 127.0.0.1]     start the app (Streamlit) on the shipped models
    exitlens record   --model DIR --task sst2 [--split …]     record a split's Trace (cache, or --out STORE)
    exitlens certify  --model DIR --epsilon 0.01 [--delta …]  a certified exit threshold, with an HTML report
    exitlens import   SRC --task sst2 --out DIR               a Hugging Face classifier → a multi-exit model
    exitlens trace    import FILE                             validate a trace recorded elsewhere
    exitlens train    --task sst2 --preset beex --out DIR     train a multi-exit model
    exitlens card     DIR…                                    measure models and write their cards

Each sub-command's ``--help`` says what it takes. ``python -m core.<…>`` runs the same code.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tomllib
from pathlib import Path

from core.util import run

REPO = Path(__file__).resolve().parents[2]
COMMANDS = {  # name: (module whose main(argv) runs it, fixed leading arguments, one-line help)
    "app": (None, [], "start the app (Streamlit) on the shipped models"),
    "record": ("core.cli.record", ["record"], "record a split's Trace of a model into the cache (or a store)"),
    "certify": ("core.cli.certify", [], "certify an exit threshold on the calibration split, replay on dev"),
    "import": ("core.hf.cli", ["import"], "import a Hugging Face classifier as a multi-exit model"),
    "trace": ("core.trace.io", [], "validate (import) a trace recorded by another framework"),
    "train": ("core.train.args", [], "train a multi-exit model on a GLUE task"),
    "card": ("core.train.card", [], "measure models and write their card.json (and the README table)"),
}


def app_command(argv: list[str]) -> list[str]:
    """The `streamlit run` command line of the app, with the shipped server settings (streamlit_config.toml)
    as flags, so that it works from any folder."""
    ap = argparse.ArgumentParser(prog="exitlens app", description="start the app (Streamlit)")
    ap.add_argument("--port", type=int, default=None, help="port (default 8501)")
    ap.add_argument("--address", default=None, help="address to serve on (default 127.0.0.1: this machine only)")
    a, rest = ap.parse_known_args(argv)
    conf = tomllib.loads((REPO / "streamlit_config.toml").read_text(encoding="utf-8"))
    flags = [f"--{section}.{key}={value if not isinstance(value, bool) else str(value).lower()}"
             for section, values in conf.items() for key, value in values.items()]
    if a.port is not None:
        flags.append(f"--server.port={a.port}")
    if a.address is not None:
        flags.append(f"--server.address={a.address}")
    return [sys.executable, "-m", "streamlit", "run", str(REPO / "app" / "streamlit_app.py"), *flags, *rest]


def _serve(cmd: list[str]) -> int:
    """Become the Streamlit server (POSIX: exec), so that a signal sent to `exitlens app` — Ctrl-C, a service
    manager's SIGTERM — reaches the server itself instead of leaving it running, orphaned."""
    if os.name == "posix":
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(cmd[0], cmd)
    return subprocess.call(cmd)


def _dispatch(argv: list[str] | None) -> int:
    import importlib

    ap = argparse.ArgumentParser(prog="exitlens", description="ExitLens: early-exit transformers, their overthinking",
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.split("\n")[2:10]))
    ap.add_argument("command", choices=list(COMMANDS), metavar="command",
                    help="one of: " + ", ".join(COMMANDS))
    ap.add_argument("args", nargs=argparse.REMAINDER, help="the sub-command's arguments (see exitlens COMMAND --help)")
    a = ap.parse_args(argv)
    module, lead, _ = COMMANDS[a.command]
    if module is None:
        return _serve(app_command(a.args))
    main = importlib.import_module(module).main
    return run(f"exitlens {a.command}", lambda args: _as_prog(main, f"exitlens {a.command}", args), lead + a.args)


def _as_prog(main, prog: str, argv: list[str]) -> int:
    """Run ``main`` with argparse's program name shown as ``prog`` (its usage and error lines)."""
    old = sys.argv[0]
    sys.argv[0] = prog
    try:
        return main(argv)
    finally:
        sys.argv[0] = old


def main(argv: list[str] | None = None) -> int:
    return run("exitlens", _dispatch, argv)


if __name__ == "__main__":
    sys.exit(main())
