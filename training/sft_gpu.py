"""Train the embedded model on a lent GPU: a plain PyTorch loop over examples made on the spot.

training/sft.py (trl's SFTTrainer) is how the embedded model trains on this project's own
machines. This module is for the few minutes of a lent GPU: its image has torch and transformers
but neither trl nor datasets, nothing can be installed there, and the minutes should go to steps.
Two stages, so that two models can train side by side on one card from one set of examples:

    python -m training.sft_gpu prepare --tokenizer models/tiny-sft --out /tmp/data --examples 1000000 --workers 15
    python -m training.sft_gpu train --data /tmp/data --init models/tiny-sft --out runs/gpu-a --max-minutes 6.5
    python -m training.sft_gpu train --data /tmp/data --init models/tiny-sft --grow 2 --out runs/gpu-b ...

`prepare` draws training requests in worker processes (one seed each) and tokenizes them exactly
as training/sft.py does (prompt and answer apart, the loss on the answer only) into flat arrays.
`train` batches examples of similar length, uses bf16 autocast on a GPU, and runs a warm-up then
cosine learning rate over the *time* budget, so that the decay ends when the minutes do however
fast the card turns out to be. It saves the final model, in bf16 if asked (half the bytes to
bring back).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from training.synthetic import FAMILIES, generate

log = logging.getLogger(__name__)
IGNORE = -100  # label of positions the loss skips (prompt and padding)


# --- prepare -------------------------------------------------------------------------------------

_worker_tokenizer = None


def _load_tokenizer(path: str) -> None:
    global _worker_tokenizer
    from transformers import AutoTokenizer

    _worker_tokenizer = AutoTokenizer.from_pretrained(path)


def _tokenized_chunk(task: tuple[str, int, str, tuple[str, ...], int]):
    """One worker's share: (ids, lengths, prompt lengths) of `count` examples of one seed."""
    from training.sft_trainer import tokenize_examples

    seed, count, split, families, max_length = task
    rows = tokenize_examples(_worker_tokenizer, generate(count, split, seed, families), max_length)
    ids = np.fromiter((t for row in rows for t in row["input_ids"]), dtype=np.uint16)
    lengths = np.array([len(row["input_ids"]) for row in rows], dtype=np.int32)
    prompts = np.array([row["completion_mask"].index(1) for row in rows], dtype=np.int32)
    return ids, lengths, prompts


@dataclass
class TokenizedExamples:
    """Examples as one flat id array: example i is ids[starts[i]:starts[i] + lengths[i]]."""

    ids: np.ndarray
    lengths: np.ndarray
    prompt_lengths: np.ndarray

    @cached_property
    def starts(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(np.int64)

    def __len__(self) -> int:
        return len(self.lengths)

    def save(self, folder: Path, name: str) -> None:
        np.savez(folder / f"{name}.npz", ids=self.ids, lengths=self.lengths, prompt_lengths=self.prompt_lengths)

    @classmethod
    def load(cls, folder: Path, name: str) -> TokenizedExamples:
        with np.load(folder / f"{name}.npz") as f:
            return cls(f["ids"], f["lengths"], f["prompt_lengths"])


def prepare(
    tokenizer: str,
    out: Path,
    examples: int,
    val: int,
    workers: int,
    seed: int,
    families: tuple[str, ...],
    chunk: int = 10000,
    max_length: int = 1024,
) -> dict:
    """Draw and tokenize `examples` training and `val` validation examples into `out`."""
    from multiprocessing import get_context

    from tqdm import tqdm

    tasks = [
        (f"{seed}.{i}", min(chunk, examples - start), "train", families, max_length)
        for i, start in enumerate(range(0, examples, chunk))
    ]
    tasks.append((f"{seed}.val", val, "val", families, max_length))
    began = time.monotonic()
    if workers > 1:
        with get_context("fork").Pool(workers, initializer=_load_tokenizer, initargs=(tokenizer,)) as pool:
            parts = list(tqdm(pool.imap(_tokenized_chunk, tasks), total=len(tasks), desc="examples", mininterval=10))
    else:
        _load_tokenizer(tokenizer)
        parts = [_tokenized_chunk(task) for task in tasks]
    out.mkdir(parents=True, exist_ok=True)
    train_parts, val_part = parts[:-1], parts[-1]
    TokenizedExamples(*(np.concatenate(column) for column in zip(*train_parts))).save(out, "train")
    TokenizedExamples(*val_part).save(out, "val")
    meta = {
        "tokenizer": tokenizer,
        "examples": int(sum(len(p[1]) for p in train_parts)),
        "val": len(val_part[1]),
        "seed": seed,
        "families": list(families),
        "seconds": round(time.monotonic() - began, 1),
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=1))
    return meta


