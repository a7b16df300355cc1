"""Train the planner (ml/planner.py) from scratch on this CPU: a small byte-level Llama that reads a
request into its plan. Resumable, with a learning curve over training minutes.

Tokens are UTF-8 bytes, so a name has the same ids in the request and in the plan and copying it
is learnable in minutes (shared/probes, probe 2). The loss is on the plan only. The learning rate
warms up, then follows a cosine over the time budget, so that its decay ends with the minutes.

    python -m training.plan_train --out runs/planner --minutes 70
    python -m training.plan_train --out runs/planner-b --init runs/planner/final --minutes 60 --lr 6e-4
    python -m training.plan_train --out runs/planner --minutes 70 --resume     # after a kill

Every `--checkpoint-minutes` the model, optimiser and position are saved to OUT/last (atomically:
a kill loses at most that much); every `--eval-minutes` the dev set (training/dev/plan-dev.jsonl,
greedy, exact plan) is scored into OUT/curve.json. OUT/final is the model at the end of the budget.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.plan_data import pairs
from training.structure import label_matches

DEV_SET = Path(__file__).parent / "dev" / "plan-dev.jsonl"


@dataclass
class Options:
    out: str = "runs/planner"
    minutes: float = 70.0
    init: str = ""  # continue a saved planner with a fresh optimiser
    resume: bool = False  # continue OUT/last: model, optimiser, data position and clock
    layers: int = 4
    width: int = 256
    heads: int = 4
    batch: int = 24
    lr: float = 1.5e-3
    warmup: int = 100
    examples: int = 120_000
    written_share: float = 0.5  # share of training/plan_data's own phrasings (the rest: training.synthetic)
    seed: int = 7
    threads: int = 2
    dev: str = str(DEV_SET)  # hand-written dev requests scored along the way ("" for none)
    checkpoint_minutes: float = 10.0
    eval_minutes: float = 15.0


def parse(argv: list[str] | None = None) -> Options:
    defaults = Options()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, value in vars(defaults).items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            parser.add_argument(flag, action="store_true")
        else:
            parser.add_argument(flag, type=type(value), default=value)
    return Options(**vars(parser.parse_args(argv)))


def encode(request: str, plan: str) -> tuple[list[int], list[int]]:
    from ml.planner import BOS, EOS, SEP

    return [BOS, *request.encode(), SEP], [*plan.encode(), EOS]


def collate(chunk):
    import torch

    from ml.planner import PAD

    n = max(len(p) + len(a) for p, a in chunk)
    ids = torch.full((len(chunk), n), PAD)
    labels = torch.full((len(chunk), n), -100)
    mask = torch.zeros((len(chunk), n), dtype=torch.long)
    for i, (p, a) in enumerate(chunk):
        seq = p + a
        ids[i, : len(seq)] = torch.tensor(seq)
        labels[i, len(p) : len(seq)] = torch.tensor(a)
        mask[i, : len(seq)] = 1
    return ids, labels, mask


def batches(rows, batch: int, rng: random.Random):
    """Batches of similar lengths (less padding), in random order."""
    while True:
        pool = rng.sample(rows, min(len(rows), batch * 64))
        pool.sort(key=lambda r: len(r[0]) + len(r[1]))
        chunks = [pool[i : i + batch] for i in range(0, len(pool), batch)]
        rng.shuffle(chunks)
        yield from chunks


def plan_matches(plan, family: str, spec: dict) -> bool:
    """Whether a reading is the case's plan: layer sizes, CNN labels in order, or flowchart names
    and edges (labels compared as training.structure compares them; kinds are not judged)."""
    if plan.family != family:
        return False
    if family == "dense":
        return list(plan.layers) == list(spec["layers"])
    if family == "cnn":
        return len(plan.labels) == len(spec["labels"]) and all(
            label_matches(got, want) for got, want in zip(plan.labels, spec["labels"])
        )
    names = [node[0] for node in spec["nodes"]]
    if len(plan.nodes) != len(names):
        return False
    assigned: dict[int, int] = {}
    for i, (name, _) in enumerate(plan.nodes):
        match = next(
            (j for j, want in enumerate(names) if j not in assigned.values() and label_matches(name, want)), None
        )
        if match is None:
            return False
        assigned[i] = match
    index = {(n if isinstance(n, str) else n[0]): j for j, n in enumerate(names)}
    wanted = sorted(
        (index[a if isinstance(a, str) else a[0]], index[b if isinstance(b, str) else b[0]]) for a, b in spec["edges"]
    )
    return sorted((assigned[a], assigned[b]) for a, b in plan.edges) == wanted


def dev_score(planner, cases) -> dict:
    """Exact plans (greedy, one sample) on the dev set, by family."""
    by_family: dict[str, list[int]] = {}
    for case in cases:
        plan = planner.greedy(case["request"])
        tally = by_family.setdefault(case["family"], [0, 0])
        tally[0] += plan is not None and plan_matches(plan, case["family"], case["spec"])
        tally[1] += 1
    right, total = sum(t[0] for t in by_family.values()), sum(t[1] for t in by_family.values())
    return {"dev": round(right / max(total, 1), 4), **{k: f"{v[0]}/{v[1]}" for k, v in by_family.items()}}


def save(model, optimizer, state: dict, folder: Path) -> None:
    """Model, optimiser and position into `folder`, replacing it only once all is written."""
    import torch

    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial)
    if optimizer is not None:
        torch.save(optimizer.state_dict(), partial / "optimizer.pt")
    (partial / "state.json").write_text(json.dumps(state))
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)


def main(argv: list[str] | None = None) -> None:
    import torch
    from transformers import LlamaForCausalLM

    from ml.planner import Planner, new_model

    opts = parse(argv)
    torch.set_num_threads(opts.threads)
    torch.manual_seed(opts.seed)
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    last = out / "last"
    state: dict[str, Any] = {"step": 0, "seconds": 0.0, "cpu_seconds": 0.0, "curve": []}
    if opts.resume and (last / "state.json").exists():
        state = json.loads((last / "state.json").read_text())
        model = LlamaForCausalLM.from_pretrained(last)
    elif opts.init:
        model = LlamaForCausalLM.from_pretrained(opts.init)
    else:
        model = new_model(opts.layers, opts.width, opts.heads)
    optimizer = torch.optim.AdamW(model.parameters(), lr=opts.lr, weight_decay=0.01, betas=(0.9, 0.98))
    if opts.resume and (last / "optimizer.pt").exists():
        optimizer.load_state_dict(torch.load(last / "optimizer.pt"))
    (out / "options.json").write_text(json.dumps(vars(opts), indent=1))

    from ml.planner import MAX_BYTES

    rows = [encode(r, p) for r, p in pairs(opts.examples, opts.seed, opts.written_share)]
    rows = [r for r in rows if len(r[0]) + len(r[1]) <= MAX_BYTES]
    dev = [json.loads(line) for line in Path(opts.dev).read_text().splitlines() if line.strip()] if opts.dev else []
    print(f"{len(rows)} rows, {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters", flush=True)
    rng = random.Random(f"{opts.seed}:{state['step']}")  # a resumed run draws on, not the same batches again
    stream = batches(rows, opts.batch, rng)
    budget = opts.minutes * 60
    next_checkpoint = state["seconds"] + opts.checkpoint_minutes * 60
    next_eval = state["seconds"] + opts.eval_minutes * 60
    losses: list[float] = []
    model.train()
    while True:
        if dev and (state["seconds"] >= next_eval or state["seconds"] >= budget):
            model.eval()
            point = {
                "minutes": round(state["seconds"] / 60, 1),
                "cpu_minutes": round(state["cpu_seconds"] / 60, 1),
                "step": state["step"],
                "loss": round(sum(losses[-100:]) / max(1, len(losses[-100:])), 4) if losses else None,
                **dev_score(Planner(model), dev),
            }
            model.train()
            state["curve"].append(point)
            (out / "curve.json").write_text(json.dumps(state["curve"], indent=1))
            print(json.dumps(point, ensure_ascii=False), flush=True)
            next_eval = state["seconds"] + opts.eval_minutes * 60
        if state["seconds"] >= budget:
            break
        wall, cpu = time.perf_counter(), time.process_time()
        frac = min(1.0, state["seconds"] / budget)
        lr = opts.lr * min(1.0, (state["step"] + 1) / opts.warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
        for group in optimizer.param_groups:
            group["lr"] = lr
        ids, labels, mask = collate(next(stream))
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
        state["step"] += 1
        state["seconds"] += time.perf_counter() - wall
        state["cpu_seconds"] += time.process_time() - cpu
        if state["step"] % 100 == 0:
            print(
                f"step {state['step']} {state['seconds'] / 60:.1f} min loss {sum(losses[-100:]) / 100:.4f}", flush=True
            )
        if state["seconds"] >= next_checkpoint:
            save(model, optimizer, state, last)
            next_checkpoint = state["seconds"] + opts.checkpoint_minutes * 60
    save(model, optimizer, state, last)
    save(model, None, state, out / "final")
    print(f"done: {state['step']} steps, {state['seconds'] / 60:.1f} training minutes -> {out / 'final'}", flush=True)


if __name__ == "__main__":
    main()
