"""Training images for the learned scorers: clean synthetic diagrams and degraded variants.

Every variant is labelled with the analytic readability score (ml/readability.py), the teacher.
Each base diagram keeps a group id, so train/validation splits are made by diagram, never by
augmented copy (the seed let copies of one image leak across folds).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

import numpy as np
from tqdm import tqdm

from ml.diagram import Diagram
from ml.readability import readability
from ml.scoring.images import render_input
from training.synthetic import generate, reference_diagram


def _nodes(diagram: Diagram, change) -> Diagram:
    return Diagram(tuple(change(n) for n in diagram.nodes))


def jitter(d: Diagram, rng: random.Random) -> Diagram:
    sigma = rng.choice([10, 30, 60, 120])
    return _nodes(d, lambda n: replace(n, x=round(n.x + rng.gauss(0, sigma)), y=round(n.y + rng.gauss(0, sigma))))


def overlap(d: Diagram, rng: random.Random) -> Diagram:
    """Move some nodes onto others."""
    nodes = list(d.nodes)
    for _ in range(rng.randint(1, max(1, len(nodes) // 3))):
        a, b = rng.randrange(len(nodes)), rng.randrange(len(nodes))
        nodes[a] = replace(nodes[a], x=nodes[b].x + rng.randint(-10, 10), y=nodes[b].y + rng.randint(-10, 10))
    return Diagram(tuple(nodes))


def off_canvas(d: Diagram, rng: random.Random) -> Diagram:
    dx = rng.choice([-1, 1]) * rng.randint(150, 600)
    dy = rng.choice([-1, 1, 0]) * rng.randint(50, 300)
    return _nodes(d, lambda n: replace(n, x=n.x + dx, y=n.y + dy))


def low_contrast(d: Diagram, rng: random.Random) -> Diagram:
    grey = rng.randint(225, 250)
    faint = (grey, grey, grey)
    line = tuple(min(255, c + rng.randint(0, 10)) for c in faint)
    return _nodes(d, lambda n: replace(n, fill=faint, line_colour=line))


def clashing(d: Diagram, rng: random.Random) -> Diagram:
    """Saturated fills with text-hostile mid tones, and pale lines."""
    fills = [(255, 0, 255), (0, 255, 0), (255, 0, 0), (0, 0, 255), (255, 255, 0), (128, 128, 128)]
    line = (rng.randint(200, 255), rng.randint(200, 255), rng.randint(200, 255))
    return _nodes(d, lambda n: replace(n, fill=rng.choice(fills), line_colour=line))


def crowd(d: Diagram, rng: random.Random) -> Diagram:
    """Squeeze everything towards one point."""
    factor = rng.uniform(0.15, 0.5)
    cx, cy = rng.randint(300, 700), rng.randint(200, 400)
    return _nodes(d, lambda n: replace(n, x=round(cx + (n.x - cx) * factor), y=round(cy + (n.y - cy) * factor)))


def shuffle_positions(d: Diagram, rng: random.Random) -> Diagram:
    """Swap node positions: edges now cross and pass through nodes."""
    spots = [(n.x, n.y) for n in d.nodes]
    rng.shuffle(spots)
    return Diagram(tuple(replace(n, x=x, y=y) for n, (x, y) in zip(d.nodes, spots)))


def inflate(d: Diagram, rng: random.Random) -> Diagram:
    factor = rng.uniform(1.8, 4.0)
    return _nodes(d, lambda n: replace(n, width=round(n.width * factor), height=round(n.height * factor)))


DEGRADATIONS = (jitter, overlap, off_canvas, low_contrast, clashing, crowd, shuffle_positions, inflate)


def variants(base: Diagram, count: int, rng: random.Random) -> list[Diagram]:
    """The clean diagram and `count - 1` degraded copies (one or two degradations each)."""
    out = [base]
    for _ in range(count - 1):
        diagram = base
        for degrade in rng.sample(DEGRADATIONS, rng.choice([1, 1, 2])):
            diagram = degrade(diagram, rng)
        out.append(diagram)
    return out


@dataclass
class ScorerDataset:
    images: np.ndarray  # (n, 3, 96, 160) float32
    labels: np.ndarray  # (n,) analytic readability 0-5
    groups: np.ndarray  # (n,) base-diagram id: split by this, never by row
    families: np.ndarray  # (n,) family name of the base diagram

    def subset(self, mask: np.ndarray) -> ScorerDataset:
        return ScorerDataset(self.images[mask], self.labels[mask], self.groups[mask], self.families[mask])

    def __len__(self) -> int:
        return len(self.labels)


def build(bases: int, per_base: int, seed: int = 0, split: str = "train", progress: bool = True) -> ScorerDataset:
    """Render `bases` synthetic diagrams x `per_base` variants each (the first one clean)."""
    rng = random.Random(f"scorer:{seed}:{split}")
    examples = generate(bases, split, seed)
    images, labels, groups, families = [], [], [], []
    for group, example in enumerate(tqdm(examples, desc=f"rendering {split}", disable=not progress)):
        for diagram in variants(reference_diagram(example), per_base, rng):
            images.append(render_input(diagram))
            labels.append(readability(diagram).score)
            groups.append(group)
            families.append(example.family)
    return ScorerDataset(np.stack(images), np.array(labels, np.float32), np.array(groups), np.array(families))


def split_by_group(data: ScorerDataset, validation_share: float, seed: int = 0) -> tuple[ScorerDataset, ScorerDataset]:
    ids = np.unique(data.groups)
    rng = np.random.default_rng(seed)
    held = set(rng.choice(ids, size=max(1, int(len(ids) * validation_share)), replace=False).tolist())
    mask = np.array([g in held for g in data.groups])
    return data.subset(~mask), data.subset(mask)