# --- train ---------------------------------------------------------------------------------------


@dataclass
class LoopSettings:
    data: str = "/tmp/data"
    init: str = "models/tiny-sft"
    out: str = "runs/sft-gpu"
    grow: int = 1  # deepen the start model this many times (training/grow.py) first
    max_minutes: float = 6.0  # wall-time budget; the learning-rate schedule spans it
    max_steps: int = 0  # stop after this many steps as well (0 = only the time budget)
    batch_size: int = 256
    lr: float = 6e-4
    min_lr_ratio: float = 0.05
    warmup: float = 0.05  # share of the budget spent warming up
    weight_decay: float = 0.01
    eval_seconds: float = 60.0  # validation loss this often
    save_dtype: str = "float32"  # float32 | bfloat16
    seed: int = 0


def length_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator, pool: int = 64):
    """Endless batches of example indices, each of similar lengths (little padding), in random order."""
    while True:
        order = rng.permutation(len(lengths))
        for start in range(0, len(order), batch_size * pool):
            chunk = order[start : start + batch_size * pool]
            chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
            batches = [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
            for index in rng.permutation(len(batches)):
                yield batches[index]


def collate(data: TokenizedExamples, index: np.ndarray, pad_id: int):
    """(input_ids, attention_mask, labels) as int64 arrays; labels cover the answer only."""
    starts, width = data.starts, int(data.lengths[index].max())
    ids = np.full((len(index), width), pad_id, dtype=np.int64)
    labels = np.full((len(index), width), IGNORE, dtype=np.int64)
    mask = np.zeros((len(index), width), dtype=np.int64)
    for row, i in enumerate(index):
        n, p = int(data.lengths[i]), int(data.prompt_lengths[i])
        ids[row, :n] = data.ids[starts[i] : starts[i] + n]
        labels[row, p:n] = ids[row, p:n]
        mask[row, :n] = 1
    return ids, mask, labels


def learning_rate(settings: LoopSettings, progress: float) -> float:
    """Linear warm-up, then cosine down to min_lr_ratio of the peak, over progress in [0, 1]."""
    if progress < settings.warmup:
        return settings.lr * max(progress / settings.warmup, 0.01)
    decay = (progress - settings.warmup) / max(1 - settings.warmup, 1e-9)
    cosine = 0.5 * (1 + math.cos(math.pi * min(decay, 1.0)))
    return settings.lr * (settings.min_lr_ratio + (1 - settings.min_lr_ratio) * cosine)


def _tensors(data: TokenizedExamples, index: np.ndarray, pad_id: int, device: str):
    import torch

    return [torch.from_numpy(a).to(device, non_blocking=True) for a in collate(data, index, pad_id)]


def validation_loss(model, data: TokenizedExamples, batch_size: int, pad_id: int, autocast) -> float:
    """Mean loss per answer token over all of `data`."""
    import torch

    model.eval()
    total, weight = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(data), batch_size):
            index = np.arange(i, min(i + batch_size, len(data)))
            ids, mask, labels = _tensors(data, index, pad_id, model.device)
            with autocast:
                loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            tokens = int((labels[:, 1:] != IGNORE).sum())
            total, weight = total + float(loss) * tokens, weight + tokens
    model.train()
    return total / max(weight, 1)


def _start_model(settings: LoopSettings, device: str):
    """The model to train: `init` in fp32 (whatever it was stored in), grown if asked, on `device`."""
    import torch
    from transformers import AutoModelForCausalLM

    from training.grow import grow

    model = AutoModelForCausalLM.from_pretrained(settings.init, dtype=torch.float32)
    if settings.grow > 1:
        model = grow(model, settings.grow)
    model.config.use_cache = False
    # transformers declares PreTrainedModel.to through functools.wraps, which loses the bound `self`
    return model.to(device).train()  # type: ignore[arg-type]


