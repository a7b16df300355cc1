"""Flowcharts the way people ask for them: any names, no types, English or Korean, any shape of graph.

A graph (`random_graph`) is a chain, a merge, a branch or a diamond of 2-8 named steps. It is
then written as a user would (`describe`): a comma list, arrows, "then", bullets, numbered steps,
"A goes to B", "A and B both go into C", "A splits into B and C"; in Korean with →, 순서로,
~하고, ~한 뒤, ~를 거쳐, ~에서 ~로, ~와 ~를 합쳐. The step's name is the exact text between the
separators (Korean: without the particle or ending), which is what the model learns to copy.
"""

from __future__ import annotations

import random

from training.layouts import Step
from training.names import kind_of, random_name

# ---------------------------------------------------------------- graphs


def _edges_of(shape: str, rng: random.Random) -> tuple[int, list[tuple[int, int]]]:
    """Node count and forward edges (i < j) of one graph shape."""
    if shape == "chain":
        n = rng.randint(2, 7)
        return n, [(i, i + 1) for i in range(n - 1)]
    if shape == "merge":  # 2-3 sources into one step, then a chain
        sources, tail = rng.randint(2, 3), rng.randint(1, 4)
        edges = [(s, sources) for s in range(sources)]
        edges += [(sources + i, sources + i + 1) for i in range(tail - 1)]
        return sources + tail, edges
    if shape == "branch":  # a chain that splits into 2-3, which may merge again
        head, fan = rng.randint(1, 3), rng.randint(2, 3)
        edges = [(i, i + 1) for i in range(head - 1)]
        edges += [(head - 1, head + b) for b in range(fan)]
        n = head + fan
        if rng.random() < 0.5:
            edges += [(head + b, n) for b in range(fan)]
            n += 1
        return n, edges
    # diamond: a -> b1 -> d and a -> b2 -> d, with an optional step before and after
    before, after = rng.random() < 0.5, rng.random() < 0.5
    a = 1 if before else 0
    edges = ([(0, 1)] if before else []) + [(a, a + 1), (a, a + 2), (a + 1, a + 3), (a + 2, a + 3)]
    n = a + 4
    if after:
        edges.append((a + 3, a + 4))
        n += 1
    return n, edges


def random_graph(rng: random.Random, korean: bool = False, name=None) -> list[Step]:
    """Steps with distinct names, targets pointing forwards (the flowchart layout's order)."""
    shape = rng.choice(["chain"] * 5 + ["merge"] * 2 + ["branch"] * 2 + ["diamond"])
    n, edges = _edges_of(shape, rng)
    names: list[str] = []
    while len(names) < n:
        candidate = (name or random_name)(rng, korean)
        if candidate.lower() not in {x.lower() for x in names}:
            names.append(candidate)
    incoming = {j for _, j in edges}
    return [
        Step(names[i], kind_of(names[i], i not in incoming), tuple(j for a, j in edges if a == i)) for i in range(n)
    ]


def is_chain(steps: list[Step]) -> bool:
    return all(s.targets == (i + 1,) for i, s in enumerate(steps[:-1])) and not steps[-1].targets


# ---------------------------------------------------------------- English

EN_HEADS = (
    "",
    "",
    "",
    "Pipeline: ",
    "pipeline: ",
    "ETL: ",
    "Draw my pipeline: ",
    "Workflow: ",
    "data flow: ",
    "Can you draw this: ",
    "flowchart: ",
    "Make a diagram of: ",
    "our ML pipeline - ",
    "Architecture: ",
    "draw: ",
    "Process: ",
    "How our system works: ",
    "diagram this: ",
)
EN_LIST_HEADS = ("Pipeline:", "Steps:", "Our workflow", "Draw this pipeline:", "ETL job", "process:", "Flow:")
EN_TAILS = ("", "", "", ".", " please", " pls", "!")
EN_CHAIN_SEPARATORS = (
    ", ",
    ", ",
    " -> ",
    " -> ",
    " → ",
    "->",
    " > ",
    ", then ",
    " then ",
    "; ",
    ", followed by ",
    ", after that ",
    " | ",
    " => ",
)
EN_LINKS = (
    "feeds",
    "goes to",
    "goes into",
    "feeds into",
    "flows into",
    "is fed into",
    "->",
    "→",
    "sends to",
    "is passed to",
    "leads to",
    "outputs to",
)
EN_BRANCHES = (
    "{a} feeds both {bs}",
    "{a} splits into {bs}",
    "{a} -> {list}",
    "{a} goes to {bs}",
    "{a} fans out to {bs}",
    "{a} → {list}",
    "from {a} to {bs}",
)
EN_MERGES = (
    "{as_} both go into {b}",
    "{as_} feed {b}",
    "combine {as_} into {b}",
    "{plus} -> {b}",
    "{list} -> {b}",
    "{as_} go into {b}",
    "{as_} are merged in {b}",
    "{as_} → {b}",
)


