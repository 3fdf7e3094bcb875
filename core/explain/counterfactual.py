"""Exit-aware counterfactuals: the one-word edits that move an exit, flip a prediction, or create/remove
destructive overthinking.

LIT-style counterfactuals ask "what small edit changes the answer"; with early exits there are more
answers to change: *where* the model stops (the exit block, i.e. its cost) and whether the deeper blocks
overturn a right early answer (destructive overthinking, Kaya et al. 2019 "Shallow-Deep Networks").

The search (``counterfactuals``) tries, on every word of the sentence (and of the second sentence of a
pair): deleting it; substituting it from a small built-in vocabulary (negations, intensifiers, antonyms
of sentiment words — the ANTONYMS, INTENSIFIERS and NEGATIONS tables below, data, extendable with ``vocab=``);
inserting "not" or "very" before it. All candidates are recorded with ``core.inference.record`` in
**one batch** and decided with ``core.policies.decide`` — the same policy code as the Playground — so a
20-word sentence is one forward pass of ~70 rows.

Destructive overthinking, the reading used here: with reference class y* (the ``label`` when given, else
the policy's prediction on the *original* sentence, which stands in for the truth), a sentence overthinks
when some exit before the last predicts y* and the last exit does not. An edit *creates* overthinking when
the original did not overthink and the edited sentence does, and *removes* it in the opposite case.

Ranking: fewest words changed (word-level edit distance), then the smallest change of the policy's own
per-block signal (mean |Δs| over blocks; max-probability for a policy without a signal).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from core.explain.salience import check_text, eval_mode

KINDS = ("exit_moved", "prediction_flipped", "overthinking_created", "overthinking_removed")

# ── data: the substitution vocabulary (each pair is used both ways) ──────────────────────────────────
ANTONYMS = [
    ("good", "bad"), ("great", "terrible"), ("best", "worst"), ("better", "worse"), ("love", "hate"),
    ("loved", "hated"), ("loves", "hates"), ("like", "dislike"), ("liked", "disliked"), ("beautiful", "ugly"),
    ("funny", "unfunny"), ("interesting", "boring"), ("exciting", "dull"), ("brilliant", "mediocre"),
    ("happy", "sad"), ("well", "badly"), ("success", "failure"), ("fun", "tedious"), ("enjoyable", "unbearable"),
    ("charming", "annoying"), ("smart", "stupid"), ("clever", "dumb"), ("fresh", "stale"), ("strong", "weak"),
    ("positive", "negative"), ("wonderful", "awful"), ("perfect", "flawed"), ("masterpiece", "mess"),
    ("easy", "hard"), ("rich", "thin"), ("warm", "cold"), ("moving", "flat"), ("entertaining", "tiresome"),
    ("memorable", "forgettable"), ("original", "derivative"), ("satisfying", "disappointing"),
    ("excellent", "poor"), ("fascinating", "tedious"), ("delightful", "dreadful"), ("honest", "phony"),
    ("gorgeous", "hideous"), ("witty", "witless"), ("engaging", "boring"), ("powerful", "feeble"),
    ("always", "never"), ("everything", "nothing"), ("everyone", "nobody"), ("all", "none"),
    ("more", "less"), ("most", "least"), ("yes", "no"), ("with", "without"), ("rose", "fell"),
    ("increase", "decrease"), ("increased", "decreased"), ("higher", "lower"), ("up", "down"), ("win", "lose"),
]
INTENSIFIERS = [("very", "slightly"), ("extremely", "barely"), ("really", "hardly"), ("quite", "barely"),
                ("totally", "partly"), ("so", "barely"), ("very", "extremely"), ("too", "not")]
NEGATIONS = [("is", "isn't"), ("was", "wasn't"), ("are", "aren't"), ("were", "weren't"), ("do", "don't"),
             ("does", "doesn't"), ("did", "didn't"), ("can", "can't"), ("could", "couldn't"), ("will", "won't"),
             ("would", "wouldn't"), ("should", "shouldn't"), ("has", "hasn't"), ("have", "haven't"),
             ("had", "hadn't"), ("not", "very"), ("never", "often"), ("no", "some")]
# words after which "not" goes (is → is not), and words before which neither "not" nor "very" makes sense
AUXILIARIES = {a for a, _ in NEGATIONS[:15]} | {"be", "been", "'s", "'re", "am"}
DETERMINERS = {"a", "an", "the", "its", "his", "her", "their", "our", "my", "your", "this", "that", "these",
               "those", "some", "every", "each", "no"}
FUNCTION_WORDS = {"a", "an", "the", "of", "to", "in", "on", "at", "by", "for", "from", "and", "or", "but", "as",
                  "that", "this", "these", "those", "it", "its", "it's", "he", "she", "they", "we", "i", "you", "his",
                  "her", "their", "our", "my", "your", "there", "which", "who", "what", "when", "if", "than",
                  "then", "into", "about", "not", "very", "n't", "'s", "no"} | AUXILIARIES


def substitution_table(vocab: dict[str, list[str]] | None = None) -> dict[str, list[str]]:
    """lower-case word → replacements, both directions of every pair, plus ``vocab``'s extra entries."""
    table: dict[str, list[str]] = {}
    for a, b in ANTONYMS + INTENSIFIERS + NEGATIONS:
        for x, y in ((a, b), (b, a)):
            if x and y and y not in table.setdefault(x, []):
                table[x].append(y)
    for word, subs in (vocab or {}).items():
        if not isinstance(subs, (list, tuple)):
            raise TypeError(f"vocab maps a word to a list of replacements; {word!r} maps to {subs!r}")
        table.setdefault(word.lower(), [])
        table[word.lower()] += [s for s in subs if s not in table[word.lower()]]
    return table


