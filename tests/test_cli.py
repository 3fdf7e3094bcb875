"""The command lines a user types: the demo prints per-block entropies of typed sentences."""
import subprocess
import sys
from pathlib import Path

import pytest

from core.cli.main import main

ROOT = Path(__file__).resolve().parents[1]


def test_demo_builds_a_tiny_model_and_prints_per_block_entropies():
    r = subprocess.run([sys.executable, "-m", "core.inference", "demo", "a gorgeous , witty film", "it is not good"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120, env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert r.returncode == 0, r.stderr
    lines = [l for l in r.stdout.splitlines() if "H=" in l]
    assert len(lines) == 2 and "'a gorgeous , witty film'" in lines[0]
    # two blocks per sentence, each with an entropy in [0, ln 2] nats
    for line in lines:
        hs = [float(tok.split("=")[1]) for tok in line.split() if tok.startswith("H=")]
        assert len(hs) == 2 and all(0.0 <= h <= 0.6932 for h in hs)


def test_train_help_lists_the_options():
    r = subprocess.run([sys.executable, "-m", "core.train", "--help"], cwd=ROOT, capture_output=True, text=True,
                       timeout=120, env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert r.returncode == 0 and "--exit-loss" in r.stdout and "--resume" in r.stdout


# ── the `exitlens` command (core.cli.main; `python -m core` runs the same) ─────────────────────────────────

SUBCOMMANDS = ("app", "record", "certify", "import", "trace", "train", "card")


def _exitlens(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={"PYTHONPATH": str(ROOT), "PATH": "", "HOME": "/tmp",
                                                "EXITLENS_OFFLINE": "1"})


def test_exitlens_help_lists_every_subcommand():
    r = _exitlens("--help")
    assert r.returncode == 0
    for cmd in SUBCOMMANDS:
        assert f"exitlens {cmd}" in r.stdout


@pytest.mark.parametrize("cmd, expect", [("app", "--port"), ("record", "--model"), ("certify", "--epsilon"),
                                         ("import", "--exits"), ("trace", "import"), ("train", "--exit-loss"),
                                         ("card", "model_dirs")])
def test_every_subcommand_says_what_it_does(cmd, expect, capsys):
    with pytest.raises(SystemExit) as e:          # argparse's --help exits 0 after printing
        main([cmd, "--help"])
    assert e.value.code == 0
    assert expect in capsys.readouterr().out


class _Run:
    def __init__(self, argv, capsys):
        try:
            self.returncode = main(argv)
        except SystemExit as e:                    # argparse refuses an argument: usage + one error line, exit 2
            self.returncode = e.code
        out = capsys.readouterr()
        self.stdout, self.stderr = out.out, out.err


def _one_clear_line(r, *words):
    """Exit code 2, no traceback, and the last line of stderr says what is wrong."""
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
    last = r.stderr.strip().splitlines()[-1]
    for w in words:
        assert w in last, last
    return last


def test_bad_input_gets_one_clear_line_and_exit_code_2(tmp_path, capsys):
    _exitlens = lambda *argv: _Run(list(argv), capsys)  # noqa: E731  (in process: the same code, no start-up)
    empty = tmp_path / "empty"
    empty.mkdir()
    _one_clear_line(_exitlens("card", str(empty)), "config.json is missing")
    _one_clear_line(_exitlens("record", "--model", str(empty), "--task", "sst2"), "config.json is missing")
    _one_clear_line(_exitlens("record", "--model", str(ROOT / "assets/models/beex-sst2"), "--task", "nosuch"),
                    "unknown task 'nosuch'", "sst2")
    src = ROOT / "assets/models/beex-sst2"
    trunc = tmp_path / "trunc"
    trunc.mkdir()
    for name in ("config.json", "tokenizer.json"):
        (trunc / name).write_bytes((src / name).read_bytes())
    (trunc / "model.safetensors").write_bytes((src / "model.safetensors").read_bytes()[:5000])
    _one_clear_line(_exitlens("record", "--model", str(trunc), "--task", "sst2"), "truncated or corrupt")
    _one_clear_line(_exitlens("nosuch"), "invalid choice")


def test_epsilon_and_delta_outside_zero_one_are_refused(capsys):
    _exitlens = lambda *argv: _Run(list(argv), capsys)  # noqa: E731
    model = str(ROOT / "assets/models/beex-sst2")
    for flag, value in [("--epsilon", "2"), ("--epsilon", "0"), ("--delta", "1"), ("--delta", "-0.1")]:
        args = ["certify", "--model", model, "--epsilon", "0.01", flag, value]
        _one_clear_line(_exitlens(*args), flag, "between 0 and 1")


@pytest.mark.slow
def test_exitlens_app_serves_the_app_on_loopback(tmp_path):
    import socket
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "core", "app", "--port", str(port)], cwd=tmp_path,
                            env={"PYTHONPATH": str(ROOT), "PATH": "", "HOME": str(tmp_path), "EXITLENS_OFFLINE": "1"},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline, body = time.time() + 60, b""
        while time.time() < deadline and proc.poll() is None:
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).read()
                break
            except OSError:
                time.sleep(0.5)
        assert body == b"ok", proc.stdout.read1().decode() if proc.poll() is not None else "no answer in 60 s"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    # the signal reached the server itself: nothing is left serving the port (it was once an orphaned child)
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2)
