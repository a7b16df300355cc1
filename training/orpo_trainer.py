"""ORPO training: presets, settings, SFT's token ids for trl's ORPOTrainer, and the run.

ORPO (Hong et al. 2024, "Monolithic Preference Optimization without Reference Model") adds to the
SFT loss an odds-ratio term that lifts a chosen answer above a rejected one. It needs no reference
model, so it fits where DPO (two models) does not (docs/orpo.md has the memory sums).

Training is trl's ORPOTrainer (trl.experimental.orpo) seeing exactly SFT's token ids (ml/prompt.py:
chat template, answer ended by EOS) and taking the NLL on the answer only, as SFT and the paper do
(trl's own trainer re-tokenizes text and takes it over prompt + answer). Presets:
- tiny: CPU, the embedded model, full fine-tune (4 M parameters: AdamW states are 64 MB, and the
  coordinates a layout is made of live in the embeddings and MLPs that LoRA on q/k/v/o cannot reach);
- lora: GPU, LoRA r16 on q/k/v/o (the SFT settings), gradient checkpointing, paged 8-bit AdamW
  where bitsandbytes and CUDA are there, else AdamW.
The tuned model is saved merged (weights + tokenizer), so LocalGenerator loads it as a plain folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import resource
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from training.budget import time_budget
from training.options import group, option
from training.orpo_pairs import Pair, read_pairs
from training.sft_trainer import LoraSettings

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Preset:
    lora: bool
    lr: float
    gradient_checkpointing: bool
    max_length: int = 0  # longest pair kept (0 = the model's context); lora: SFT's limit


PRESETS = {
    "tiny": Preset(lora=False, lr=5e-5, gradient_checkpointing=False),
    "lora": Preset(lora=True, lr=5e-5, gradient_checkpointing=True, max_length=1536),
}


@dataclass
class ORPOSettings:
    preset: str = option("tiny", "tiny (CPU, embedded model) | lora (GPU, LoRA on a hub model)", choices=tuple(PRESETS))
    model: str = option("models/tiny-sft", "the SFT model: folder or hub id")
    adapter: str = option("", "its SFT LoRA adapter, merged in before tuning")
    pairs: str = option("pairs.jsonl", "the pairs file (JSONL, from `pairs`)", required=True)
    out: str = option("runs/orpo", "run folder; the tuned model goes to OUT/final", required=True)
    method: str = option("", "full | lora; empty = the preset's", choices=("", "full", "lora"))
    max_steps: int = option(200, "optimizer steps; <= 0: train for --epochs")
    epochs: float = option(1.0, "epochs, used when --max-steps <= 0")
    batch_size: int = option(4, "pairs per device batch")
    grad_accum: int = option(1, "gradient accumulation steps")
    lr: float = option(0.0, "peak learning rate; 0 = the preset's")
    beta: float = option(0.1, "weight of the odds-ratio term (lambda in the paper)")
    warmup_ratio: float = option(0.1, "share of the steps that warm the learning rate up")
    max_length: int = option(0, "longest pair kept (0 = the preset's); the run uses the longest kept pair")
    eval_fraction: float = option(0.1, "held-out pairs (by prompt) for the before/after loss")
    gradient_checkpointing: bool | None = option(
        None, "recompute activations in the backward pass; unset = the preset's"
    )
    logging_steps: int = option(5, "steps between log lines")
    max_minutes: float = option(0.0, "stop after this wall time; 0 = no limit")
    threads: int = option(0, "CPU threads for torch, 0 = torch's default")
    seed: int = option(0, "random seed")
    lora: LoraSettings = group(LoraSettings, prefix="lora-")

    def use_lora(self) -> bool:
        if self.method not in ("", "full", "lora"):
            raise ValueError(f"method must be full or lora, got {self.method!r}")
        return PRESETS[self.preset].lora if not self.method else self.method == "lora"


def tokenize_pair(tokenizer, prompt: str, chosen: str, rejected: str) -> dict[str, list[int]]:
    """The row ORPOTrainer trains on, with SFT's ids: prompt_ids(request) + answer_ids(answer)."""
    from ml.prompt import answer_ids, prompt_ids

    ids = prompt_ids(tokenizer, prompt)
    row = {"prompt_input_ids": ids, "prompt_attention_mask": [1] * len(ids)}
    for name, text in (("chosen", chosen), ("rejected", rejected)):
        answer = answer_ids(tokenizer, text)
        row[f"{name}_input_ids"] = ids + answer
        row[f"{name}_attention_mask"] = [1] * (len(ids) + len(answer))
        row[f"{name}_labels"] = [-100] * len(ids) + answer
    return row


