"""Tolerant parser from model text to a Diagram, and the canonical serializer.

Language models write node lists with chatter around them, code fences, quoted numbers,
colours as strings, unquoted shape names and a last line cut off at the token limit. This
module reads all of that with a small lexer and a recursive-descent reader (never eval),
repairs what it can, and reports every repair as a warning. What it cannot read at all
raises ParseError with a message fit to show a user.

Bounds, so that reading, drawing and scoring take time and memory proportional to the text:
- MAX_TEXT_CHARS characters of text, MAX_DEPTH levels of brackets, MAX_NODES nodes,
  MAX_TARGETS targets on one node and MAX_EDGES edges in all: beyond any of these the text is
  refused with a ParseError (the metrics compare every pair of edges).
- MAX_LABEL_CHARS characters of label: a longer label is shortened, with a warning.
Reading is linear in the text: an unclosed quote is scanned once, not once per later quote.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field, replace

from PIL import ImageColor

from ml.diagram import CANVAS_HEIGHT, CANVAS_WIDTH, DEFAULT_LINE_STYLE, DEFAULT_SHAPE, Diagram, Node

MAX_TEXT_CHARS = 200_000
MAX_NODES = 400
MAX_TARGETS = 100  # per node; the training data's densest node has 10
MAX_EDGES = 2_000  # in all; the training data's largest diagram has 250
MAX_DEPTH = 12
MAX_LABEL_CHARS = 80
# Values outside these ranges are clamped (with a warning): drawable, never absurd.
COORD_RANGE = {"x": (-CANVAS_WIDTH, 2 * CANVAS_WIDTH), "y": (-CANVAS_HEIGHT, 2 * CANVAS_HEIGHT)}
SIZE_RANGE = (2, 2 * CANVAS_WIDTH)
DEFAULT_FILL = (255, 255, 255)
DEFAULT_LINE_COLOUR = (0, 0, 0)
FIELD_NAMES = (
    "id",
    "x",
    "y",
    "shape",
    "width",
    "height",
    "line style",
    "fill colour",
    "line colour",
    "targets",
    "label",
)


class ParseError(ValueError):
    """The text holds no usable diagram, or is too large to read."""


@dataclass
class ParseResult:
    diagram: Diagram
    warnings: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- lexer

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<open>[\[(])
  | (?P<close>[\])])
  | (?P<comma>,)
  | (?P<hex>\#[0-9a-fA-F]{6}\b|\#[0-9a-fA-F]{3}\b)
  | (?P<comment>\#[^\n]*)
  | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?:px\b)?)
  | (?P<word>[A-Za-z_][A-Za-z0-9_\-]*(?:[ \t]+[A-Za-z_][A-Za-z0-9_\-]*)*)
  | (?P<other>.)
""",
    re.VERBOSE | re.DOTALL,
)

# A quoted string up to, not including, its closing quote; `_tokens` handles the quotes.
_OPEN_STRING = {q: re.compile(rf"{q}(?:[^{q}\\\n]|\\.)*", re.DOTALL) for q in "\"'"}

_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", "'": "'", '"': '"', "r": "\r"}


def _unquote(token: str) -> str:
    if token.startswith('"'):
        try:
            return json.loads(token)
        except ValueError:
            pass
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), token[1:-1])


@dataclass
class _Seq:
    """A bracketed or parenthesised sequence as read; `complete` is False when the text ended inside it."""

    items: list
    bracket: str
    complete: bool = True


class _Word(str):
    """An unquoted word or phrase (`circle`, `solid arrow`), kept apart from quoted strings."""


def _tokens(text: str):
    """(kind, value) pairs; a quote that is never closed on its line is skipped like other punctuation.

    When a string opened at p runs unclosed to a line break or the end, every quote of the same kind
    inside it was escaped, so a string opened at one of them would stop at the same place: it is not
    scanned again. That keeps reading linear on text such as '"\\"\\"\\"...'.
    """
    pos, size = 0, len(text)
    unclosed_until = {'"': -1, "'": -1}
    while pos < size:
        quote = text[pos]
        if quote in _OPEN_STRING and pos >= unclosed_until[quote]:
            opened = _OPEN_STRING[quote].match(text, pos)
            assert opened is not None  # text[pos] is the quote, which the pattern starts with
            end = opened.end()
            if text.startswith(quote, end):
                yield "string", _unquote(text[pos : end + 1])
                pos = end + 1
                continue
            unclosed_until[quote] = end
        match = _TOKEN.match(text, pos)
        assert match is not None  # `other` matches any character
        pos = match.end()
        kind = match.lastgroup
        if kind in ("ws", "comment", "other"):
            continue
        token = match.group()
        value: str | float = token
        if kind == "number":
            value = float(token[:-2] if token.endswith("px") else token)
        elif kind in ("word", "hex"):
            value = _Word(token)
            kind = "word"
        yield kind, value


