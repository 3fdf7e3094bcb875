"""`python -m core.certify --model DIR --epsilon 0.01` (an entry point: core.cli.certify.main)."""
import sys

from core.cli.certify import main
from core.util import run

sys.exit(run("python -m core.certify", main))
