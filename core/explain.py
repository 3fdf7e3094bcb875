"""Explain each exit: per-block token salience, attention per block and head, exit-aware counterfactuals.

The public face of two modules (one job each):

* core.salience — ``salience(model, tokenizer, text, text_b=None, method="ig", steps=32) -> Salience``
  (integrated gradients with captum, gradient × input, attention rollout; exit b's own predicted class for
  every block b; pieces merged to words), ``attention(model, tokenizer, text, text_b=None)`` → (L, H, T, T),
  and the extension point ``backend`` (register a ``Backend`` for an imported model class).
* core.counterfactual — ``counterfactuals(model, tokenizer, text, policy, text_b=None, max_edits=20,
  vocab=None) -> list[Edit]``: the one-word edits that move the exit, flip the prediction, or create/remove
  destructive overthinking, found in one batched ``record`` and ranked by how little they change.

Nothing here imports Streamlit: the results are plain dataclasses of numpy arrays that a page draws as is
(``Salience.word_scores`` is the blocks × words heatmap, ``Salience.words`` its labels, ``target`` the class
each block explains, ``exit_block`` where the policy stops).
"""
from core.counterfactual import KINDS, Edit, candidates, counterfactuals, substitution_table
from core.salience import (
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

__all__ = ["KINDS", "METHODS", "Backend", "Edit", "Salience", "Tokens", "attention", "attention_weights", "backend",
           "candidates", "counterfactuals", "encode_words", "merge_to_words", "rollout", "salience",
           "staged_exit_logits", "substitution_table"]