# ── results ─────────────────────────────────────────────────────────────────────────────────────────

@dataclass(eq=False)
class Edit:
    """One edited sentence and what it did to the exit. Blocks are 0-based (the UI shows +1)."""
    op: str                   # "delete" | "substitute" | "insert"
    side: int                 # 0: the edit is in text, 1: in text_b
    position: int             # index of the word edited (insert: the word it goes before) in that text
    anchor: str               # the original word at ``position``
    old: str                  # the word removed or replaced ("" for an insertion)
    new: str                  # the word inserted or put in ("" for a deletion)
    text: str                 # the edited pair (text_b is None for a single sentence)
    text_b: str | None
    old_exit: int
    new_exit: int
    old_pred: int
    new_pred: int
    kinds: tuple[str, ...]    # subset of KINDS
    distance: int             # words changed (word-level edit distance)
    signal_change: float      # mean |Δ policy signal| over blocks
    preds: np.ndarray         # (L,) each block's class on the edited sentence
    confidence: np.ndarray    # (L,) each block's max probability on the edited sentence
    signal: np.ndarray        # (L,) the policy's signal per block on the edited sentence

    @property
    def describe(self) -> str:
        where = "" if self.text_b is None else (" (sentence 2)" if self.side else " (sentence 1)")
        if self.op == "delete":
            return f"delete '{self.old}'{where}"
        if self.op == "insert":
            return f"insert '{self.new}' before '{self.anchor}'{where}"
        return f"'{self.old}' → '{self.new}'{where}"


# ── candidates ─────────────────────────────────────────────────────────────────────────────────────

_WORD = re.compile(r"\w+(?:'\w+)*|n't|'s|'re|[^\w\s]")


def _words(text: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), m.group()) for m in _WORD.finditer(text)]


def _cased(word: str, like: str) -> str:
    return word[:1].upper() + word[1:] if like[:1].isupper() else word


def _delete(text: str, start: int, end: int) -> str:
    """The text without [start, end) and one space next to it, so no double space is left."""
    if end < len(text) and text[end] == " ":
        end += 1
    elif start > 0 and text[start - 1] == " ":
        start -= 1
    return text[:start] + text[end:]


def candidates(text: str, table: dict[str, list[str]]) -> list[tuple[str, int, str, str, str, str]]:
    """Single-word edits of ``text``: (op, word index, anchor word, old, new, edited text), deduplicated, in
    the order deletions, substitutions, insertions of "not", insertions of "very"."""
    words = _words(text)
    is_word = [any(ch.isalnum() for ch in w) for _, _, w in words]
    out, seen = [], {text}

    def add(*cand):                     # the last item is the edited text: keep each new one once
        if cand[-1].strip() and cand[-1] not in seen:
            seen.add(cand[-1])
            out.append(cand)

    if sum(is_word) > 1:
        for i, (s, e, w) in enumerate(words):
            if is_word[i]:
                add("delete", i, w, w, "", _delete(text, s, e))
    for i, (s, e, w) in enumerate(words):
        for sub in table.get(w.lower(), []) if is_word[i] else []:
            add("substitute", i, w, w, sub, (text[:s] + _cased(sub, w) + text[e:]) if sub else _delete(text, s, e))
    for ins in ("not", "very"):
        for i, (s, e, w) in enumerate(words):
            prev = words[i - 1][2].lower() if i else ""
            if not is_word[i] or prev == ins:
                continue
            if ins == "not":      # "is not good", "not good"; not "the not film"
                ok = prev in AUXILIARIES or (w.lower() not in FUNCTION_WORDS and prev not in DETERMINERS)
            else:                 # "a very good film"
                ok = w.lower() not in FUNCTION_WORDS
            if ok:
                head = _cased(ins, w) + " " + w[:1].lower() + w[1:] if i == 0 else ins + " " + w
                add("insert", i, w, "", ins, text[:s] + head + text[e:])
    return out


