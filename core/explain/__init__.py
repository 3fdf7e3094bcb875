"""Explain each exit: per-block token salience and attention (salience), exit-aware counterfactual edits
(counterfactual); imported models' backend (hf_backend).

Other packages import this package, never its modules."""
from core.explain import hf_backend
from core.explain.counterfactual import KINDS, Edit, candidates, counterfactuals, substitution_table
from core.explain.read_window import read_prefix, word_context
from core.explain.salience import (
    METHODS,
    Backend,
    Salience,
    Tokens,
    attention,
    attention_weights,
    backend,
    encode_words,
    merge_to_words,
    rollout,
    salience,
    staged_exit_logits,
)

__all__ = ["Backend", "Edit", "KINDS", "METHODS", "Salience", "Tokens", "attention", "attention_weights", "backend",
           "candidates", "counterfactuals", "encode_words", "hf_backend", "merge_to_words", "read_prefix", "rollout",
           "salience", "staged_exit_logits", "substitution_table", "word_context"]
