"""Grammar-constrained decoding: every sampled candidate is a well-formed node list.

A logits processor for transformers' `generate`. At each step it checks the K most likely next
tokens against the canonical node-list grammar (a regular language, checked with `regex`'s
partial matching on the text since the last complete node) and masks the rest. Once the list
is closed it allows only EOS, so generation stops at the end of the list, not at the token limit.
Checking only the top K keeps the cost to a few hundred regex calls per step.

The list may be preceded by one comment line, the plan ("# layers: ..." / "# nodes: ..."), which
the embedded model writes first so that it copies sizes and names instead of counting. When the
plan is in that form the list is held to it (ml.plan): the planned nodes, in order, no more.
Given the request (copy_names), a plan's names are held to spans of it, or to a CNN's layer labels
(copy-constrained decoding). Token texts are bytes: a Hangul syllable is three tokens, and while a
character is unfinished its bytes are judged by a character they can still become (`completion`),
so that no row is led into a character the grammar cannot take.
"""

from __future__ import annotations

import codecs
import typing

import regex
import torch
from transformers import LogitsProcessor, StoppingCriteria

from ml.node_syntax import NODE
from ml.plan import (
    ColumnPattern,
    NodePattern,
    PlacedPattern,
    PlannedNode,
    held_patterns,
    node_patterns,
    plan_slips,
    strays_from_request,
)

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


Held = tuple[NodePattern, ...] | None  # a plan given from outside (ml.planner): its patterns override the line's


def _pattern_at(patterns: tuple[NodePattern, ...], place: int, text: str, at: int) -> regex.Pattern:
    """The pattern of the node at `place`, which starts at `at` (a placed node's from the nodes before it)."""
    pattern = patterns[place]
    return pattern.at(text[:at]) if isinstance(pattern, PlacedPattern | ColumnPattern) else pattern


def _forced(held: tuple[NodePattern, ...], text: str) -> str | None:
    """The rest of the node being written when the plan fixes all of it (ml.plan.PlacedPattern)."""
    body = _body(text)
    if body is None or len(text) < body + len(HEAD):
        return None
    start = _tail_start(text)
    place = text.count("],\n", body + len(HEAD), start)
    if place >= len(held) or not isinstance(held[place], PlacedPattern):
        return None
    node = typing.cast(PlacedPattern, held[place]).literal(text[:start])
    if node is None:
        return None
    whole = node + ("\n]" if place == len(held) - 1 else ",\n")
    written = text[start:]
    return whole[len(written) :] if whole.startswith(written) else None


def _follows_plan(patterns: tuple[NodePattern, ...], text: str, list_start: int, start: int, partial: bool) -> bool:
    """Whether the nodes from `start` on are the ones the plan names at their places, and no more."""
    place = text.count("],\n", list_start, start)
    *whole, last = text[start:].split("],\n")
    at = start
    for segment in whole:
        if place >= len(patterns) or not _pattern_at(patterns, place, text, at).fullmatch(segment + "]"):
            return False
        place += 1
        at += len(segment) + 3
    if place >= len(patterns):
        return False
    pattern = _pattern_at(patterns, place, text, at)
    if last.endswith("],") and pattern.fullmatch(last[:-1]):  # whole, and another must follow
        return partial and place + 1 < len(patterns)
    node = last.removesuffix("\n]").removesuffix("\n")
    if node != last:  # the list is closing: this must be the last planned node, whole
        return place == len(patterns) - 1 and pattern.fullmatch(node) is not None
    return partial and pattern.fullmatch(node, partial=True) is not None


def _matches(text: str, start: int, partial: bool, held: Held = None) -> bool:
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
    patterns = held if held is not None else node_patterns(text[:body]) if body else None
    return patterns is None or _follows_plan(patterns, text, body + len(HEAD), start, partial)


def extends(text: str, addition: str, held: Held = None) -> bool:
    """Whether valid-prefix `text` + `addition` can still become a complete node list."""
    return _matches(text + addition, _tail_start(text), partial=True, held=held)


def is_valid_prefix(text: str) -> bool:
    """Whether `text` can still be extended to a complete canonical node list."""
    return _matches(text, 0, partial=True)


def is_complete(text: str) -> bool:
    """Whether `text` is one whole canonical node list."""
    return text.endswith(LIST_END) and _matches(text, 0, partial=False)


def _closes(checked: str, held: Held = None) -> bool:
    """is_complete for text already known to be a valid prefix: only its unfinished part is matched."""
    return checked.endswith(LIST_END) and _matches(checked, _tail_start(checked[:-1]), partial=False, held=held)


