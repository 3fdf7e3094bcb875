"""`python -m core.card DIR…` measures models and writes their cards (core.train.card)."""
from core.train.card import main  # noqa: F401

if __name__ == "__main__":
    import sys

    from core.util import run

    sys.exit(run("python -m core.card", main))
