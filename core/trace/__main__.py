"""`python -m core.trace import FILE` (an entry point: core.trace.io.main)."""
import sys

from core.trace.io import main
from core.util import run

sys.exit(run("python -m core.trace", main))
