"""Grammar-constrained decoding: every sampled candidate is a well-formed node list.

A logits processor for transformers' `generate`. At each step it checks the K most likely next
tokens against the canonical node-list grammar (a regular language, checked with `regex`'s
partial matching on the text since the last complete node) and masks the rest. Once the list
is closed it allows only EOS, so generation stops at the end of the list, not at the token limit.
Checking only the top K keeps the cost to a few hundred regex calls per step.

The list may be preceded by one comment line, the plan ("# layers: ..." / "# nodes: ..."), which
the embedded model writes first so that it copies sizes and names instead of counting. When the
plan is in that form the list is held to it (ml.plan): the planned nodes, in order, no more.
"""

from __future__ import annotations

import regex
import torch
from transformers import LogitsProcessor, StoppingCriteria

from ml.node_syntax import NODE
from ml.plan import node_patterns, plan_slips

# The text after the last "],\n": some more nodes, possibly the closing of the list.
TAIL = regex.compile(rf"(?:{NODE},\n)*(?:{NODE}(?:\n\])?)?")
HEAD = "[\n"
LIST_END = "]\n]"
PLAN = "#"
MAX_PLAN_CHARS = 600


def _body(text: str) -> int | None:
    """Where the node list begins: 0, or after the plan line; None while the plan line is unfinished."""
    if not text.startswith(PLAN):
        return 0
    end = text.find("\n")
    return None if end < 0 else end + 1


def _tail_start(text: str) -> int:
    """Where the unfinished part of checked text begins: after the head and the last complete node.

    "],\n" only ever ends a node (labels hold no newline), so what precedes it is whole nodes.
    """
    head_end = (_body(text) or 0) + len(HEAD)
    cut = text.rfind("],\n", head_end)
    return cut + 3 if cut >= 0 else head_end


def _follows_plan(patterns: tuple[regex.Pattern, ...], text: str, list_start: int, start: int,
                  partial: bool) -> bool:
    """Whether the nodes from `start` on are the ones the plan names at their places, and no more."""
    place = text.count("],\n", list_start, start)
    *whole, last = text[start:].split("],\n")
    for segment in whole:
        if place >= len(patterns) or not patterns[place].fullmatch(segment + "]"):
            return False
        place += 1
    if place >= len(patterns):
        return False
    if last.endswith("],") and patterns[place].fullmatch(last[:-1]):  # whole, and another must follow
        return partial and place + 1 < len(patterns)
    node = last.removesuffix("\n]").removesuffix("\n")
    if node != last:  # the list is closing: this must be the last planned node, whole
        return place == len(patterns) - 1 and patterns[place].fullmatch(node) is not None
    return partial and patterns[place].fullmatch(node, partial=True) is not None


def _matches(text: str, start: int, partial: bool) -> bool:
    body = _body(text)
    if body is None or body > MAX_PLAN_CHARS:
        return body is None and partial and len(text) <= MAX_PLAN_CHARS and not plan_slips(text)
    if start < body and plan_slips(text[:body]):  # the checked text includes the finished plan
        return False
    if len(text) - body <= len(HEAD) or not text.startswith(HEAD, body):
        return partial and HEAD.startswith(text[body:])
    start = max(start, body + len(HEAD))
    if TAIL.fullmatch(text, pos=start, partial=partial) is None:
        return False
    patterns = node_patterns(text[:body]) if body else None
    return patterns is None or _follows_plan(patterns, text, body + len(HEAD), start, partial)


def extends(text: str, addition: str) -> bool:
    """Whether valid-prefix `text` + `addition` can still become a complete node list."""
    return _matches(text + addition, _tail_start(text), partial=True)


def is_valid_prefix(text: str) -> bool:
    """Whether `text` can still be extended to a complete canonical node list."""
    return _matches(text, 0, partial=True)


def is_complete(text: str) -> bool:
    """Whether `text` is one whole canonical node list."""
    return text.endswith(LIST_END) and _matches(text, 0, partial=False)


def _closes(checked: str) -> bool:
    """is_complete for text already known to be a valid prefix: only its unfinished part is matched."""
    return checked.endswith(LIST_END) and _matches(checked, _tail_start(checked[:-1]), partial=False)


def token_texts(tokenizer) -> list[str]:
    """The text each token id adds when decoded (special tokens map to '')."""
    special = set(tokenizer.all_special_ids)
    texts = []
    for token_id in range(len(tokenizer)):
        if token_id in special:
            texts.append("")
        else:
            texts.append(tokenizer.convert_tokens_to_string([tokenizer.convert_ids_to_tokens(token_id)]))
    return texts


class NodeListGrammar(LogitsProcessor):
    """Masks every token that would break the node-list grammar (among the top K; see module doc)."""

    def __init__(self, tokenizer, prompt_length: int, top_k: int = 16, texts: list[str] | None = None):
        self.texts = texts if texts is not None else token_texts(tokenizer)
        self.eos = tokenizer.eos_token_id
        self.prompt_length = prompt_length
        self.top_k = top_k
        self._generated: list[str] = []
        self._seen = 0

    def _sync(self, input_ids: torch.LongTensor) -> None:
        if not self._generated:
            self._generated = [""] * input_ids.shape[0]
            self._seen = self.prompt_length
        for position in range(self._seen, input_ids.shape[1]):
            for row, token_id in enumerate(input_ids[:, position].tolist()):
                if token_id < len(self.texts):
                    self._generated[row] += self.texts[token_id]
        self._seen = input_ids.shape[1]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        self._sync(input_ids)
        mask = torch.full_like(scores, float("-inf"))
        vocab = min(scores.shape[1], len(self.texts))
        for row, text in enumerate(self._generated):
            if _closes(text):
                mask[row, self.eos] = 0
                continue
            candidates = torch.topk(scores[row, :vocab], min(self.top_k, vocab)).indices.tolist()
            allowed = [t for t in candidates if t != self.eos and self.texts[t]
                       and extends(text, self.texts[t])]
            if not allowed:
                allowed = self._scan(text, vocab)
            mask[row, allowed or [self.eos]] = 0
        return scores + mask

    def _scan(self, text: str, vocab: int) -> list[int]:
        """Slow path: every token of the vocabulary that keeps the text valid."""
        return [t for t in range(vocab) if t != self.eos and self.texts[t] and extends(text, self.texts[t])]


class ListEndStop(StoppingCriteria):
    """Stops each row once its text closes the node list (for decoding without the grammar)."""

    def __init__(self, tokenizer, prompt_length: int, texts: list[str] | None = None):
        self.texts = texts if texts is not None else token_texts(tokenizer)
        self.prompt_length = prompt_length

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        done = []
        for row in input_ids[:, self.prompt_length:].tolist():
            tail = "".join(self.texts[t] for t in row[-4:] if t < len(self.texts))
            done.append(tail.rstrip().endswith(LIST_END))
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)
