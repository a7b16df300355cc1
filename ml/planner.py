"""The planner: a small byte-level language model that reads a request into its plan.

The drawer (the node-list model) draws well once it knows what to draw; what it could not do is
read a request written in the user's own words. The planner does that part and only that part:

    L 784 128 10                                        a dense network's layer sizes
    C Input 28x28x1 | Conv 3x3, 32 | BatchNorm | ...    a CNN's layers (normalised, or the request's words)
    F invoice PDFs :data | OCR :process || 1>2          a flowchart's names (verbatim), kinds and edges

Its tokens are UTF-8 bytes, so a name has the same ids in the request and in the plan and copying
it is something a 3.5 M-parameter model learns on two CPU cores (training/plan_train.py).

Decoding removes the cheap errors by construction (`plan_prefix_ok`): a name or a CNN layer is a
span of the request (or a normalised layer label), no name twice, every edge between planned
nodes. Several plans are sampled; the one most samples agree on wins (ties: the one that covers
more of the request). This file imports nothing from training (nanoGPT's rule).
"""

from __future__ import annotations

import inspect
import json
import logging
import time
import typing
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import regex

from ml.dense import ID_STRIDE, MAX_FULL_LAYER, SHOWN_TOP, dense_ids, ellipsis_label, is_ellipsis_id
from ml.diagram import label_key
from ml.plan import LAYER_LABEL, LAYERS_PREFIX, NODES_PREFIX, PlannedNode

log = logging.getLogger(__name__)

BOS, SEP, EOS, PAD = 256, 257, 258, 259
VOCAB = 260
MAX_BYTES = 768  # request and plan together, in bytes (the position table holds a few more)
MAX_PLAN_BYTES = 400
KINDS = ("data", "database", "picture", "chart", "function", "process", "model")
MAX_LAYERS = 16
MAX_NODES = 12
NODE_SEP, EDGE_SEP, KIND_SEP = b" | ", b" || ", b" :"
_SIZES = regex.compile(rb"(?:[1-9]\d{0,4} )*(?:[1-9]\d{0,4})?")
_EDGES = regex.compile(rb"(?:\d{1,2}>\d{1,2} )*(?:\d{1,2}(?:>\d{0,2})?)?")


