"""Explain each exit: per-block token salience and attention (salience), exit-aware counterfactual edits
(counterfactual) — of any core.model MultiExitModel, through that interface only.

Other packages import this package, never its modules."""
from core.explain.counterfactual import KINDS, Edit, candidates, counterfactuals, substitution_table
from core.explain.read_window import read_prefix, word_context
from core.explain.salience import (
    METHODS,
    Salience,
    Tokens,
    attention,
    baseline_ids,
    encode_words,
    exit_logits,
    max_tokens,
    merge_to_words,
    rollout,
    salience,
    staged_exit_logits,
)
from core.explain.sentence import SentenceRun, run_sentence
from core.model import attention_weights

__all__ = ["Edit", "KINDS", "METHODS", "Salience", "SentenceRun", "Tokens", "attention", "attention_weights",
           "baseline_ids", "candidates", "counterfactuals", "encode_words", "exit_logits", "max_tokens",
           "merge_to_words", "read_prefix", "rollout", "run_sentence", "salience", "staged_exit_logits",
           "substitution_table", "word_context"]
