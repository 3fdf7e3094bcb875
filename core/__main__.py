"""`python -m core` = the `exitlens` command (core.cli.main)."""
import sys

from core.cli.main import main

sys.exit(main())
