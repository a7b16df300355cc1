"""Synthetic (request, node list) pairs in three families: dense networks, CNNs, ML flowcharts.

Each example keeps the structure that was asked for (`spec`), so evaluation can check that a
generated diagram draws exactly that. Everything is deterministic from a seed. The test split
holds phrasings (templates) and structures that the training split never shows.

    python -m training.synthetic --out data/synthetic --train 20000 --val 500 --test 500
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from ml.dense import MAX_FULL_LAYER
from ml.diagram import Diagram
from ml.grounding import NUMBER_WORDS
from ml.parser import serialize
from ml.plan import LABEL_LEAD, plan_line
from training.flow_phrasing import describe, random_graph
from training.layouts import (
    PALETTES,
    Layer,
    Step,
    dense_network,
    flowchart,
    layer_boxes,
)
from training.names import random_name

FAMILIES = ("dense", "cnn", "flowchart")
MAX_DENSE_NODES = 30
MAX_DENSE_EDGES_PER_PAIR = 64


@dataclass(frozen=True)
class Example:
    request: str
    family: str
    spec: dict
    answer: str
    template: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, line: str) -> Example:
        return cls(**json.loads(line))


def answer_text(family: str, spec: dict, diagram: Diagram) -> str:
    """What the generator is trained to write: the plan line, then the node list."""
    return plan_line(family, spec) + "\n" + serialize(diagram, label_lead=LABEL_LEAD)


def _num(rng: random.Random, n: int) -> str:
    """A number as a digit or, sometimes, as a word."""
    return NUMBER_WORDS[n] if n < len(NUMBER_WORDS) and rng.random() < 0.3 else str(n)


def _plural(n: int, word: str) -> str:
    return word if n == 1 else word + "s"


def _join(parts: list[str], rng: random.Random) -> str:
    if len(parts) == 1:
        return parts[0]
    conj = rng.choice([" and ", ", and ", " and "])
    return ", ".join(parts[:-1]) + conj + parts[-1]


def _maybe_lower(text: str, rng: random.Random) -> str:
    """Requests as people type them: sometimes a lower-case start, sometimes all lower case."""
    roll = rng.random()
    return text.lower() if roll < 0.1 else text[0].lower() + text[1:] if roll < 0.35 else text


# ---------------------------------------------------------------- dense networks

BIG_SIZES = (12, 16, 20, 24, 32, 48, 50, 64, 100, 128, 200, 256, 300, 500, 512, 784, 1000, 1024, 2048)
MAX_SHOWN_NODES = 36


def _shown(size: int) -> int:
    """Nodes a layer of this size is drawn with (ml.dense: a large layer keeps 5 and an ellipsis)."""
    return size if size <= MAX_FULL_LAYER else 6


def _dense_spec(rng: random.Random) -> list[int]:
    """Mostly small networks drawn neuron by neuron; a third have layers too large to draw whole."""
    wide = rng.random() < 0.35
    while True:
        if wide:
            size = lambda: rng.choice(BIG_SIZES) if rng.random() < 0.6 else rng.randint(1, 10)  # noqa: E731
            layers = [size() for _ in range(rng.randint(3, 6))]
            if any(n > MAX_FULL_LAYER for n in layers) and sum(map(_shown, layers)) <= MAX_SHOWN_NODES:
                return layers
            continue
        hidden = [rng.randint(1, 10) for _ in range(rng.choice([1, 1, 2, 2, 2, 3, 3]))]
        layers = [rng.randint(1, 6)] + hidden + [rng.randint(1, 5)]
        if sum(layers) <= MAX_DENSE_NODES and all(
            a * b <= MAX_DENSE_EDGES_PER_PAIR for a, b in zip(layers, layers[1:])
        ):
            return layers


UNIT_WORDS = ("node", "neuron", "unit")
NETWORK_NOUNS = (
    "deep learning model",
    "neural network",
    "neural net",
    "network",
    "MLP",
    "multilayer perceptron",
    "feedforward network",
    "fully connected network",
    "dense network",
    "feed-forward neural net",
    "autoencoder",
    "mlp",
    "NN",
    "classifier network",
)
VERBS = (
    "",
    "",
    "",
    "Draw ",
    "Please draw ",
    "draw ",
    "Make ",
    "Create ",
    "Show ",
    "Sketch ",
    "I need ",
    "Can you draw ",
    "Generate ",
    "Give me ",
)


def _article(noun: str, rng: random.Random) -> str:
    """'a'/'an' before the noun, or nothing: people often drop articles."""
    if rng.random() < 0.2:
        return ""
    return "an " if noun[0].lower() in "aeiou" or noun.startswith("MLP") else "a "


def _network(rng: random.Random) -> str:
    """A verb (or none), an article (or none) and a name for a dense network."""
    noun = rng.choice(NETWORK_NOUNS)
    return rng.choice(VERBS) + _article(noun, rng) + noun


def _units(n: int, rng: random.Random, word: str | None = None) -> str:
    return f"{_num(rng, n)} {_plural(n, word or rng.choice(UNIT_WORDS))}"


def _hidden_phrase(hidden: list[int], rng: random.Random) -> str:
    n = len(hidden)
    if n > 1 and len(set(hidden)) == 1 and rng.random() < 0.6:
        unit = rng.choice(UNIT_WORDS)
        return rng.choice(
            [
                f"{_num(rng, n)} hidden layers of {_units(hidden[0], rng, unit)} each",
                f"{_num(rng, n)} hidden layers, each with {_units(hidden[0], rng, unit)}",
                f"{_num(rng, n)} hidden layers with {_units(hidden[0], rng, unit)} each",
            ]
        )
    if n == 1:
        return rng.choice(
            [
                f"{_num(rng, hidden[0])} hidden {_plural(hidden[0], rng.choice(UNIT_WORDS))}",
                f"one hidden layer of {_units(hidden[0], rng)}",
                f"a hidden layer of {_num(rng, hidden[0])}",
                f"hidden layer of size {hidden[0]}",
                f"{_num(rng, hidden[0])} neurons in the hidden layer",
            ]
        )
    sizes = _join([_num(rng, h) for h in hidden], rng)
    unit = rng.choice(UNIT_WORDS)
    return rng.choice(
        [
            f"{sizes} hidden {unit}s",
            f"{sizes} {unit}s in each of the {_num(rng, n)} hidden layers",
            f"hidden layers with {sizes} {unit}s",
            f"hidden layers of size {sizes}",
            f"{_num(rng, n)} hidden layers ({', '.join(map(str, hidden))})",
            f"hidden sizes {', '.join(map(str, hidden))}",
        ]
    )


def _inputs_phrase(n: int, rng: random.Random) -> str:
    return rng.choice(
        [
            f"{_num(rng, n)} input {_plural(n, rng.choice(UNIT_WORDS))}",
            f"{_num(rng, n)} {_plural(n, 'input')}",
            f"an input layer of {_num(rng, n)}",
            f"input size {n}",
            f"{_num(rng, n)} input {_plural(n, 'feature')}",
        ]
    )


def _outputs_phrase(n: int, rng: random.Random) -> str:
    return rng.choice(
        [
            f"{_num(rng, n)} output {_plural(n, rng.choice(UNIT_WORDS))}",
            f"{_num(rng, n)} {_plural(n, 'output')}",
            f"an output layer of {_num(rng, n)}",
            f"{_num(rng, n)} output {_plural(n, 'class')}",
            f"output size {n}",
        ]
    )


def _bullets(layers: list[int], rng: random.Random) -> str:
    mark = rng.choice(["- ", "* ", "• ", "#"])
    unit = rng.choice(["", "", " nodes", " neurons", " units"])
    lines = [("input layer" if rng.random() < 0.6 else "input", layers[0])]
    lines += [(f"hidden layer {i + 1}" if rng.random() < 0.7 else "hidden", h) for i, h in enumerate(layers[1:-1])]
    lines.append(("output layer" if rng.random() < 0.6 else "output", layers[-1]))
    body = "".join(
        f"\n{f'{i + 1}. ' if mark == '#' else mark}{name}: {size}{unit}" for i, (name, size) in enumerate(lines)
    )
    return rng.choice(["Neural network:", "MLP", "Network layers:", "Draw this network:", "dense net"]) + body


ORDINALS = ["first", "second", "third", "fourth", "fifth", "sixth"]


def _sentences(layers: list[int], rng: random.Random) -> str:
    unit = rng.choice(UNIT_WORDS)
    parts = [f"{_network(rng)}.", f"The input layer has {_units(layers[0], rng, unit)}."]
    for i, h in enumerate(layers[1:-1]):
        name = f"the {ORDINALS[i]} hidden layer" if len(layers) > 3 else "the hidden layer"
        parts.append(f"{name[0].upper() + name[1:]} has {_units(h, rng, unit)}.")
    parts.append(f"The output layer has {_units(layers[-1], rng, unit)}.")
    return " ".join(parts)


LAYER_SEPARATORS = (
    ", ",
    ", ",
    "; ",
    ", followed by ",
    " followed by ",
    ", next ",
    " -> ",
    " / ",
    "\n",
    ", after that ",
    " and ",
    ", and ",
)


def _composed_dense(layers: list[int], rng: random.Random) -> str:
    """Free combinations of per-layer phrases and separators, so no one sentence shape is learnt by rote."""
    unit = rng.choice(UNIT_WORDS)

    def units(n: int) -> str:
        return f"{_num(rng, n)} {_plural(n, unit)}"

    first, last = layers[0], layers[-1]
    parts = [
        rng.choice(
            [
                f"{units(first)} in the input layer",
                f"input layer of {_num(rng, first)}",
                f"input layer with {units(first)}",
                f"an input of size {first}",
                f"{_num(rng, first)} {_plural(first, 'input')}",
                f"input: {first}",
                f"{_num(rng, first)} input {_plural(first, 'feature')}",
                f"in={first}",
            ]
        )
    ]
    for i, h in enumerate(layers[1:-1]):
        parts.append(
            rng.choice(
                [
                    f"{_num(rng, h)} hidden {_plural(h, unit)}",
                    f"a hidden layer of {_num(rng, h)}",
                    f"hidden layer of {units(h)}",
                    f"a layer of {units(h)}",
                    units(h),
                    f"hidden: {h}",
                    f"dense {h}",
                    f"a {h}-{unit} hidden layer",
                    f"{ORDINALS[i]} hidden layer: {units(h)}",
                    f"hidden layer {i + 1} with {units(h)}",
                ]
            )
        )
    parts.append(
        rng.choice(
            [
                f"{units(last)} in the output layer",
                f"output layer of {_num(rng, last)}",
                f"output layer with {units(last)}",
                f"{_num(rng, last)} {_plural(last, 'output')}",
                f"output: {last}",
                f"{_num(rng, last)} output {_plural(last, 'class')}",
                f"out={last}",
                f"an output of size {last}",
            ]
        )
    )
    head = rng.choice(
        [
            f"{_network(rng)}: ",
            f"{_network(rng)} with ",
            f"{_network(rng)}, ",
            f"{_network(rng)}\n",
            f"{_network(rng)} - ",
        ]
    )
    return head + rng.choice(LAYER_SEPARATORS).join(parts)


def _layer_list(layers: list[int], rng: random.Random) -> str:
    """Sizes alone, as people write them: "784-128-10 MLP", "autoencoder 8, 4, 2, 4, 8"."""
    sizes = rng.choice(["-", ", ", " - ", " -> ", "/", " x "]).join(map(str, layers))
    noun = rng.choice(NETWORK_NOUNS)
    return rng.choice(
        [
            f"{sizes} {noun}",
            f"{noun} {sizes}",
            f"{noun} ({sizes})",
            f"{rng.choice(VERBS)}{noun}: {sizes}",
            f"{noun} with layers {sizes}",
            f"layers {sizes}",
        ]
    )


KO_NETS = ("신경망", "MLP", "딥러닝 모델", "완전연결 신경망", "다층 퍼셉트론", "네트워크", "오토인코더", "뉴럴넷")
KO_UNITS = ("노드", "뉴런", "유닛")
KO_ORDINALS = ("첫 번째", "두 번째", "세 번째", "네 번째", "다섯 번째", "여섯 번째")
KO_VERBS = ("", "", " 그려줘", " 그려 주세요", " 다이어그램", " 만들어줘")


def _ko_dense(layers: list[int], rng: random.Random) -> str:
    """A dense network asked for in Korean: counters (개, 층), 은닉층 lists, 각 ~노드, bullets."""
    first, hidden, last = layers[0], layers[1:-1], layers[-1]
    unit, net = rng.choice(KO_UNITS), rng.choice(KO_NETS)
    count = lambda n: f"{n}개" if rng.random() < 0.7 else f"{n}{unit}"  # noqa: E731
    if len(hidden) > 1 and len(set(hidden)) == 1 and rng.random() < 0.5:
        hidden_text = rng.choice(
            [
                f"은닉층 {len(hidden)}개(각 {hidden[0]}{unit})",
                f"{unit} {hidden[0]}개짜리 은닉층 {len(hidden)}개",
                f"은닉층 {len(hidden)}층, 층마다 {unit} {hidden[0]}개",
            ]
        )
    elif len(hidden) == 1:
        hidden_text = rng.choice(
            [f"은닉층 {unit} {count(hidden[0])}", f"은닉층 {hidden[0]}", f"은닉 {unit} {count(hidden[0])}"]
        )
    else:
        hidden_text = rng.choice(
            [
                f"은닉층 {', '.join(map(str, hidden))}",
                ", ".join(f"{KO_ORDINALS[i]} 은닉층 {count(h)}" for i, h in enumerate(hidden)),
                f"은닉층 {len(hidden)}개({', '.join(map(str, hidden))})",
            ]
        )
    roll = rng.random()
    if roll < 0.15:
        lines = [f"입력층: {first}"] + [f"은닉층 {i + 1}: {h}" for i, h in enumerate(hidden)] + [f"출력층: {last}"]
        return f"{net}{rng.choice(KO_VERBS)}\n" + "\n".join(rng.choice(["- ", "* ", "• "]) + line for line in lines)
    if roll < 0.3:
        return f"{'-'.join(map(str, layers))} 구조의 {net}{rng.choice(KO_VERBS)}"
    body = rng.choice(
        [
            f"입력 {count(first)}, {hidden_text}, 출력 {count(last)}",
            f"입력층 {first}, {hidden_text}, 출력층 {last}",
            f"입력 {unit} {count(first)}, {hidden_text}, 출력 {unit} {count(last)}",
        ]
    )
    return rng.choice(
        [
            f"{body}인 {net}{rng.choice(KO_VERBS)}",
            f"{net}{rng.choice(KO_VERBS)}: {body}",
            f"{body}{rng.choice(['', ' 신경망', ' 구조'])}",
        ]
    )


DENSE_TEMPLATES = {
    "seed": lambda l, r: (
        f"A deep learning model with {_num(r, l[0])} input {_plural(l[0], 'node')}, "
        f"{_hidden_phrase(l[1:-1], r)}, and {_num(r, l[-1])} output {_plural(l[-1], 'node')}."
    ),
    "roles": lambda l, r: (
        f"{_network(r)} with {_inputs_phrase(l[0], r)}, {_hidden_phrase(l[1:-1], r)}"
        f"{r.choice([', and ', ' and ', ', '])}{_outputs_phrase(l[-1], r)}"
    ),
    "arrows": lambda l, r: (
        f"{r.choice(['MLP', 'mlp', 'Dense network', 'fully connected net', 'Draw an MLP', 'network'])}"
        f"{r.choice([': ', ' ', ' with layers '])}"
        + r.choice([" -> ", "->", " → ", "-", " - "]).join(str(n) for n in l)
    ),
    "sizes": lambda l, r: r.choice(
        [
            f"{_network(r)}, layer sizes {', '.join(map(str, l))}",
            f"{_network(r)} with layers [{', '.join(map(str, l))}]",
            f"{_network(r)} with layer sizes ({', '.join(map(str, l))})",
            f"{_network(r)}. layers: {', '.join(map(str, l))}",
        ]
    ),
    "bullets": lambda l, r: _bullets(l, r),
    "sentences": lambda l, r: _sentences(l, r),
    "composed": lambda l, r: _composed_dense(l, r),
    "list": lambda l, r: _layer_list(l, r),
    "ko": lambda l, r: _ko_dense(l, r),
    # Held out for the test split: phrasings never seen in training.
    "imperative_each": lambda l, r: (
        f"draw an mlp: {_num(r, l[0])} {_plural(l[0], 'input')}, then "
        + ", then ".join(f"{h} neurons" for h in l[1:-1])
        + f", then {_num(r, l[-1])} outputs"
    ),
    "with_neurons": lambda l, r: (
        f"Network with input layer of {l[0]} neurons, "
        + " and ".join(f"a hidden layer with {h} neurons" for h in l[1:-1])
        + f", output layer with {l[-1]} neurons"
    ),
}


def _dense(rng: random.Random, template: str) -> Example:
    layers = _dense_spec(rng)
    request = _maybe_lower(DENSE_TEMPLATES[template](layers, rng), rng)
    palette = rng.choice(PALETTES)
    style = "solid arrow" if rng.random() < 0.85 else "solid line"
    diagram = dense_network(layers, palette, style)
    spec = {"layers": layers}
    return Example(request, "dense", spec, answer_text("dense", spec, diagram), template)


# ---------------------------------------------------------------- CNNs

INPUTS = [(28, 28, 1), (32, 32, 3), (64, 64, 3), (96, 96, 3), (128, 128, 3), (224, 224, 3)]


def _cnn_spec(rng: random.Random) -> dict:
    h, w, c = rng.choice(INPUTS)
    groups = []
    for _ in range(rng.randint(1, 3)):
        groups.append(
            {"filters": rng.choice([16, 32, 64, 128]), "kernel": rng.choice([3, 3, 5]), "pool": rng.random() < 0.8}
        )
    fcs = [rng.choice([64, 128, 256, 512]) for _ in range(rng.randint(0, 2))]
    outputs = rng.choice([2, 5, 10, 10, 100, 1000])
    return {"input": [h, w, c], "groups": groups, "fc": fcs, "outputs": outputs}


def cnn_layers(spec: dict) -> list[Layer]:
    """The boxes a CNN spec is drawn with, in order."""
    h, w, c = spec["input"]
    layers = [Layer(f"Input {h}x{w}x{c}", h * w * c, "input")]
    size = h
    for group in spec["groups"]:
        k, f = group["kernel"], group["filters"]
        size = max(1, size - k + 1)
        layers.append(Layer(f"Conv {k}x{k}, {f}", size * size * f))
        if group["pool"]:
            size = max(1, size // 2)
            layers.append(Layer("MaxPool 2x2", size * size * f))
    for units in spec["fc"]:
        layers.append(Layer(f"FC {units}", units))
    layers.append(Layer(f"Output {spec['outputs']}", spec["outputs"], "output"))
    return layers


def _conv_phrase(groups: list[dict], rng: random.Random) -> str:
    parts = []
    for g in groups:
        k, f = g["kernel"], g["filters"]
        text = rng.choice(
            [
                f"a {k}x{k} conv layer with {f} filters",
                f"a {k}x{k} conv layer with {f} filters",
                f"a conv layer of {f} {k}x{k} filters",
                f"{f} {k}x{k} convolutions",
                f"conv {k}x{k} with {f} channels",
            ]
        )
        if g["pool"]:
            text += rng.choice([" followed by 2x2 max pooling", " and a max pool", " + maxpool", ", max pooling"])
        parts.append(text)
    return _join(parts, rng)


def _fc_phrase(fcs: list[int], rng: random.Random) -> str:
    if not fcs:
        return ""
    return (
        " "
        + _join(
            [
                rng.choice([f"a fully connected layer of {u} units", f"a dense layer with {u} units", f"fc {u}"])
                for u in fcs
            ],
            rng,
        )
        + ","
    )


def _layer_variant(layer: Layer, rng: random.Random) -> str:
    """One CNN layer written one of the ways people write it."""
    words = layer.label.split()
    if words[0] == "Input":
        h, w, c = words[1].split("x")
        return rng.choice(
            [
                layer.label,
                layer.label.lower(),
                f"{words[1]} input",
                f"{words[1]} images",
                f"image {words[1]}",
                f"input ({h}, {w}, {c})",
            ]
        )
    if words[0] == "Conv":
        k, f = words[1].rstrip(","), words[2]
        return rng.choice(
            [
                layer.label,
                f"conv {k} {f}",
                f"{k} conv, {f} filters",
                f"conv{k}-{f}",
                f"{f} filters {k}",
                f"conv {k} with {f} filters",
                f"Conv2D {f} {k}",
            ]
        )
    if words[0] == "MaxPool":
        return rng.choice([layer.label, "max pool", "maxpool", "2x2 max pooling", "pool 2x2", "max-pool 2x2"])
    if words[0] == "FC":
        return rng.choice(
            [
                layer.label,
                f"fc {words[1]}",
                f"dense {words[1]}",
                f"fully connected {words[1]}",
                f"linear {words[1]}",
                f"{words[1]}-unit dense layer",
            ]
        )
    return rng.choice(
        [
            layer.label,
            layer.label.lower(),
            f"{words[1]} classes",
            f"softmax {words[1]}",
            f"{words[1]} outputs",
            f"output layer ({words[1]})",
        ]
    )


CNN_SEPARATORS = ("; ", " -> ", " → ", " > ", " | ", "\n- ", "\n", ", followed by ", " followed by ", ", ")


def _composed_cnn(spec: dict, rng: random.Random) -> str:
    head = rng.choice(
        [
            "CNN",
            "ConvNet",
            "convolutional network",
            "Draw a CNN",
            "A CNN",
            "cnn model",
            "Please draw a convolutional neural network",
            "Image classifier",
            "conv net",
        ]
    )
    parts = [_layer_variant(layer, rng) for layer in cnn_layers(spec)]
    sep = rng.choice(CNN_SEPARATORS)
    if sep == ", " and any("," in p for p in parts):
        sep = "; "
    return head + rng.choice([": ", " with layers: ", " - ", "\n", ", layers "]) + sep.join(parts)


def _ko_layer_variant(layer: Layer, rng: random.Random) -> str:
    words = layer.label.split()
    if words[0] == "Input":
        return rng.choice([f"입력 {words[1]}", f"{words[1]} 이미지 입력", f"입력 이미지 {words[1]}", layer.label])
    if words[0] == "Conv":
        k, f = words[1].rstrip(","), words[2]
        return rng.choice(
            [f"Conv {k} {f}채널", f"합성곱 {k} 필터 {f}개", f"conv{k}-{f}", f"{k} 합성곱 {f}개", layer.label]
        )
    if words[0] == "MaxPool":
        return rng.choice(["맥스풀링", "MaxPool 2x2", "최대 풀링 2x2", "풀링 2x2", "maxpool"])
    if words[0] == "FC":
        return rng.choice([f"FC {words[1]}", f"완전연결 {words[1]}", f"덴스 {words[1]}", f"완전연결층 {words[1]}개"])
    return rng.choice([f"출력 {words[1]}", f"{words[1]}개 클래스 출력", f"소프트맥스 {words[1]}", f"출력층 {words[1]}"])


def _ko_cnn(spec: dict, rng: random.Random) -> str:
    head = rng.choice(
        ["CNN 그려줘: ", "합성곱 신경망: ", "CNN 구조\n- ", "이미지 분류 CNN: ", "CNN ", "컨볼루션 신경망 그려줘\n- "]
    )
    separator = "\n- " if head.endswith("- ") else rng.choice([" → ", ", ", " -> ", "; "])
    return head + separator.join(_ko_layer_variant(layer, rng) for layer in cnn_layers(spec))


CNN_TEMPLATES = {
    "sentence": lambda s, r: (
        f"A CNN for {s['input'][0]}x{s['input'][1]}x{s['input'][2]} images with "
        f"{_conv_phrase(s['groups'], r)},{_fc_phrase(s['fc'], r)} and "
        f"{s['outputs']} outputs."
    ),
    "arrows": lambda s, r: "CNN: " + " -> ".join(layer.label.lower() for layer in cnn_layers(s)),
    "bullets": lambda s, r: (
        "Convolutional network\n" + "".join(f"- {layer.label}\n" for layer in cnn_layers(s))
    ).rstrip(),
    "draw": lambda s, r: (
        f"Draw a convolutional neural network: input {s['input'][0]}x{s['input'][1]}x"
        f"{s['input'][2]}, {_conv_phrase(s['groups'], r)},{_fc_phrase(s['fc'], r)} "
        f"output {s['outputs']} classes"
    ),
    "composed": lambda s, r: _composed_cnn(s, r),
    "ko": lambda s, r: _ko_cnn(s, r),
    # Held out for the test split.
    "please_layers": lambda s, r: "please draw a cnn with layers " + ", ".join(layer.label for layer in cnn_layers(s)),
}


def _cnn(rng: random.Random, template: str) -> Example:
    spec = _cnn_spec(rng)
    request = _maybe_lower(CNN_TEMPLATES[template](spec, rng), rng)
    layers = cnn_layers(spec)
    diagram = layer_boxes(layers, rng.choice(PALETTES), rng.choice(["rectangle", "round rectangle"]))
    spec = {**spec, "labels": [layer.label for layer in layers]}
    return Example(request, "cnn", spec, answer_text("cnn", spec, diagram), template)


# ---------------------------------------------------------------- ML-process flowcharts

NAMES = {
    "data": ["Raw CSV", "Train set", "Test set", "Features", "Labels", "Logs", "Raw text", "Embeddings"],
    "database": ["User DB", "Feature store", "Data lake", "SQL table"],
    "picture": ["Raw images", "Photos", "Scans", "Image folder"],
    "chart": ["Accuracy chart", "Loss curve", "Metrics chart", "ROC curve", "Report"],
    "function": ["Clean", "Normalize", "Resize", "Tokenize", "Split", "Merge", "Augment", "Encode"],
    "process": ["Train", "Evaluate", "Tune", "Deploy", "Validate", "Predict"],
    "model": ["CNN", "Random forest", "Transformer", "Logistic regression", "XGBoost", "Autoencoder"],
}
# More names for training requests, each ending in a word that tells its type, so that the model
# learns to copy a step's name from the request instead of recalling one of a few it has seen.
QUALIFIERS = (
    "Customer",
    "Sensor",
    "Sales",
    "Audio",
    "Clickstream",
    "Weather",
    "Medical",
    "Product",
    "Traffic",
    "Satellite",
    "Review",
    "Survey",
    "Transaction",
    "Patient",
    "Fraud",
    "Churn",
    "Video",
    "Retail",
)
WIDE_NAMES = {
    "data": ["data", "logs", "records", "samples", "CSV", "text", "features", "labels"],
    "database": ["DB", "database", "store", "table", "warehouse"],
    "picture": ["images", "photos", "scans", "frames"],
    "chart": ["chart", "curve", "report", "plot", "dashboard"],
    "function": [
        "Filter",
        "Deduplicate",
        "Shuffle",
        "Crop",
        "Scale",
        "Impute",
        "Vectorize",
        "Pad",
        "Sample",
        "Join",
        "Parse",
        "Embed",
        "Standardize",
        "Featurize",
    ],
    "process": ["Monitor", "Serve", "Score", "Benchmark", "Retrain", "Export", "Fine-tune", "Cross-validate"],
    "model": [
        "SVM",
        "LSTM",
        "GRU",
        "ResNet",
        "BERT",
        "k-NN",
        "Decision tree",
        "Linear regression",
        "U-Net",
        "GAN",
        "Naive Bayes",
        "Gradient boosting",
    ],
}
VERB_TYPES = {"function", "process", "model"}


def _wide_name(kind: str, rng: random.Random) -> str:
    if kind in VERB_TYPES:
        return rng.choice(WIDE_NAMES[kind])
    return f"{rng.choice(QUALIFIERS)} {rng.choice(WIDE_NAMES[kind])}"


SOURCE_TYPES = ["data", "database", "picture"]
MIDDLE_TYPES = ["function", "process", "model", "function", "process"]


def _flow_spec(rng: random.Random, wide: bool = False) -> list[Step]:
    """A chain of 3-8 steps from one or two sources, with an optional branch and merge.

    `wide` draws about half the names from WIDE_NAMES; the held-out templates keep NAMES only.
    """
    used: set[str] = set()

    def name(kind: str) -> str:
        for _ in range(20):
            chosen = _wide_name(kind, rng) if wide and rng.random() < 0.5 else rng.choice(NAMES[kind])
            if chosen not in used:
                break
        used.add(chosen)
        return chosen

    kinds: list[str] = [rng.choice(SOURCE_TYPES)]
    two_sources = rng.random() < 0.3
    if two_sources:
        kinds.append(rng.choice(SOURCE_TYPES))
    middle = rng.randint(1, 4)
    kinds += [rng.choice(MIDDLE_TYPES) for _ in range(middle)]
    branch = rng.random() < 0.35
    if branch:
        kinds += ["data", "data"]
    kinds.append(rng.choice(["chart", "model", "process", "chart"]))
    labels = [name(k) for k in kinds]
    targets: list[list[int]] = [[] for _ in kinds]
    first_middle = 2 if two_sources else 1
    if two_sources:
        targets[0].append(2)
        targets[1].append(2)
    else:
        targets[0].append(1)
    last_middle = first_middle + middle - 1
    for i in range(first_middle, last_middle):
        targets[i].append(i + 1)
    end = len(kinds) - 1
    if branch:
        a, b = last_middle + 1, last_middle + 2
        targets[last_middle] += [a, b]
        targets[a].append(end)
        targets[b].append(end)
    else:
        targets[last_middle].append(end)
    return [Step(label, kind, tuple(t)) for label, kind, t in zip(labels, kinds, targets)]


def _flow_edges(steps: list[Step]) -> list[tuple[str, str]]:
    return [(s.label, steps[t].label) for s in steps for t in s.targets]


def _typed(step: Step) -> str:
    return f"{step.label} ({step.kind})"


FLOW_VERBS = ("feeds", "feeds", "feeds into", "flows into", "is passed to", "leads to")
FLOW_LINKS = FLOW_VERBS + (
    "sends its output to",
    "is fed into",
    "connects to",
    "passes to",
    "outputs to",
    "->",
    "→",
    "is followed by",
    "is input to",
)


def _typed_variant(step: Step, rng: random.Random) -> str:
    roll = rng.random()
    return (
        _typed(step)
        if roll < 0.7
        else f"{step.label} [{step.kind}]"
        if roll < 0.85
        else f"{step.label} (type: {step.kind})"
    )


def _composed_flow(steps: list[Step], rng: random.Random) -> str:
    """Free combinations of headers, links and sentence separators for a flowchart request."""
    head = rng.choice(
        [
            "",
            "ML pipeline: ",
            "Pipeline. ",
            "Workflow: ",
            "Draw this process: ",
            "Data flow:\n",
            "A training workflow. ",
            "please draw: ",
            "ML process.\n",
            "Draw a flowchart. ",
        ]
    )
    sep = rng.choice([". ", "; ", "\n", ".\n", ". Also, "])
    sentences = [
        f"{_typed_variant(s, rng)} {rng.choice(FLOW_LINKS)} " + _join([steps[t].label for t in s.targets], rng)
        for s in steps
        if s.targets
    ]
    return head + sep.join(sentences) + rng.choice(["", "."])


FLOW_TEMPLATES = {
    "arrows": lambda steps, r: (
        "ML pipeline: " + "; ".join(f"{_typed(s)} -> {_typed(steps[t])}" for s in steps for t in s.targets)
    ),
    "bullets": lambda steps, r: (
        "Flowchart of an ML process\n"
        + "\n".join(
            f"- {_typed(s)}" + (" -> " + ", ".join(steps[t].label for t in s.targets) if s.targets else "")
            for s in steps
        )
    ),
    "sentence": lambda steps, r: (
        r.choice(
            [
                "An ML process where ",
                "Draw an ML pipeline where ",
                "A process: ",
                "draw ML pipeline: ",
                "Please draw a training pipeline where ",
            ]
        )
        + "; ".join(
            f"{_typed(s)} {r.choice(FLOW_VERBS)} " + _join([steps[t].label for t in s.targets], r)
            for s in steps
            if s.targets
        )
        + "."
    ),
    "composed": lambda steps, r: _composed_flow(steps, r),
    "free": lambda steps, r: describe(steps, r),
    "ko": lambda steps, r: describe(steps, r, korean=True),
    # Held out for the test split.
    "goes_to": lambda steps, r: (
        "machine learning workflow. "
        + " ".join(
            f"{_typed(s)} goes to " + _join([steps[t].label for t in s.targets], r) + "." for s in steps if s.targets
        )
    ),
}


def _known_or_random_name(rng: random.Random, korean: bool) -> str:
    """Mostly a made-up name (training.names); now and then one of the ML names users often use."""
    if rng.random() < 0.12:
        kind = rng.choice(list(NAMES))
        return rng.choice(NAMES[kind] + WIDE_NAMES[kind])
    return random_name(rng, korean)


def _flow(rng: random.Random, template: str) -> Example:
    if template in OPEN_TEMPLATES:
        steps = random_graph(rng, korean=template == "ko", name=_known_or_random_name)
    else:
        steps = _flow_spec(rng, wide=template not in TEST_TEMPLATES)
    request = FLOW_TEMPLATES[template](steps, rng)
    spec = {"nodes": [[s.label, s.kind] for s in steps], "edges": [list(e) for e in _flow_edges(steps)]}
    return Example(request, "flowchart", spec, answer_text("flowchart", spec, flowchart(steps)), template)


# ---------------------------------------------------------------- splits

BUILDERS = {"dense": (_dense, DENSE_TEMPLATES), "cnn": (_cnn, CNN_TEMPLATES), "flowchart": (_flow, FLOW_TEMPLATES)}
TEST_TEMPLATES = {"imperative_each", "with_neurons", "please_layers", "goes_to"}
# Open-vocabulary templates: any names, any phrasing, Korean. They are what users type, so they
# dominate; the held-out phrasings of test-v4 ("then", "goes to") are among theirs.
OPEN_TEMPLATES = {"free", "ko", "list"}
# The free-combination templates are drawn more often than each fixed one.
TEMPLATE_WEIGHTS = {"composed": 2, "free": 8, "ko": 5, "list": 1, ("cnn", "ko"): 2, ("dense", "ko"): 3}
# What makes each test template unseen; a training request that happens to contain one is not used.
HELD_OUT_PHRASES = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        r"\bthen\b",  # imperative_each: "2 inputs, then 5 neurons, then ..."
        r"hidden layer with \S+ neurons",  # with_neurons
        r"\d+x\d+x\d+, conv \d+x\d+, \d+",  # please_layers: the labels themselves joined by ", "
        r"\bgoes to\b",  # goes_to
    )
)


def held_out_phrasing(request: str) -> bool:
    return any(p.search(request) for p in HELD_OUT_PHRASES)


def structure_key(example: Example) -> str:
    """What identifies a structure regardless of phrasing (for keeping test structures out of train)."""
    spec = dict(example.spec)
    if example.family == "flowchart":
        spec = {"kinds": [k for _, k in spec["nodes"]], "edges": len(spec["edges"])}
    return example.family + ":" + json.dumps(spec, sort_keys=True)


def held_out_structure(example: Example) -> bool:
    return int(hashlib.sha256(structure_key(example).encode()).hexdigest(), 16) % 10 == 0


def generate(count: int, split: str, seed: int | str = 0, families: tuple[str, ...] = FAMILIES) -> list[Example]:
    """`count` examples of one split. train/val: seen templates and structures; test: unseen ones.

    Families come in the order of `families`, round and round: naming one twice doubles its share.
    """
    rng = random.Random(f"{seed}:{split}")
    out: list[Example] = []
    while len(out) < count:
        family = families[len(out) % len(families)]
        builder, templates = BUILDERS[family]
        if split == "test":
            test_templates = [t for t in templates if t in TEST_TEMPLATES]
            template = rng.choice(test_templates if rng.random() < 0.6 else list(templates))
        else:
            template = rng.choice(
                [
                    t
                    for t in templates
                    if t not in TEST_TEMPLATES
                    for _ in range(TEMPLATE_WEIGHTS.get((family, t), TEMPLATE_WEIGHTS.get(t, 1)))
                ]
            )
        example = builder(rng, template)
        unseen = (
            template in TEST_TEMPLATES
            or held_out_structure(example)
            or (template not in OPEN_TEMPLATES and held_out_phrasing(example.request))
        )
        if unseen == (split == "test"):
            out.append(example)
    return out


DISJOINT_POOL = Path(__file__).parent / "heldout" / "names-disjoint.txt"


def training_words() -> set[str]:
    """Every word of a fixed name training can draw (the rest of its names are made up)."""
    from training.names import KIND_WORDS, KO_WORDS, ML_WORDS

    fixed = [w for names in list(NAMES.values()) + list(WIDE_NAMES.values()) for w in names]
    fixed += list(ML_WORDS) + list(KO_WORDS) + [w for words in KIND_WORDS.values() for w in words] + list(QUALIFIERS)
    return {word.casefold() for name in fixed for word in name.split()}


def disjoint_split(count: int, seed: int = 0, pool: Path = DISJOINT_POOL) -> list[Example]:
    """Flowcharts (English and Korean phrasings) whose names come from a pool no training name shares a word with."""
    seen = training_words()
    names = [
        n
        for n in pool.read_text(encoding="utf-8").splitlines()
        if n.strip() and not any(w.casefold() in seen for w in n.split())
    ]
    hangul = [n for n in names if any("\uac00" <= ch <= "\ud7a3" for ch in n)]
    latin = [n for n in names if n not in hangul]
    rng = random.Random(f"{seed}:disjoint")
    out = []
    for i in range(count):
        korean = i % 3 == 2
        steps = random_graph(rng, korean, name=lambda r, ko: r.choice(hangul if ko else latin))
        request = describe(steps, rng, korean)
        spec = {"nodes": [[s.label, s.kind] for s in steps], "edges": [list(e) for e in _flow_edges(steps)]}
        out.append(
            Example(
                request,
                "flowchart",
                spec,
                answer_text("flowchart", spec, flowchart(steps)),
                "disjoint-ko" if korean else "disjoint-en",
            )
        )
    return out


def write_jsonl(examples: list[Example], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(e.to_json() + "\n" for e in examples), encoding="utf-8")


def read_jsonl(path: Path) -> list[Example]:
    return [Example.from_json(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line]


def reference_diagram(example: Example) -> Diagram:
    from ml.parser import parse

    return parse(example.answer).diagram


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="data/synthetic")
    parser.add_argument("--train", type=int, default=20000)
    parser.add_argument("--val", type=int, default=300)
    parser.add_argument("--test", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for split, count in (("train", args.train), ("val", args.val), ("test", args.test)):
        write_jsonl(generate(count, split, args.seed), Path(args.out) / f"{split}.jsonl")
        print(f"{split}: {count} examples -> {Path(args.out) / (split + '.jsonl')}")


if __name__ == "__main__":
    main()