def _read(text: str) -> list:
    """Every top-level bracketed value in the text, in order; words outside brackets are chatter."""
    tokens = list(_tokens(text))
    values: list = []
    pos = 0

    def read_seq(opener: str, depth: int) -> _Seq:
        nonlocal pos
        if depth > MAX_DEPTH:
            raise ParseError(f"lists are nested deeper than {MAX_DEPTH} levels")
        seq = _Seq([], opener)
        while pos < len(tokens):
            kind, value = tokens[pos]
            pos += 1
            if kind == "close":
                return seq
            if kind == "open":
                seq.items.append(read_seq(value, depth + 1))
            elif kind != "comma":
                seq.items.append(value)
        seq.complete = False
        return seq

    while pos < len(tokens):
        kind, value = tokens[pos]
        pos += 1
        if kind == "open" and value == "[":
            values.append(read_seq("[", 1))
    return values


# ---------------------------------------------------------------- field coercion


class _FieldError(ValueError):
    pass


MAX_ID = 10**9


def _is_number(value) -> bool:
    """A float that is not NaN (infinities are kept so that clamping can tame them)."""
    return isinstance(value, float) and not math.isnan(value)


def _whole(value: float) -> bool:
    return math.isfinite(value) and value == int(value) and abs(value) <= MAX_ID


# Unambiguous alternatives (no way to split a digit run twice), so matching stays linear.
_NUMBER_TEXT = re.compile(r"\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*(?:px)?\s*")


def _number(value, name: str) -> float:
    if isinstance(value, str):
        match = _NUMBER_TEXT.fullmatch(value)
        if match:
            value = float(match.group(1))
    if not _is_number(value):
        raise _FieldError(f"{name} is not a number: {_show(value)}")
    return value


def _show(value) -> str:
    if isinstance(value, _Seq):
        return "a list"
    text = str(value)
    return text if len(text) <= 30 else text[:27] + "..."


def _clamped(value: float, low: float, high: float, name: str, warnings: list[str], where: str) -> int:
    result = int(round(min(max(value, low), high)))
    if value < low or value > high:
        warnings.append(f"{where}: {name} {value:g} is out of range, clamped to {result}")
    return result


def _phrase(value) -> str:
    return re.sub(r"[\s_\-]+", " ", str(value)).strip().lower()


_SHAPE_WORDS = [
    (("round", "rounded", "roundrect", "pill"), ("rect", "box", "square"), "round rectangle"),
    ((), ("rect", "box", "square", "rectangle", "process", "block"), "rectangle"),
    ((), ("circle", "ellipse", "oval", "round", "dot", "node", "neuron"), "circle"),
]


def _shape(value, warnings: list[str], where: str) -> str:
    phrase = _phrase(value) if isinstance(value, str) else ""
    for needed, any_of, shape in _SHAPE_WORDS:
        if (not needed or any(w in phrase for w in needed)) and any(w in phrase for w in any_of):
            return shape
    warnings.append(f"{where}: unknown shape {_show(value)!r}, drawn as {DEFAULT_SHAPE}")
    return DEFAULT_SHAPE


def _line_style(value, warnings: list[str], where: str) -> str:
    phrase = _phrase(value) if isinstance(value, str) else ""
    if "dash" in phrase or "dot" in phrase:
        return "dashed line"
    if "arrow" in phrase or "directed" in phrase:
        return "solid arrow"
    if any(w in phrase for w in ("solid", "line", "straight", "plain", "undirected")):
        return "solid line"
    warnings.append(f"{where}: unknown line style {_show(value)!r}, drawn as {DEFAULT_LINE_STYLE}")
    return DEFAULT_LINE_STYLE