def pair_length(row: dict[str, list[int]]) -> int:
    return max(len(row["chosen_input_ids"]), len(row["rejected_input_ids"]))


def make_trainer(**kwargs):
    """trl's ORPOTrainer, fed SFT's token ids and taking the NLL on the answer only."""
    import torch.nn.functional as F
    from trl.experimental.orpo import ORPOTrainer

    class Trainer(ORPOTrainer):
        def tokenize_row(self, feature, model=None):
            return tokenize_pair(self.processing_class, feature["prompt"], feature["chosen"], feature["rejected"])

        def concatenated_forward(self, model, batch):
            inputs = self.concatenated_inputs(batch, padding_value=self.padding_value, device=self.accelerator.device)
            n = batch["chosen_labels"].shape[0]
            logits = model(
                inputs["concatenated_input_ids"], attention_mask=inputs["concatenated_attention_mask"], use_cache=False
            ).logits
            labels = inputs["concatenated_labels"]
            nll = F.cross_entropy(logits[:n, :-1].flatten(0, 1).float(), labels[:n, 1:].flatten(), ignore_index=-100)
            logps = self.get_batch_logps(logits, labels, average_log_prob=True)
            return logps[:n], logps[n:], logits[:n, :-1], logits[n:, :-1], nll

    return Trainer(**kwargs)


def _optimizer(use_cpu: bool) -> str:
    """Paged 8-bit AdamW needs bitsandbytes and CUDA; anywhere else plain AdamW."""
    import importlib.util

    return "adamw_torch" if use_cpu or importlib.util.find_spec("bitsandbytes") is None else "paged_adamw_8bit"