def train(settings: LoopSettings) -> Path:
    """Train from `init` (optionally grown) on prepared data; returns the final model's folder.

    An error mid-run still saves the model so far (and records the error) before it is raised."""
    import torch
    from transformers import AutoTokenizer

    torch.manual_seed(settings.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    device_name = torch.cuda.get_device_name() if device == "cuda" else device
    data_dir, out = Path(settings.data), Path(settings.out)
    train_set, val_set = TokenizedExamples.load(data_dir, "train"), TokenizedExamples.load(data_dir, "val")
    tokenizer = AutoTokenizer.from_pretrained(settings.init)
    pad_id = tokenizer.pad_token_id
    model = _start_model(settings, device)
    optimiser = torch.optim.AdamW(
        model.parameters(),
        lr=settings.lr,
        betas=(0.9, 0.95),
        weight_decay=settings.weight_decay,
        fused=device == "cuda",
    )
    autocast = torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda")
    batches = length_batches(train_set.lengths, settings.batch_size, np.random.default_rng(settings.seed))
    log.info(
        "%s: %.2f M parameters, %d layers, %d examples, device %s",
        settings.init,
        model.num_parameters() / 1e6,
        model.config.num_hidden_layers,
        len(train_set),
        device_name,
    )

    def evaluated(step: int, minutes: float) -> dict:
        entry = {
            "step": step,
            "minutes": round(minutes, 2),
            "eval_loss": round(validation_loss(model, val_set, settings.batch_size, pad_id, autocast), 4),
        }
        log.info("%s", entry)
        return entry

    history = [evaluated(0, 0.0)]
    began = last_eval = last_log = time.monotonic()
    step, seen, running, error = 0, 0, [], None
    try:
        while True:
            progress = (time.monotonic() - began) / (settings.max_minutes * 60)
            if settings.max_steps:
                progress = max(progress, step / settings.max_steps)
            if progress >= 1:
                break
            lr = learning_rate(settings, progress)
            for group in optimiser.param_groups:
                group["lr"] = lr
            index = next(batches)
            ids, mask, labels = _tensors(train_set, index, pad_id, device)
            with autocast:
                loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            optimiser.zero_grad(set_to_none=True)
            step, seen = step + 1, seen + len(index)
            running.append(loss.detach())
            now = time.monotonic()
            if now - last_log > 20 or step == settings.max_steps:
                mean = float(torch.stack(running).mean())
                log.info(
                    "step %d  loss %.4f  lr %.2e  %.1f min  %d examples  %.0f examples/s",
                    step,
                    mean,
                    lr,
                    (now - began) / 60,
                    seen,
                    seen / (now - began),
                )
                history.append({"step": step, "minutes": round((now - began) / 60, 2), "loss": round(mean, 4)})
                running, last_log = [], now
            if now - last_eval > settings.eval_seconds:
                history.append(evaluated(step, (now - began) / 60))
                last_eval = now
    except Exception as exc:  # keep what was learned: save, then report the error
        error = f"{type(exc).__name__}: {exc}"
        log.exception("training stopped at step %d; saving what there is", step)
    minutes = (time.monotonic() - began) / 60
    if error is None:
        history.append(evaluated(step, minutes))
    final = out / "final"
    model.config.use_cache = True
    model.to(dtype=getattr(torch, settings.save_dtype)).save_pretrained(final)
    tokenizer.save_pretrained(final)
    meta = json.loads((data_dir / "meta.json").read_text()) if (data_dir / "meta.json").exists() else {}
    (final / "training.json").write_text(
        json.dumps(
            {
                "settings": asdict(settings),
                "data": meta,
                "examples": len(train_set),
                "steps": step,
                "examples_seen": seen,
                "wall_minutes": round(minutes, 2),
                "device": device_name,
                "error": error,
                "log_history": history,
            },
            indent=1,
        )
    )
    with (out / "timeline.jsonl").open("a") as f:  # what training/learning_curve.py reads
        f.write(json.dumps({"step": step, "minutes": round(minutes, 2)}) + "\n")
    if error:
        raise RuntimeError(f"training stopped early ({error}); the model so far is in {final}")
    return final


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    stages = parser.add_subparsers(dest="stage", required=True)
    prep = stages.add_parser("prepare", help="draw and tokenize training examples")
    prep.add_argument("--tokenizer", default="models/tiny-sft")
    prep.add_argument("--out", required=True)
    prep.add_argument("--examples", type=int, default=100000)
    prep.add_argument("--val", type=int, default=500)
    prep.add_argument("--workers", type=int, default=2)
    prep.add_argument("--seed", type=int, default=0)
    prep.add_argument(
        "--families",
        default="dense,cnn,flowchart",
        help="comma-separated, drawn in turn; naming one twice doubles its share",
    )
    loop = stages.add_parser("train", help="train on prepared examples")
    for name, value in asdict(LoopSettings()).items():
        loop.add_argument("--" + name.replace("_", "-"), type=type(value), default=value)
    args = vars(parser.parse_args(argv))
    if args.pop("stage") == "prepare":
        families = tuple(args.pop("families").split(","))
        unknown = sorted(set(families) - set(FAMILIES))
        if unknown:
            parser.error(f"unknown families {unknown}: choose from {', '.join(FAMILIES)}")
        meta = prepare(args.pop("tokenizer"), Path(args.pop("out")), families=families, **args)
        print(json.dumps(meta))
    else:
        print(f"final model: {train(LoopSettings(**args))}")


if __name__ == "__main__":
    main()
