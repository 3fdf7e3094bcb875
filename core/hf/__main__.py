"""`python -m core.hf import SRC --task sst2 --out DIR` (an entry point: core.hf.cli.main)."""
import sys

from core.hf.cli import main
from core.util import run

sys.exit(run("python -m core.hf", main))