def _is_none(value) -> bool:
    """An unquoted None/null/nil: an absent value, not the text "None"."""
    return isinstance(value, _Word) and _phrase(value) in ("none", "null", "nil")


def _reread(value: str) -> list:
    """The values inside a string such as "(255, 0, 255)" or '[5, 6]'."""
    inner = list(_tokens(value))
    return [v for kind, v in inner if kind in ("number", "string", "word")]


def _colour(value, default, name: str, warnings: list[str], where: str) -> tuple[int, int, int]:
    parts = None
    if isinstance(value, _Seq):
        parts = value.items
    elif isinstance(value, str):
        try:
            parts = [float(c) for c in ImageColor.getrgb(value.strip())[:3]]
        except (ValueError, OverflowError):
            parts = _reread(value)
    try:
        if parts is None or len(parts) not in (3, 4):
            raise _FieldError("not three numbers")
        channels = [_number(p, name) for p in parts[:3]]
    except _FieldError:
        warnings.append(f"{where}: {name} {_show(value)!r} is not an (R, G, B) colour, using {default}")
        return default
    red, green, blue = (_clamped(c, 0, 255, name, warnings, where) for c in channels)
    return red, green, blue


def _targets(value, warnings: list[str], where: str) -> list[int]:
    if isinstance(value, _Seq):
        items = value.items
    elif _is_number(value):
        items = [value]
    elif isinstance(value, str):
        items = [] if _phrase(value) in ("", "none", "null", "nil") else _reread(value)
    else:
        items = []
    targets = []
    for item in items:
        try:
            number = _number(item, "target")
        except _FieldError:
            warnings.append(f"{where}: target {_show(item)!r} is not a node id, dropped")
            continue
        if not _whole(number):
            warnings.append(f"{where}: target {number:g} is not a node id, dropped")
            continue
        targets.append(int(number))
    return targets


def _node(seq: _Seq, warnings: list[str]) -> Node | None:
    items = seq.items
    try:
        nid = _number(items[0], "id")
    except _FieldError as error:
        warnings.append(f"dropped a node: {error}")
        return None
    if not _whole(nid):
        warnings.append(f"dropped a node: id {nid:g} is not a whole number")
        return None
    nid = int(nid)
    where = f"node {nid}"
    if len(items) < 9:
        warnings.append(f"dropped {where}: it has {len(items)} of the 10 fields")
        return None
    if len(items) == 9:
        warnings.append(f"{where}: no target list, drawn without edges")
    if len(items) > 11:
        warnings.append(f"{where}: ignored {len(items) - 11} extra fields")
    try:
        x = _clamped(_number(items[1], "x"), *COORD_RANGE["x"], "x", warnings, where)
        y = _clamped(_number(items[2], "y"), *COORD_RANGE["y"], "y", warnings, where)
        width = _clamped(_number(items[4], "width"), *SIZE_RANGE, "width", warnings, where)
        height = _clamped(_number(items[5], "height"), *SIZE_RANGE, "height", warnings, where)
    except _FieldError as error:
        warnings.append(f"dropped {where}: {error}")
        return None
    label = None
    if len(items) > 10 and not isinstance(items[10], _Seq) and not _is_none(items[10]):
        raw = items[10]
        label = str(int(raw)) if _is_number(raw) and _whole(raw) else str(raw)
        label = " ".join("".join(ch if ch.isprintable() else " " for ch in label).split())
        if len(label) > MAX_LABEL_CHARS:
            warnings.append(f"{where}: label shortened to {MAX_LABEL_CHARS} characters")
            label = label[:MAX_LABEL_CHARS].rstrip()
        label = label or None
    return Node(
        id=nid,
        x=x,
        y=y,
        shape=_shape(items[3], warnings, where),
        width=width,
        height=height,
        line_style=_line_style(items[6], warnings, where),
        fill=_colour(items[7], DEFAULT_FILL, "fill colour", warnings, where),
        line_colour=_colour(items[8], DEFAULT_LINE_COLOUR, "line colour", warnings, where),
        targets=tuple(_targets(items[9], warnings, where)) if len(items) > 9 else (),
        label=label,
    )


# ---------------------------------------------------------------- structure