def _held_out(pairs: list[Pair], fraction: float) -> tuple[list[Pair], list[Pair]]:
    """(train, eval) split by prompt, so one request's pairs never sit on both sides."""
    if fraction <= 0 or len({p.prompt for p in pairs}) < 10:
        return pairs, []

    def side(pair: Pair) -> bool:
        return int(hashlib.sha256(pair.prompt.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < fraction

    return [p for p in pairs if not side(p)], [p for p in pairs if side(p)]


def peak_memory_mb(device: str) -> float:
    """Peak memory so far: CUDA allocations on a GPU, else the process's maximum resident set."""
    if device == "cuda":
        import torch

        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def train(settings: ORPOSettings, progress: bool = True) -> tuple[Path, dict]:
    """Run ORPO; returns the tuned model's folder (merged weights + tokenizer) and the run's record."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from trl.experimental.orpo import ORPOConfig

    from ml.generator import load_model

    if settings.preset not in PRESETS:
        raise ValueError(f"unknown preset {settings.preset!r}: use tiny or lora")
    if settings.threads:
        torch.set_num_threads(settings.threads)
    preset = PRESETS[settings.preset]
    use_cpu = not torch.cuda.is_available()
    device = "cpu" if use_cpu else "cuda"
    tokenizer, model = load_model(settings.model, settings.adapter or None, device=device)
    if settings.adapter:
        model = model.merge_and_unload()
    model.train()
    peft_config = None
    if settings.use_lora():
        peft_config = LoraConfig(
            r=settings.lora.r,
            lora_alpha=settings.lora.alpha,
            lora_dropout=settings.lora.dropout,
            target_modules=settings.lora.targets,
            task_type="CAUSAL_LM",
        )

    pairs = read_pairs(settings.pairs)
    context = getattr(model.config, "max_position_embeddings", None) or 10**9
    limit = min(settings.max_length or preset.max_length or context, context)
    lengths = {id(p): pair_length(tokenize_pair(tokenizer, p.prompt, p.chosen, p.rejected)) for p in pairs}
    kept = [p for p in pairs if lengths[id(p)] <= limit]
    if not kept:
        raise ValueError(f"no pair in {settings.pairs} fits {limit} tokens")
    max_length = max(lengths[id(p)] for p in kept)
    train_pairs, eval_pairs = _held_out(kept, settings.eval_fraction)

    def dataset(chosen: list[Pair]):
        return Dataset.from_list([{"prompt": p.prompt, "chosen": p.chosen, "rejected": p.rejected} for p in chosen])

    checkpointing = (
        preset.gradient_checkpointing if settings.gradient_checkpointing is None else settings.gradient_checkpointing
    )
    optimizer = _optimizer(use_cpu)
    out = Path(settings.out)
    config = ORPOConfig(
        output_dir=str(out),
        max_steps=settings.max_steps if settings.max_steps > 0 else -1,
        num_train_epochs=settings.epochs,
        per_device_train_batch_size=settings.batch_size,
        per_device_eval_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.grad_accum,
        learning_rate=settings.lr or preset.lr,
        lr_scheduler_type="cosine",
        warmup_steps=settings.warmup_ratio,
        beta=settings.beta,
        max_length=max_length,
        logging_steps=settings.logging_steps,
        save_strategy="no",
        eval_strategy="no",
        report_to="none",
        use_cpu=use_cpu,
        bf16=not use_cpu and torch.cuda.is_bf16_supported(),
        fp16=False,
        gradient_checkpointing=checkpointing,
        optim=optimizer,
        seed=settings.seed,
        dataloader_num_workers=0,
        remove_unused_columns=False,
        disable_tqdm=not progress,
    )
    trainer = make_trainer(
        model=model,
        args=config,
        train_dataset=dataset(train_pairs),
        eval_dataset=dataset(eval_pairs or train_pairs),
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[time_budget(settings.max_minutes)],
    )
    log.info(
        "ORPO on %d pairs (%d held out, %d too long), max length %d, %s, %s",
        len(train_pairs),
        len(eval_pairs),
        len(pairs) - len(kept),
        max_length,
        "LoRA" if peft_config else "full fine-tune",
        optimizer,
    )
    memory_loaded = peak_memory_mb(device)
    before = trainer.evaluate()
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = time.time()
    trainer.train()
    wall = time.time() - start
    memory_peak = peak_memory_mb(device)
    after = trainer.evaluate()

    final = out / "final"
    tuned = trainer.model
    if peft_config is not None:
        tuned.save_pretrained(str(out / "adapter"))
        tuned = tuned.merge_and_unload()
    tuned.save_pretrained(str(final))
    tokenizer.save_pretrained(str(final))
    record = {
        "method": "orpo",
        "settings": asdict(settings),
        "pairs": len(train_pairs),
        "eval_pairs": len(eval_pairs),
        "eval_on": "held-out pairs" if eval_pairs else "training pairs",
        "dropped_too_long": len(pairs) - len(kept),
        "max_length": max_length,
        "lora": peft_config is not None,
        "optimizer": optimizer,
        "gradient_checkpointing": checkpointing,
        "steps": trainer.state.global_step,
        "wall_minutes": round(wall / 60, 2),
        "memory": {
            "device": device,
            "measure": "torch.cuda.max_memory_allocated" if device == "cuda" else "ru_maxrss (whole process)",
            "loaded_mb": round(memory_loaded, 1),
            "peak_mb": round(memory_peak, 1),
        },
        "eval_before": before,
        "eval_after": after,
        "log_history": list(trainer.state.log_history),
    }
    (final / "training.json").write_text(json.dumps(record, indent=1))
    return final, record