def new_model(layers: int = 4, width: int = 256, heads: int = 4):
    """A fresh planner: a Llama over 256 bytes and four specials (BOS, SEP, EOS, PAD)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=width,
        intermediate_size=3 * width,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=MAX_BYTES + 64,
        tie_word_embeddings=True,
        bos_token_id=BOS,
        eos_token_id=EOS,
        pad_token_id=PAD,
    )
    return LlamaForCausalLM(config)


# ---------------------------------------------------------------- the plan


@dataclass(frozen=True)
class Plan:
    """What the request asks to draw: layer sizes, CNN layers, or named steps with kinds and edges."""

    family: str  # dense | cnn | flowchart
    layers: tuple[int, ...] = ()
    labels: tuple[str, ...] = ()
    nodes: tuple[tuple[str, str], ...] = ()  # (name, kind), in drawing order: every edge points forwards
    edges: tuple[tuple[int, int], ...] = ()  # indices into nodes

    def spec(self) -> dict:
        """The plan as training writes a spec (training/synthetic.py)."""
        if self.family == "dense":
            return {"layers": list(self.layers)}
        if self.family == "cnn":
            return {"labels": list(self.labels)}
        return {
            "nodes": [list(n) for n in self.nodes],
            "edges": [[self.nodes[a][0], self.nodes[b][0]] for a, b in self.edges],
        }

    def key(self) -> tuple:
        """What two readings must share to be the same reading (names compared as labels are)."""
        if self.family == "dense":
            return ("dense", self.layers)
        if self.family == "cnn":
            return ("cnn", tuple(label_key(x) for x in self.labels))
        names = [label_key(n) for n, _ in self.nodes]
        return ("flowchart", frozenset(names), frozenset((names[a], names[b]) for a, b in self.edges))

    def drawer_line(self) -> str:
        """The plan line as the drawer writes one first (ml.plan), in the shipped drawer's format:
        names without a leading space, and a cut layer as the neurons it keeps (see `hold`)."""
        if self.family == "dense":
            return LAYERS_PREFIX + ", ".join(f"[{', '.join(map(str, ids))}]" for ids in self._neurons())
        fields = [[label] for label in self.labels] if self.family == "cnn" else [list(n) for n in self.nodes]
        return NODES_PREFIX + "".join(
            f"[{i}" + "".join(f", {json.dumps(f, ensure_ascii=False)}" for f in item) + "]"
            for i, item in enumerate(fields, 1)
        )

    def _neurons(self) -> list[list[int]]:
        """Each layer's neuron No.s (ml.dense numbering), a cut layer's ellipsis left out."""
        return [[nid for nid in layer if not is_ellipsis_id(nid)] for layer in dense_ids(list(self.layers))]

    def hold(self) -> tuple[PlannedNode, ...]:
        """Every node the drawer must draw, in order, with its label and targets where the plan fixes them.

        A cut layer's ellipsis box comes last, placed from the neurons around it (ml.plan.PlacedPattern):
        the shipped drawer was trained before the ellipsis rule, and after a node it never saw it
        loses its way; drawn last, it has nothing left to lose.
        """
        if self.family == "dense":
            layers = self._neurons()
            neurons = [
                PlannedNode(
                    nid, tuple(layers[i + 1]) if i + 1 < len(layers) else (), "", column=layer[0] if j else None
                )
                for i, layer in enumerate(layers)
                for j, nid in enumerate(layer)
            ]
            cut = [
                PlannedNode(
                    ID_STRIDE * (i + 1),
                    (),
                    ellipsis_label(size),
                    placed=(layers[i][0], layers[i][SHOWN_TOP - 1], layers[i][SHOWN_TOP]),
                )
                for i, size in enumerate(self.layers)
                if size > MAX_FULL_LAYER
            ]
            return tuple(neurons + cut)
        if self.family == "cnn":
            return tuple(
                PlannedNode(i + 1, (i + 2,) if i + 1 < len(self.labels) else (), label)
                for i, label in enumerate(self.labels)
            )
        targets: dict[int, list[int]] = {}
        for a, b in self.edges:
            targets.setdefault(a, []).append(b + 1)
        return tuple(
            PlannedNode(i + 1, tuple(sorted(targets.get(i, []))), name) for i, (name, _) in enumerate(self.nodes)
        )


def _forwards(nodes: list[tuple[str, str]], edges: list[tuple[int, int]]) -> tuple[list, list] | None:
    """Nodes reordered so that every edge points forwards (the drawer's layouts), keeping the
    request's order where it allows; None when the edges make a cycle."""
    incoming = Counter(b for _, b in edges)
    order: list[int] = []
    ready = [i for i in range(len(nodes)) if not incoming[i]]
    while ready:
        i = ready.pop(0)
        order.append(i)
        for a, b in edges:
            if a == i:
                incoming[b] -= 1
                if not incoming[b]:
                    ready.append(b)
        ready.sort()
    if len(order) != len(nodes):
        return None
    where = {old: new for new, old in enumerate(order)}
    return [nodes[i] for i in order], sorted((where[a], where[b]) for a, b in edges)


def parse_plan(text: str) -> Plan | None:
    """A planner's answer as a Plan, or None when it is not one (or contradicts itself)."""
    try:
        if text.startswith("L "):
            layers = tuple(int(x) for x in text[2:].split())
            ok = 2 <= len(layers) <= MAX_LAYERS and all(0 < x < 100_000 for x in layers)
            return Plan("dense", layers=layers) if ok else None
        if text.startswith("C "):
            labels = tuple(x.strip() for x in text[2:].split(" | "))
            return Plan("cnn", labels=labels) if 0 < len(labels) <= MAX_LAYERS and all(labels) else None
        if text.startswith("F "):
            body, _, tail = text[2:].partition(" || ")
            items = [item.rsplit(" :", 1) for item in body.split(" | ")]
            nodes = [(name.strip(), kind) for name, kind in items]
            if not 0 < len(nodes) <= MAX_NODES or any(not n or k not in KINDS for n, k in nodes):
                return None
            if len({label_key(n) for n, _ in nodes}) != len(nodes):
                return None
            edges = sorted({(int(a) - 1, int(b) - 1) for a, b in (e.split(">") for e in tail.split())})
            if any(not (0 <= a < len(nodes) and 0 <= b < len(nodes)) or a == b for a, b in edges):
                return None
            ordered = _forwards(nodes, edges)
            if ordered is None:
                return None
            return Plan("flowchart", nodes=tuple(ordered[0]), edges=tuple(ordered[1]))
    except ValueError:
        return None
    return None


# ---------------------------------------------------------------- decoding held to the request


def _inside_word(request: bytes, at: int, piece: bytes) -> bool:
    """Whether a span of `request` at byte `at` would start mid-word (a letter or digit on both sides)."""
    start = at - 1
    while start > 0 and 0x80 <= request[start] < 0xC0:
        start -= 1
    before = request[start:at].decode("utf-8", "replace")
    first = piece[:4].decode("utf-8", "ignore")[:1] or "a"  # a character not yet whole counts as a letter
    return before.isalnum() and first.isalnum()


# Syllables that begin a Korean particle or ending: a name may stop right before one ("계약서 스캔"
# in "계약서 스캔한 뒤", "LLM" in "LLM으로"), not inside a word ("형" of "형태소").
KOREAN_ENDINGS = frozenset("을를이가은는와과로으에의도만까부하한해했된되들랑께서고면며및처")


def _ends_word(piece: bytes, request: bytes, end: int) -> bool:
    """Whether a span ending at byte `end` ends a word: "Pi" of "Pipeline" and "화" of "화자" do not."""
    following = request[end : end + 4].decode("utf-8", "ignore")[:1]
    if not following or not following.isalnum():
        return True
    last = piece.decode()[-1]
    if "\uac00" <= following <= "\ud7a3":
        return not ("\uac00" <= last <= "\ud7a3") or following in KOREAN_ENDINGS
    return not last.isalnum() or not last.isascii()


def _is_span(piece: bytes, request: bytes, whole: bool = False) -> bool:
    """Whether `piece` is a piece of the request that starts where a word starts (and, `whole`,
    ends on a character boundary): "OCR" and "계약서 스캔" are, "CR" and a half-written syllable are not."""
    if not piece:
        return True
    if 0x80 <= piece[0] < 0xC0:
        return False
    if whole:
        try:
            piece.decode()
        except UnicodeDecodeError:
            return False
    if whole and not any(ch.isalnum() for ch in piece.decode()):
        return False  # ":" or "->" is no name
    at = request.find(piece)
    while at >= 0:
        end = at + len(piece)
        starts = at == 0 or not _inside_word(request, at, piece)
        if starts and (not whole or _ends_word(piece, request, end)):
            return True
        at = request.find(piece, at + 1)
    return False


def _label_ok(label: bytes, request: bytes, whole: bool) -> bool:
    """A CNN layer: a span of the request, or (ASCII) a normalised layer label or its beginning."""
    if not label.strip() and not whole:
        return True
    if _is_span(label, request, whole=True) and label == label.strip():
        return True
    if not whole and _is_span(label, request):  # a span may end in a space for now, not when done
        return True
    try:
        text = label.decode("ascii")
    except UnicodeDecodeError:
        return False
    return LAYER_LABEL.fullmatch(text, partial=not whole) is not None


def _cnn_ok(body: bytes, request: bytes, complete: bool) -> bool:
    labels = body.split(NODE_SEP)
    if len(labels) > MAX_LAYERS:
        return False
    *whole, last = labels
    if not all(x and _label_ok(x, request, whole=True) for x in whole):
        return False
    if complete:
        return bool(last) and _label_ok(last, request, whole=True)
    if _label_ok(last, request, whole=False):
        return True
    # the separator being written: "FC 128 |" or "FC 128 " after a whole label
    for cut in (b" |", b" "):
        if last.endswith(cut) and last[: -len(cut)] and _label_ok(last[: -len(cut)], request, whole=True):
            return True
    return False


def _node_ok(item: bytes, request: bytes, whole: bool) -> bool:
    """One "name :kind" item: the name a span of the request, the kind one of KINDS (or its start)."""
    name, sep, kind = item.rpartition(KIND_SEP)
    if not sep:  # still writing the name (or the " :" after it)
        if whole:
            return False
        bare = item[:-1] if item.endswith(b" ") else item
        return _is_span(item, request) or (bool(bare) and _is_span(bare, request) and bare == bare.strip())
    if not name or name != name.strip() or not _is_span(name, request, whole=True):
        return False
    words = [k.encode() for k in KINDS]
    return kind in words if whole else any(w.startswith(kind) for w in words)


def _flow_ok(body: bytes, request: bytes, complete: bool) -> bool:
    nodes_part, sep, edges_part = body.partition(EDGE_SEP)
    items = nodes_part.split(NODE_SEP)
    if len(items) > MAX_NODES:
        return False
    if not sep:  # still writing nodes (or the " || " after them)
        if complete:
            return False
        *whole, last = items
        if not all(_node_ok(x, request, whole=True) for x in whole):
            return False
        if _node_ok(last, request, whole=False):
            return _distinct_names(whole, last)
        for cut in (b" |", b" ||", b" "):  # a separator under way after a whole item
            if last.endswith(cut) and _node_ok(last[: -len(cut)], request, whole=True):
                return _distinct_names(whole + [last[: -len(cut)]], b"")
        return False
    if not all(_node_ok(x, request, whole=True) for x in items) or not _distinct_names(items, b""):
        return False
    if _EDGES.fullmatch(edges_part, partial=not complete) is None:
        return False
    count = len(items)
    pairs = [e.split(b">") for e in edges_part.split()]
    seen = set()
    for i, pair in enumerate(pairs):
        done = complete or i + 1 < len(pairs) or edges_part.endswith(b" ")
        numbers = [int(x) for x in pair if x]
        if any(not 1 <= x <= count for x in numbers if done or x >= 10 or count < 10):
            return False
        if done:
            if len(numbers) != 2 or numbers[0] == numbers[1] or tuple(numbers) in seen:
                return False
            seen.add(tuple(numbers))
    return True


def _distinct_names(items: list[bytes], last: bytes) -> bool:
    """No name twice among whole items and the last one, once its name is written (its " :" is)."""
    named = items + ([last] if KIND_SEP in last else [])
    names = [label_key(x.rpartition(KIND_SEP)[0].decode("utf-8", "replace")) for x in named]
    return len(names) == len(set(names))


def plan_prefix_ok(plan: bytes, request: bytes, complete: bool = False) -> bool:
    """Whether `plan` (bytes so far) can still become a plan held to the request; with `complete`,
    whether it is one. A name is a span of the request as typed, never made up or misspelt."""
    if len(plan) > MAX_PLAN_BYTES:
        return False
    if len(plan) < 2:
        return not complete and (not plan or plan in (b"L", b"C", b"F"))
    head, body = plan[:2], plan[2:]
    if head == b"L ":
        match = _SIZES.fullmatch(body, partial=not complete)
        return match is not None and (not complete or len(body.split()) >= 2) and len(body.split()) <= MAX_LAYERS
    if head == b"C ":
        return _cnn_ok(body, request, complete)
    if head == b"F ":
        return _flow_ok(body, request, complete)
    return False


# ---------------------------------------------------------------- the model


@dataclass
class Planner:
    """A planner model and how it decodes; `plan(request)` is what the pipeline calls."""

    model: typing.Any
    samples: int = 8  # plans sampled besides the greedy one
    temperature: float = 0.8
    last_timing: dict = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path, samples: int = 8) -> Planner:
        import torch
        from transformers import LlamaForCausalLM

        model = LlamaForCausalLM.from_pretrained(str(path), dtype=torch.float32)
        return cls(model.eval(), samples)

    def greedy(self, request: str) -> Plan | None:
        texts = self._decode(request, 1, greedy=True)
        return parse_plan(texts[0]) if texts else None

    def plan(self, request: str, seed: int | None = None) -> Plan | None:
        """The reading most samples agree on (greedy included), held to the request; None if none reads."""
        start = time.perf_counter()
        plans = self.readings(request, seed)
        self.last_timing = {"plan_s": time.perf_counter() - start, "plans": len(plans)}
        return choose(plans, request)

    def readings(self, request: str, seed: int | None = None) -> list[Plan]:
        """Every plan that reads: the greedy one first (if it reads), then the samples'."""
        import torch

        if seed is not None:
            torch.manual_seed(seed)
        texts = self._decode(request, 1, greedy=True) + self._decode(request, self.samples, greedy=False)
        return [p for p in map(parse_plan, texts) if p is not None]

    def _decode(self, request: str, n: int, greedy: bool) -> list[str]:
        """n plans, byte by byte, each byte checked by plan_prefix_ok (rejection: the next most likely)."""
        import torch
        from transformers import DynamicCache

        data = request.encode()[: MAX_BYTES - MAX_PLAN_BYTES - 2]
        ids = torch.tensor([[BOS, *data, SEP]] * n)
        rows: list[bytearray] = [bytearray() for _ in range(n)]
        done = [False] * n
        # the cache's keyword: `cache` since transformers 5.2x, `past_key_values` before (ml.generator too)
        forward = inspect.signature(type(self.model).forward).parameters
        cache = {("cache" if "cache" in forward else "past_key_values"): DynamicCache()}
        with torch.inference_mode():
            logits = self.model(input_ids=ids, use_cache=True, **cache).logits[:, -1].float()
            for _ in range(MAX_PLAN_BYTES + 1):
                tokens = []
                for r in range(n):
                    tokens.append(EOS if done[r] else self._next(logits[r], rows[r], data, greedy))
                    if tokens[-1] == EOS:
                        done[r] = True
                    else:
                        rows[r].append(tokens[-1])
                if all(done):
                    break
                step = torch.tensor([[t] for t in tokens])
                logits = self.model(input_ids=step, use_cache=True, **cache).logits[:, -1].float()
        return [bytes(row).decode("utf-8", "replace") for row in rows]

    def _next(self, logits, row: bytearray, request: bytes, greedy: bool) -> int:
        import torch

        scores = logits[:VOCAB].clone()
        scores[[BOS, SEP, PAD]] = float("-inf")
        if not greedy:
            scores = scores / self.temperature
        for _ in range(VOCAB):
            if not bool(torch.isfinite(scores).any()):
                return EOS  # nothing allowed is left: end here (the plan will not read)
            token = int(torch.argmax(scores)) if greedy else int(torch.multinomial(torch.softmax(scores, dim=-1), 1))
            if _allowed(bytes(row), token, request):
                return token
            scores[token] = float("-inf")
        return EOS


def _allowed(row: bytes, token: int, request: bytes) -> bool:
    if token == EOS:
        return plan_prefix_ok(row, request, complete=True)
    return plan_prefix_ok(row + bytes([token]), request)


def choose(plans: list[Plan], request: str) -> Plan | None:
    """The reading most plans agree on; ties go to the first (the greedy one when it reads), then
    to the one that copies more of the request."""
    if not plans:
        return None
    votes: dict[tuple, float] = dict(Counter(p.key() for p in plans))
    votes[plans[0].key()] += 0.5
    best = max(votes, key=lambda k: (votes[k], _coverage(next(p for p in plans if p.key() == k), request)))
    return next(p for p in plans if p.key() == best)


def _coverage(plan: Plan, request: str) -> float:
    """The share of the request's characters that the plan's names and labels copy."""
    words = [n for n, _ in plan.nodes] + list(plan.labels)
    covered = sum(len(w) for w in words if w in request)
    return covered / max(1, len(request))


@lru_cache(maxsize=4)
def load_planner(path: str, samples: int = 8) -> Planner:
    return Planner.load(path, samples)