def _byte_level_alphabet() -> dict[str, int]:
    """GPT-2's byte-level alphabet, character -> byte (what ByteLevel BPE token strings are written in)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), 256))
    chars, extra = {}, 0
    for byte in range(256):
        if byte in printable:
            chars[chr(byte)] = byte
        else:
            chars[chr(256 + extra)] = byte
            extra += 1
    return chars


def token_bytes(tokenizer) -> list[bytes]:
    """The bytes each token id adds when decoded (special tokens map to b"").

    Bytes, not text: a Hangul syllable is three byte tokens, and none of them alone is a character.
    """
    alphabet = _byte_level_alphabet()
    special = set(tokenizer.all_special_ids)
    added = set(tokenizer.added_tokens_decoder)
    out = []
    for token_id in range(len(tokenizer)):
        token = tokenizer.convert_ids_to_tokens(token_id)
        if token_id in special or token is None:
            out.append(b"")
        elif token_id in added:
            out.append(token.encode("utf-8"))
        elif all(ch in alphabet for ch in token):
            out.append(bytes(alphabet[ch] for ch in token))
        elif regex.fullmatch(r"<0x[0-9A-Fa-f]{2}>", token):  # SentencePiece byte fallback
            out.append(bytes([int(token[3:5], 16)]))
        else:
            out.append(tokenizer.convert_tokens_to_string([token]).encode("utf-8"))
    return out


def split_utf8(data: bytes) -> tuple[str, bytes] | None:
    """(the whole characters in data, the unfinished one's bytes); None if data cannot be UTF-8."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    try:
        text = decoder.decode(data, final=False)
    except UnicodeDecodeError:
        return None
    return text, decoder.getstate()[0]


def _whole_text(piece: bytes) -> str | None:
    try:
        return piece.decode("utf-8")
    except UnicodeDecodeError:
        return None


WIDER_K = 256  # tokens tried when none of the top K may follow, before the whole vocabulary


def completion(partial: bytes) -> str | None:
    """A character whose UTF-8 begins with `partial` (the unfinished bytes of one); None if none does.

    The grammar judges an unfinished character by such a stand-in: every character outside ASCII
    may stand in a label or a plan's name and nowhere else, so one stand-in answers for them all.
    """
    length = 2 if partial[0] < 0xE0 else 3 if partial[0] < 0xF0 else 4
    for fill in (b"\x80", b"\x90", b"\xa0"):  # the second byte's lowest allowed value varies by lead byte
        try:
            return (partial + fill * (length - len(partial))).decode("utf-8")
        except UnicodeDecodeError:
            continue
    return None


def ends_list(pieces: list[bytes], tokens: list[int]) -> bool:
    """Whether generated tokens end with the node list's closing (their last four tokens, as text)."""
    tail = b"".join(pieces[t] for t in tokens[-4:] if t < len(pieces)).decode("utf-8", "ignore")
    return tail.rstrip().endswith(LIST_END)


class NodeListGrammar(LogitsProcessor):
    """Masks every token that would break the node-list grammar (among the top K; see module doc).

    Two ways in: as a transformers logits processor (`__call__`, which reads each row's new tokens
    off input_ids), or row by row from a sampling loop (`feed` each sampled token, `constrain` the
    scores of the rows still going).
    """

    def __init__(
        self,
        tokenizer,
        prompt_length: int,
        top_k: int = 16,
        pieces: list[bytes] | None = None,
        request: str | None = None,
        prefix: str = "",
        hold: tuple[PlannedNode, ...] | None = None,
    ):
        self.pieces = pieces if pieces is not None else token_bytes(tokenizer)
        self.whole = [_whole_text(piece) for piece in self.pieces]  # None: not whole characters alone
        self.request = request  # when given, a plan's names are held to spans of it (ml.plan)
        self.prefix = prefix  # text every row starts with, not sampled (the planner's plan line)
        # the planner's nodes, labels and edges: the list draws exactly these
        self.held = held_patterns(hold) if hold else None
        # Characters that may complete an unfinished one where the text is held: a name held to
        # the request, or a label the planner holds (Hangul, "…").
        held_text = (request or "") + "".join(node.label or "" for node in hold or ())
        self._request_chars = sorted({ch for ch in held_text if not ch.isascii()})
        self._whole_pieces = [(t, text) for t, text in enumerate(self.whole) if t != tokenizer.eos_token_id]
        self.eos = tokenizer.eos_token_id
        self.prompt_length = prompt_length
        self.top_k = top_k
        self._generated: list[str] = []
        self._pending: list[bytes] = []  # the bytes of a character not yet whole, per row
        self._seen = prompt_length

    def feed(self, row: int, token_id: int) -> None:
        """Add a sampled token to a row's text."""
        self._grow(row + 1)
        if token_id < len(self.pieces):
            split = split_utf8(self._pending[row] + self.pieces[token_id])
            text, self._pending[row] = split if split else ("\ufffd", b"")
            self._generated[row] += text

    def _grow(self, rows: int) -> None:
        """Rows not seen yet begin with no text."""
        missing = max(0, rows - len(self._generated))
        self._generated += [self.prefix] * missing
        self._pending += [b""] * missing

    def _sync(self, input_ids: torch.LongTensor) -> None:
        self._grow(input_ids.shape[0])
        for position in range(self._seen, input_ids.shape[1]):
            for row, token_id in enumerate(input_ids[:, position].tolist()):
                self.feed(row, token_id)
        self._seen = input_ids.shape[1]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        self._sync(input_ids)
        return typing.cast(torch.FloatTensor, self.constrain(range(input_ids.shape[0]), scores))

    def constrain(self, rows, scores: torch.Tensor, nucleus: float | None = None) -> torch.Tensor:
        """`scores` (one line per row in `rows`) with every token that breaks a row's text at -inf.

        `nucleus`, for a sampler that applies top-p with that p to scores already divided by its
        temperature: a row whose most likely token is allowed and holds more than p of the top K's
        probability (so more than p of whatever the check would leave) is not checked further, since
        top-p sampling could draw nothing else. Most steps of a node list are such (a comma, a space).
        """
        rows = list(rows)
        self._grow(max(rows, default=-1) + 1)
        mask = torch.full_like(scores, float("-inf"))
        vocab = min(scores.shape[1], len(self.pieces))
        best = torch.topk(scores[:, :vocab], min(self.top_k, vocab))
        # A margin above p, so that float rounding in the sampler's cumulative sum cannot keep a second token.
        settled = (
            (torch.softmax(best.values, dim=-1)[:, 0] > nucleus + 0.01).tolist()
            if nucleus is not None
            else [False] * len(rows)
        )
        top = best.indices.tolist()
        for line, row in enumerate(rows):
            if not self._pending[row] and _closes(self._generated[row], self.held):
                mask[line, self.eos] = 0
                continue
            forced = self._forced_tokens(row, vocab) if self.held is not None else None
            if forced:  # a node the plan fixes whole (a cut layer's ellipsis): its next piece, directly
                mask[line, forced] = 0
                continue
            first = top[line][0]
            if settled[line] and first != self.eos and self.pieces[first] and self._keeps(row, first):
                mask[line, first] = 0
                continue
            allowed = [t for t in top[line] if t != self.eos and self.pieces[t] and self._keeps(row, t)]
            if not allowed:  # the next most likely first: the whole vocabulary only as a last resort
                wider = torch.topk(scores[line, :vocab], min(WIDER_K, vocab)).indices.tolist()
                tried = set(top[line])
                allowed = [
                    t for t in wider if t not in tried and t != self.eos and self.pieces[t] and self._keeps(row, t)
                ]
            if not allowed:
                allowed = self._scan(row, vocab)
            mask[line, allowed or [self.eos]] = 0
        return scores + mask

    def _forced_tokens(self, row: int, vocab: int) -> list[int] | None:
        """Where the row must write text the plan fixes to the character, the tokens that begin it."""
        if self._pending[row]:
            return None
        remainder = _forced(typing.cast(tuple, self.held), self._generated[row])
        if not remainder:
            return None
        return [t for t, piece in self._whole_pieces[:vocab] if piece and remainder.startswith(piece)] or None

    def _keeps(self, row: int, token: int) -> bool:
        addition = self.whole[token] if not self._pending[row] else None
        if addition is None:
            split = split_utf8(self._pending[row] + self.pieces[token])
            if split is None:
                return False
            addition, unfinished = split
            if unfinished:  # part of a character: judged by the characters it can still become
                stand_ins = [completion(unfinished)] + [
                    ch for ch in self._request_chars if ch.encode().startswith(unfinished)
                ]
                return any(ch is not None and self._extends(row, addition + ch) for ch in stand_ins)
        return self._extends(row, addition)

    def _extends(self, row: int, addition: str) -> bool:
        text = self._generated[row]
        if not extends(text, addition, self.held):
            return False
        if self.request is None or _body(text) is not None:
            return True
        return not strays_from_request(text + addition, self.request)

    def _scan(self, row: int, vocab: int) -> list[int]:
        """Slow path: every token of the vocabulary that keeps the text valid."""
        return [t for t in range(vocab) if t != self.eos and self.pieces[t] and self._keeps(row, t)]


class ListEndStop(StoppingCriteria):
    """Stops each row once its text closes the node list (for decoding without the grammar)."""

    def __init__(self, tokenizer, prompt_length: int, pieces: list[bytes] | None = None):
        self.pieces = pieces if pieces is not None else token_bytes(tokenizer)
        self.prompt_length = prompt_length

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        done = [ends_list(self.pieces, row) for row in input_ids[:, self.prompt_length :].tolist()]
        return typing.cast(torch.BoolTensor, torch.tensor(done, dtype=torch.bool, device=input_ids.device))