def _and(names: list[str], rng: random.Random) -> str:
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + rng.choice([" and ", ", and ", " and "]) + names[-1]


def _en_chain(names: list[str], rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.2:  # one step a line
        mark = rng.choice(["- ", "* ", "• ", "#", "step#"])
        lines = [
            (f"{i + 1}. " if mark == "#" else f"Step {i + 1}: " if mark == "step#" else mark) + name
            for i, name in enumerate(names)
        ]
        return rng.choice(EN_LIST_HEADS) + "\n" + "\n".join(lines)
    if roll < 0.3:  # link sentences
        return rng.choice([". ", "; ", "\n"]).join(f"{a} {rng.choice(EN_LINKS)} {b}" for a, b in zip(names, names[1:]))
    separator = rng.choice(EN_CHAIN_SEPARATORS)
    if separator == ", " and rng.random() < 0.5:
        body = ", ".join(names[:-1]) + rng.choice([", and ", " and ", ", then ", " and finally "]) + names[-1]
    else:
        body = separator.join(names)
    return rng.choice(EN_HEADS) + body + rng.choice(EN_TAILS)


def _clauses(steps: list[Step], rng: random.Random) -> list[tuple[str, list[int], list[int]]]:
    """The graph cut into chain, branch and merge clauses (kind, from, to) that cover every edge once."""
    incoming: dict[int, list[int]] = {}
    for i, step in enumerate(steps):
        for t in step.targets:
            incoming.setdefault(t, []).append(i)
    left = {(i, t) for i, s in enumerate(steps) for t in s.targets}
    clauses = []
    for target, sources in sorted(incoming.items()):
        if len(sources) > 1 and all(len(steps[s].targets) == 1 for s in sources) and rng.random() < 0.8:
            clauses.append(("merge", sources, [target]))
            left -= {(s, target) for s in sources}
    for i, step in enumerate(steps):
        outs = [t for t in step.targets if (i, t) in left]
        if len(outs) > 1:
            clauses.append(("branch", [i], outs))
            left -= {(i, t) for t in outs}
        elif outs:  # a chain as long as it goes on through steps with one way in and one way out
            path = [i, outs[0]]
            left.discard((i, outs[0]))
            while (
                len(steps[path[-1]].targets) == 1
                and len(incoming.get(path[-1], [])) == 1
                and (path[-1], steps[path[-1]].targets[0]) in left
            ):
                left.discard((path[-1], steps[path[-1]].targets[0]))
                path.append(steps[path[-1]].targets[0])
            clauses.append(("chain", path, []))
    order = {id(c): min(c[1]) for c in clauses}
    return sorted(clauses, key=lambda c: order[id(c)])


def _graph_parts(steps: list[Step], rng: random.Random, chain, branch, merge) -> list[str]:
    """One phrase per clause of the graph, each written by the language's chain/branch/merge phrasing."""
    parts = []
    for kind, sources, targets in _clauses(steps, rng):
        names = [steps[i].label for i in sources]
        outs = [steps[i].label for i in targets]
        parts.append(
            chain(names, rng)
            if kind == "chain"
            else branch(names[0], outs, rng)
            if kind == "branch"
            else merge(names, outs[0], rng)
        )
    return parts


def _en_link(names: list[str], rng: random.Random) -> str:
    if len(names) == 2 and rng.random() < 0.5:
        return f"{names[0]} {rng.choice(EN_LINKS)} {names[1]}"
    return rng.choice([" -> ", " → ", "->"]).join(names)


def _en_branch(source: str, outs: list[str], rng: random.Random) -> str:
    return rng.choice(EN_BRANCHES).format(a=source, bs=_and(outs, rng), list=", ".join(outs))


def _en_merge(names: list[str], target: str, rng: random.Random) -> str:
    return rng.choice(EN_MERGES).format(as_=_and(names, rng), b=target, list=", ".join(names), plus=" + ".join(names))


def _en_graph(steps: list[Step], rng: random.Random) -> str:
    parts = _graph_parts(steps, rng, _en_link, _en_branch, _en_merge)
    return rng.choice(EN_HEADS) + rng.choice(["; ", ". ", "\n", ". Then "]).join(parts) + rng.choice(EN_TAILS)


# ---------------------------------------------------------------- Korean


def _batchim(word: str) -> bool | None:
    """Whether the last syllable has a final consonant; None when it is not Hangul."""
    last = word[-1]
    if "\uac00" <= last <= "\ud7a3":
        return (ord(last) - 0xAC00) % 28 != 0
    return None


def particle(word: str, pair: str, rng: random.Random) -> str:
    """word + the right form of a particle pair: 을/를, 이/가, 은/는, 와/과 (after a vowel: 과 -> 와), 으로/로."""
    with_final, without = {
        "을/를": ("을", "를"),
        "이/가": ("이", "가"),
        "은/는": ("은", "는"),
        "와/과": ("과", "와"),
        "으로/로": ("으로", "로"),
    }[pair]
    final = _batchim(word)
    if final is None:
        final = rng.random() < 0.5
    if pair == "으로/로" and final and (ord(word[-1]) - 0xAC00) % 28 == 8:  # ㄹ takes 로
        final = False
    return word + (with_final if final else without)


KO_HEADS = (
    "",
    "",
    "",
    "파이프라인: ",
    "ML 파이프라인: ",
    "다음 흐름을 그려줘: ",
    "흐름도: ",
    "데이터 흐름: ",
    "처리 과정: ",
    "구조: ",
    "이거 그려줘 ",
)
KO_LIST_HEADS = ("파이프라인", "처리 순서:", "단계:", "다음 과정 그려줘", "흐름도")
KO_TAILS = ("", "", " 그려줘", " 다이어그램 그려줘", " 흐름도 부탁해", ".", " 순서로 그려줘")


def _ko_chain(names: list[str], rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.2:
        mark = rng.choice(["- ", "* ", "• ", "#"])
        lines = [(f"{i + 1}. " if mark == "#" else mark) + name for i, name in enumerate(names)]
        return rng.choice(KO_LIST_HEADS) + "\n" + "\n".join(lines)
    if roll < 0.45 and len(names) >= 2:  # connectives: A하고 B한 뒤 C를 거쳐 D로
        parts = []
        for name in names[:-1]:
            parts.append(
                rng.choice(
                    [
                        name + "하고",
                        name + "한 뒤",
                        particle(name, "을/를", rng) + " 거쳐",
                        particle(name, "을/를", rng) + " 거친 뒤",
                        name + " 후",
                    ]
                )
            )
        last = rng.choice([names[-1], particle(names[-1], "으로/로", rng), names[-1] + "까지"])
        return rng.choice(KO_HEADS) + " ".join(parts) + " " + last + rng.choice(KO_TAILS)
    if roll < 0.55 and len(names) >= 2:  # A에서 B로, B에서 C로
        return rng.choice(KO_HEADS) + ", ".join(
            f"{a}에서 {particle(b, '으로/로', rng)}" for a, b in zip(names, names[1:])
        )
    separator = rng.choice([" → ", " -> ", ", ", " > ", "→"])
    tail = " 순서로" + rng.choice(["", " 그려줘"]) if separator == ", " and rng.random() < 0.5 else rng.choice(KO_TAILS)
    return rng.choice(KO_HEADS) + separator.join(names) + tail


def _ko_and(names: list[str], rng: random.Random) -> str:
    if len(names) == 1:
        return names[0]
    if rng.random() < 0.4:
        return ", ".join(names)
    return " ".join(particle(n, "와/과", rng) for n in names[:-1]) + " " + names[-1]


def _ko_link(names: list[str], rng: random.Random) -> str:
    if len(names) == 2 and rng.random() < 0.5:
        return f"{names[0]}에서 {particle(names[1], '으로/로', rng)}"
    return rng.choice([" → ", " -> "]).join(names)


def _ko_branch(source: str, outs: list[str], rng: random.Random) -> str:
    return rng.choice(
        [
            f"{source}에서 {particle(_ko_and(outs, rng), '으로/로', rng)} 나뉨",
            f"{source} → {', '.join(outs)}",
            f"{particle(source, '은/는', rng)} {', '.join(outs)}에 모두 연결",
        ]
    )


def _ko_merge(names: list[str], target: str, rng: random.Random) -> str:
    joined = _ko_and(names, rng)
    return rng.choice(
        [
            f"{particle(joined, '을/를', rng)} 합쳐 {particle(target, '으로/로', rng)}",
            f"{', '.join(names)} → {target}",
            f"{particle(joined, '이/가', rng)} 모두 {particle(target, '으로/로', rng)} 들어감",
        ]
    )


def _ko_graph(steps: list[Step], rng: random.Random) -> str:
    parts = _graph_parts(steps, rng, _ko_link, _ko_branch, _ko_merge)
    return rng.choice(KO_HEADS) + rng.choice(["; ", "\n", ". ", ", 그리고 "]).join(parts) + rng.choice(KO_TAILS)


def describe(steps: list[Step], rng: random.Random, korean: bool = False) -> str:
    """A request for exactly this graph, as a user might type it."""
    names = [s.label for s in steps]
    if korean:
        return _ko_chain(names, rng) if is_chain(steps) else _ko_graph(steps, rng)
    return _en_chain(names, rng) if is_chain(steps) else _en_graph(steps, rng)
