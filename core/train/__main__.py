"""`python -m core.train --task sst2 --preset beex --out runs/beex-sst2` (an entry point: core.train.args.main)."""
import sys

from core.train.args import main
from core.util import run

sys.exit(run("python -m core.train", main))
