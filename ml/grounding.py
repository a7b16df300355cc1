"""Grounding: how much of a candidate diagram its request actually asked for (0-1).

Agreement between samples (ml.consensus) cannot settle a split vote: for "2 input nodes, 3 and 5
hidden nodes, 1 output node", four samples may draw 2-3-5-1 and four 2-5-3-1. Only the request
can tell them apart, so the candidate is compared with it directly:

- numbers: the request's numbers (digits and number words), in order, against the diagram's own:
  its layer sizes from left to right when no node has a label (a dense network; a layer cut
  short counts as its ellipsis label says, ml/dense.py), otherwise the
  numbers in its labels in list order ("Conv 3x3, 64" gives 3, 3, 64), or else its node count,
  whichever is closer. Similarity is difflib's ratio of the two sequences, so a missing, extra or
  swapped layer lowers it. A request without numbers leaves them out of it.
- words: the share of the words (two letters or more) in the diagram's labels that the request
  uses. A name the request never mentions ("Join" in a pipeline of Train, Tune and Deploy) is most
  likely made up.
- coverage: the share of the request's names that the diagram draws. Which request words are
  names is read off the candidates themselves: every request word some candidate uses in a label.
  A candidate that leaves out a step the others drew ("Evaluate") covers less.

The score is their product. It is a comparison between candidates for one request, not an
absolute verdict: a vague request ("a CNN for MNIST") grounds every candidate about equally.
"""

from __future__ import annotations

import difflib
import re

from ml.dense import ellipsis_size, layer_sizes
from ml.diagram import Diagram

NUMBER_WORDS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
]
_TOKEN = re.compile(r"[a-z]+|\d+")


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def _numbers(tokens: list[str]) -> list[int]:
    return [int(t) if t.isdigit() else NUMBER_WORDS.index(t) for t in tokens if t.isdigit() or t in NUMBER_WORDS]


def _stem(word: str) -> str:
    """Singular and plural count as the same word ("outputs" asks for an "Output")."""
    return word[:-1] if len(word) > 3 and word.endswith("s") else word


def _similarity(asked: list[int], drawn: list[int]) -> float:
    return difflib.SequenceMatcher(None, asked, drawn, autojunk=False).ratio() if asked or drawn else 1.0


def _number_similarity(asked: list[int], diagram: Diagram) -> float:
    """1 when the request gives no numbers: then numbers cannot tell candidates apart."""
    if not asked:
        return 1.0
    labels = [n.label for n in diagram.nodes if n.label and ellipsis_size(n.label) is None]
    drawn = [_numbers(_tokens(label)) for label in labels] if labels else [[size] for size in layer_sizes(diagram, "x")]
    # Or the number of nodes all told ("draw two nodes", "a pipeline of 3 steps: ...").
    return max(_similarity(asked, [n for part in drawn for n in part]), _similarity(asked, [len(diagram.nodes)]))


def _label_words(diagram: Diagram) -> list[str]:
    return [_stem(t) for n in diagram.nodes if n.label for t in _tokens(n.label) if len(t) > 1 and not t.isdigit()]


def grounding_of_candidates(request: str, diagrams: list[Diagram]) -> list[float]:
    """Each candidate's numbers x words x coverage (module doc), the request read once for all."""
    tokens = _tokens(request)
    asked_numbers, asked_words = _numbers(tokens), {_stem(t) for t in tokens}
    words = [_label_words(d) for d in diagrams]
    drawn = [set(w) & asked_words for w in words]
    names = set().union(*drawn)
    scores = []
    for diagram, label_words, found in zip(diagrams, words, drawn):
        share = sum(w in asked_words for w in label_words) / len(label_words) if label_words else 1.0
        coverage = len(found) / len(names) if names else 1.0
        scores.append(_number_similarity(asked_numbers, diagram) * share * coverage)
    return scores


def grounding(request: str, diagram: Diagram) -> float:
    """How well one diagram's sizes and names match the request: 1 = all of them, 0 = none.

    (Alone, a diagram covers every name it finds, so this is its numbers x words.)
    """
    return grounding_of_candidates(request, [diagram])[0]
