"""The command lines a user types: the demo prints per-block entropies of typed sentences."""
import subprocess
import sys
from pathlib import Path

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