def _distance(op: str, old: str, new: str) -> int:
    """Word-level edit distance of one edit: a deletion 1, an insertion or substitution of k words k."""
    return 1 if op == "delete" else max(1, len(new.split()))


# ── the search ─────────────────────────────────────────────────────────────────────────────────────

def _signal(policy, trace) -> np.ndarray:
    """(N, L) the policy's own signal, or each exit's max probability for a policy without one."""
    try:
        s = np.asarray(policy.signal(trace), dtype=np.float64)
    except (AttributeError, NotImplementedError):
        s = trace.probs.max(-1).astype(np.float64)
    return np.nan_to_num(s, nan=0.0, posinf=0.0, neginf=0.0)


def _overthinks(preds: np.ndarray, ref: int) -> np.ndarray:
    """(N, L) per-block classes → (N,) bool: an exit before the last says ``ref`` and the last does not."""
    return (preds[:, :-1] == ref).any(1) & (preds[:, -1] != ref)


def counterfactuals(model, tokenizer, text: str, policy, text_b: str | None = None, max_edits: int = 20, vocab=None,
                    *, label: int | None = None, max_candidates: int = 400) -> list[Edit]:
    """The single-word edits of ``text`` (and ``text_b``) that move ``policy``'s exit block, flip its
    prediction, or create/remove destructive overthinking; at most ``max_edits``, fewest words changed
    first, then the smallest change of the policy's signal. ``vocab`` adds substitutions
    ({word: [replacements]}); ``label`` (the true class, if known) is the reference for overthinking.
    At most ``max_candidates`` edits are tried (in the order of :func:`candidates`)."""
    from core.policies import decide
    from core.run import record

    check_text(text)
    if text_b is not None:
        check_text(text_b, "text_b")
    if isinstance(max_edits, bool) or not isinstance(max_edits, (int, np.integer)) or max_edits < 1:
        raise ValueError(f"max_edits must be a whole number ≥ 1, got {max_edits!r}")
    if not hasattr(policy, "fires"):
        raise TypeError("policy must be a core.policies.rules Policy (make_policy('entropy', threshold=0.3)), "
                        f"got {policy!r}")
    table = substitution_table(vocab)
    sides = [text] if text_b is None else [text, text_b]
    cands = [(side, *c) for side, t in enumerate(sides) for c in candidates(t, table)][:max_candidates]
    texts = [text] + [c[-1] if c[0] == 0 else text for c in cands]
    texts_b = None if text_b is None else [text_b] + [c[-1] if c[0] == 1 else text_b for c in cands]
    labels = None if label is None else np.full(len(texts), int(label))
    with eval_mode(model):
        trace = record(model, tokenizer, texts, texts_b, labels, batch_size=len(texts))
    missing = policy.missing(trace)
    if missing:
        raise ValueError(f"policy {policy.name!r} cannot decide these sentences: it {missing}. Give label= (the "
                         "true class) for a policy that needs labels, or pick a policy this model supports")
    exits = decide(policy, trace)
    preds = trace.preds                                                   # (1 + C, L)
    ref = int(exits.pred[0]) if label is None else int(label)
    ot = _overthinks(preds, ref)
    sig = _signal(policy, trace)
    change = np.abs(sig - sig[0]).mean(1)                                 # (1 + C,)
    conf = trace.probs.max(-1)
    found = []
    for j, (side, op, pos, anchor, old, new, _) in enumerate(cands, start=1):
        kinds = tuple(k for k, hit in zip(KINDS, (exits.exit_block[j] != exits.exit_block[0],
                                                  exits.pred[j] != exits.pred[0], ot[j] and not ot[0],
                                                  ot[0] and not ot[j])) if hit)
        if kinds:
            found.append(Edit(op, side, pos, anchor, old, new, texts[j], None if texts_b is None else texts_b[j],
                              int(exits.exit_block[0]), int(exits.exit_block[j]), int(exits.pred[0]),
                              int(exits.pred[j]), kinds, _distance(op, old, new), float(change[j]), preds[j],
                              conf[j], sig[j]))
    found.sort(key=lambda e: (e.distance, e.signal_change))
    return found[:max_edits]