def _looks_like_node(value) -> bool:
    """A bracketed list whose first item is a number and which holds more than numbers."""
    if not isinstance(value, _Seq) or value.bracket != "[" or not value.items:
        return False
    first = value.items[0]
    try:
        _number(first, "id")
    except _FieldError:
        return False
    return len(value.items) >= 4 and not all(_is_number(v) for v in value.items)


def _node_lists(values: list, warnings: list[str]) -> list[_Seq]:
    found: list[_Seq] = []

    def visit(seq_items: list, depth: int) -> None:
        for value in seq_items:
            if _looks_like_node(value):
                if not value.complete:
                    warnings.append("the last node was cut off and was dropped")
                    continue
                found.append(value)
                if len(found) > MAX_NODES:
                    raise ParseError(f"more than {MAX_NODES} nodes: ask for a smaller diagram")
            elif isinstance(value, _Seq):
                if not value.complete and value.items and isinstance(value.items[0], float):
                    warnings.append("the last node was cut off and was dropped")
                else:
                    visit(value.items, depth + 1)

    visit(values, 0)
    return found


def parse(text: str) -> ParseResult:
    """Read a diagram from model text. Raises ParseError when there is nothing usable."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if not isinstance(text, str):
        raise ParseError(f"expected text, got {type(text).__name__}")
    if len(text) > MAX_TEXT_CHARS:
        raise ParseError(f"the text is {len(text):,} characters; the limit is {MAX_TEXT_CHARS:,}")
    warnings: list[str] = []
    nodes: list[Node] = []
    seen: set[int] = set()
    for seq in _node_lists(_read(text), warnings):
        node = _node(seq, warnings)
        if node is None:
            continue
        if node.id in seen:
            warnings.append(f"node {node.id}: duplicate id, the later node was dropped")
            continue
        seen.add(node.id)
        nodes.append(node)
    if not nodes:
        raise ParseError(
            "no node list found: expected lines like "
            '[1, 100, 300, "circle", 40, 40, "solid arrow", (255, 255, 255), (0, 0, 0), [2]]'
        )
    nodes = [_checked_targets(n, seen, warnings) for n in nodes]
    edges = sum(len(n.targets) for n in nodes)
    if edges > MAX_EDGES:
        raise ParseError(f"{edges:,} edges, more than {MAX_EDGES:,}: ask for a smaller diagram")
    return ParseResult(Diagram(tuple(nodes)), warnings)


def _checked_targets(node: Node, ids: set[int], warnings: list[str]) -> Node:
    kept: dict[int, None] = {}  # an ordered set
    for target in node.targets:
        if target == node.id:
            warnings.append(f"node {node.id}: an edge to itself was dropped")
        elif target not in ids:
            warnings.append(f"node {node.id}: target {target} does not exist, edge dropped")
        elif target in kept:
            warnings.append(f"node {node.id}: target {target} listed twice")
        else:
            kept[target] = None
    if len(kept) > MAX_TARGETS:
        raise ParseError(
            f"node {node.id} has {len(kept):,} targets, more than {MAX_TARGETS}: ask for a smaller diagram"
        )
    targets = tuple(kept)
    if targets == node.targets:
        return node
    return replace(node, targets=targets)


# ---------------------------------------------------------------- serializer


def serialize_node(node: Node, label_lead: str = "") -> str:
    fill = ", ".join(str(c) for c in node.fill)
    line = ", ".join(str(c) for c in node.line_colour)
    targets = ", ".join(str(t) for t in node.targets)
    fields = [
        str(node.id),
        str(node.x),
        str(node.y),
        f'"{node.shape}"',
        str(node.width),
        str(node.height),
        f'"{node.line_style}"',
        f"({fill})",
        f"({line})",
        f"[{targets}]",
    ]
    if node.label is not None:
        fields.append(json.dumps(label_lead + node.label, ensure_ascii=False))
    return "[" + ", ".join(fields) + "]"


def serialize(diagram: Diagram, label_lead: str = "") -> str:
    """Canonical text: one node per line inside one list; parse(serialize(d)).diagram == d.

    The generator writes each label after a space (`label_lead=" "`, see training/tokenizer.py);
    parsing drops it.
    """
    return "[\n" + ",\n".join(serialize_node(n, label_lead) for n in diagram.nodes) + "\n]"
