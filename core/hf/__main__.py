"""`python -m core.hf import SRC --task sst2 --out DIR` (an entry point: core.hf.cli.main)."""
import sys

from core.hf.cli import main

sys.exit(main())
