"""The small training loop both scorers share: mini-batches, AdamW, early stopping, progress bar."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from training.budget import Deadline

log = logging.getLogger(__name__)


@dataclass
class FitSettings:
    epochs: int = 30
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    patience: int = 5  # epochs without validation improvement before stopping
    max_minutes: float = 15.0  # wall-time budget, checked after each epoch (0: one epoch)
    seed: int = 0


def fit(
    model: nn.Module,
    loss: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor],
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    settings: FitSettings,
    progress: bool = True,
) -> dict:
    """Train in place; keeps the weights of the best validation epoch. Returns the history.

    With no epochs the model is left as it is, and no optimiser is built (building the first one
    imports torch's compiler, seconds of start-up a job that trains nothing need not pay)."""
    if settings.epochs < 1:
        return {"history": [], "best_val_loss": evaluate_loss(model, loss, val, settings.batch_size), "minutes": 0.0}
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    optimiser = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=max(settings.epochs, 1))
    x_train, y_train = torch.from_numpy(train[0]), torch.from_numpy(train[1])
    best, best_state, stale, history = float("inf"), copy.deepcopy(model.state_dict()), 0, []
    deadline = Deadline(settings.max_minutes)
    bar = tqdm(range(settings.epochs), desc=type(model).__name__, disable=not progress)
    for epoch in bar:
        model.train()
        order = rng.permutation(len(x_train))
        total = 0.0
        for i in range(0, len(order), settings.batch_size):
            index = torch.from_numpy(order[i : i + settings.batch_size])
            optimiser.zero_grad()
            value = loss(model, x_train[index], y_train[index])
            value.backward()
            optimiser.step()
            total += value.item() * len(index)
        schedule.step()
        val_loss = evaluate_loss(model, loss, val, settings.batch_size)
        history.append({"epoch": epoch + 1, "train_loss": total / max(len(order), 1), "val_loss": val_loss})
        bar.set_postfix(train=f"{history[-1]['train_loss']:.4f}", val=f"{val_loss:.4f}")
        if val_loss < best - 1e-5:
            best, best_state, stale = val_loss, copy.deepcopy(model.state_dict()), 0
        else:
            stale += 1
        if stale >= settings.patience or deadline.passed():
            break
    model.load_state_dict(best_state)
    model.eval()
    return {"history": history, "best_val_loss": best, "minutes": deadline.spent()}


@torch.inference_mode()
def evaluate_loss(model, loss, data: tuple[np.ndarray, np.ndarray], batch_size: int) -> float:
    model.eval()
    x, y = torch.from_numpy(data[0]), torch.from_numpy(data[1])
    total = 0.0
    for i in range(0, len(x), batch_size):
        total += float(loss(model, x[i : i + batch_size], y[i : i + batch_size])) * len(x[i : i + batch_size])
    return total / max(len(x), 1)


def scorer_cli(argv, doc: str, kind: str, train, per_base: int, extra=None) -> None:
    """The command line both scorer trainers share: build data, split by diagram, train, save, report.

    `train(train_set, val_set, fit_settings, args)` returns (model, metrics); `extra(parser)` adds flags."""
    import argparse
    import json

    from ml.scoring import nets
    from training.scorer_data import build, split_by_group

    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bases", type=int, default=1500, help="synthetic diagrams (x per-base variants)")
    parser.add_argument("--per-base", type=int, default=per_base)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--max-minutes", type=float, default=12.0)
    parser.add_argument("--out", default=f"models/scorers/{kind}")
    parser.add_argument("--seed", type=int, default=0)
    if extra:
        extra(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    data = build(args.bases, args.per_base, args.seed, "train")
    train_set, val_set = split_by_group(data, 0.15, args.seed)
    settings = FitSettings(epochs=args.epochs, max_minutes=args.max_minutes, seed=args.seed)
    model, metrics = train(train_set, val_set, settings, args)
    path = nets.save(model, args.out, kind, metrics, len(train_set))
    print(json.dumps({"path": str(path), **metrics}))
