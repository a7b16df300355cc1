"""Supervised fine-tuning with trl's SFTTrainer: the settings, the tokenized rows, the two model
builders and the training run (the command line is training/sft.py).

Two presets:
- tiny: a small Llama-architecture model trained from scratch on CPU, with its own field-level
  tokenizer (training/tokenizer.py). This is the embedded offline default.
- lora: a hub model or local path (deepseek-ai/deepseek-coder-1.3b-instruct) with a LoRA adapter
  (peft), dtype chosen by the GPU.

Prompt and answer are tokenized separately (ml/prompt.py), the answer ends with EOS, and the
loss covers the answer only. Checkpoints are safetensors; `resume` continues the last one.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from training.budget import time_budget
from training.options import group, option

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

log = logging.getLogger(__name__)


@dataclass
class TinyModelShape:
    """Shape of the embedded model: ~4 M parameters, fast enough to train and sample on 2 CPU cores."""

    hidden_size: int = option(256, "tiny: width of the model")
    intermediate_size: int = option(0, "tiny: width of its MLPs; 0 = 3 x hidden size")
    num_hidden_layers: int = option(4, "tiny: transformer blocks", flag="layers")
    num_attention_heads: int = option(4, "tiny: attention heads per block", flag="heads")
    max_position_embeddings: int = option(1024, "tiny: longest sequence the model takes")
    vocab_size: int = option(4096, "tiny: tokenizer vocabulary fit on the training data")

    def __post_init__(self) -> None:
        self.intermediate_size = self.intermediate_size or 3 * self.hidden_size


@dataclass
class LoraSettings:
    """The seed's LoRA settings (r=16, alpha=16, dropout 0.05 on q/k/v/o)."""

    r: int = option(16, "LoRA rank")
    alpha: int = option(16, "LoRA alpha (the update is scaled by alpha / r)")
    dropout: float = option(0.05, "LoRA dropout")
    targets: list[str] = option(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"], help="modules that get an adapter"
    )


PRESET_LR = {"tiny": 2e-3, "lora": 2e-4}


@dataclass
class SFTSettings:
    preset: str = option("tiny", "tiny (CPU, from scratch) | lora (GPU, LoRA on --base)", choices=tuple(PRESET_LR))
    base: str = option("deepseek-ai/deepseek-coder-1.3b-instruct", "lora: the base model (hub id or folder)")
    data: str = option("data/synthetic", "folder with train.jsonl (and val.jsonl for evaluation)")
    out: str = option("runs/sft", "run folder: checkpoints, timeline.jsonl and final/")
    max_steps: int = option(3000, "optimizer steps; <= 0: train for --epochs")
    epochs: float = option(4.0, "epochs, used when --max-steps <= 0")
    batch_size: int = option(16, "examples per device batch")
    grad_accum: int = option(1, "gradient accumulation steps")
    lr: float = option(0.0, "peak learning rate; 0 = the preset's (tiny 2e-3, lora 2e-4)")
    warmup_ratio: float = option(0.03, "share of the steps that warm the learning rate up")
    max_length: int = option(1536, "longest example kept, in tokens")
    save_steps: int = option(500, "steps between checkpoints (and evaluations)")
    keep_checkpoints: int = option(2, "checkpoints kept; 0 = every one (for a learning curve)")
    plan_only: float = option(0.0, "share of named examples cut after the plan (tokenize_examples)")
    logging_steps: int = option(25, "steps between log lines")
    max_minutes: float = option(0.0, "stop (and save) after this wall time; 0 = no limit")
    resume: bool = option(False, "continue from the last checkpoint in --out")
    init: str = option("", "tiny: start from this trained model (and its tokenizer)")
    seed: int = option(0, "random seed")
    gradient_checkpointing: bool = option(False, "recompute activations in the backward pass (less memory)")
    tiny: TinyModelShape = group(TinyModelShape)
    lora: LoraSettings = group(LoraSettings, prefix="lora-")


def tokenize_examples(tokenizer, examples, max_length: int, plan_only: float = 0.0) -> list[dict]:
    """input_ids + completion_mask per example; prompt and answer tokenized apart.

    `plan_only`: the share of examples with names (flowcharts, CNNs) cut after their plan line, no
    EOS. The plan is where names are copied from the request, so a cut answer puts all its loss on
    that copy, at a third of the length of a whole one (the list after it copies the plan).
    """
    from ml.prompt import answer_ids, prompt_ids

    rows = []
    for i, example in enumerate(examples):
        prompt = prompt_ids(tokenizer, example.request)
        if example.family != "dense" and (i * 0.6180339887) % 1 < plan_only:
            answer = answer_ids(tokenizer, example.answer.split("\n", 1)[0] + "\n")[:-1]
        else:
            answer = answer_ids(tokenizer, example.answer)
        if len(prompt) + len(answer) > max_length:
            continue
        rows.append({"input_ids": prompt + answer, "completion_mask": [0] * len(prompt) + [1] * len(answer)})
    return rows


def build_tiny(settings: SFTSettings, train_examples):
    """A fresh tokenizer (fit on the training data) and a randomly initialised small Llama."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from ml.prompt import user_message
    from training.tokenizer import build_tokenizer

    texts = [user_message(e.request) for e in train_examples] + [e.answer for e in train_examples]
    tokenizer = build_tokenizer(texts, settings.tiny.vocab_size)
    shape = settings.tiny
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=shape.hidden_size,
        intermediate_size=shape.intermediate_size,
        num_hidden_layers=shape.num_hidden_layers,
        num_attention_heads=shape.num_attention_heads,
        num_key_value_heads=shape.num_attention_heads,
        max_position_embeddings=shape.max_position_embeddings,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return tokenizer, LlamaForCausalLM(config)


def build_lora(settings: SFTSettings):
    """The base model (hub id or local path) with its tokenizer; the LoRA config goes to the trainer."""
    import torch
    from peft import LoraConfig

    from ml.generator import load_model

    tokenizer, model = load_model(settings.base, device="cuda" if torch.cuda.is_available() else "cpu")
    model.train()
    lora = LoraConfig(
        r=settings.lora.r,
        lora_alpha=settings.lora.alpha,
        lora_dropout=settings.lora.dropout,
        target_modules=settings.lora.targets,
        task_type="CAUSAL_LM",
    )
    return tokenizer, model, lora


def train(settings: SFTSettings) -> Path:
    """Run SFT; returns the folder of the final model (weights + tokenizer)."""
    import torch
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from training.synthetic import read_jsonl

    data = Path(settings.data)
    train_examples = read_jsonl(data / "train.jsonl")
    val_path = data / "val.jsonl"
    out = Path(settings.out)
    peft_config = None
    if settings.preset == "tiny":
        start = Path(settings.init) if settings.init else out / "final"
        if (settings.init or settings.resume) and (start / "tokenizer.json").exists():
            from transformers import AutoModelForCausalLM, AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(start)
            # fp32 to train on, whatever the weights were stored in (GPU stages store bf16)
            model = AutoModelForCausalLM.from_pretrained(start, dtype=torch.float32)
        else:
            tokenizer, model = build_tiny(settings, train_examples)
    elif settings.preset == "lora":
        tokenizer, model, peft_config = build_lora(settings)
    else:
        raise ValueError(f"unknown preset {settings.preset!r}: use tiny or lora")

    def dataset(examples):
        return Dataset.from_list(tokenize_examples(tokenizer, examples, settings.max_length, settings.plan_only))

    train_set = dataset(train_examples)
    eval_set = dataset(read_jsonl(val_path)[:200]) if val_path.exists() else None
    log.info("training on %d examples (%s preset)", len(train_set), settings.preset)
    use_cpu = not torch.cuda.is_available()
    bf16 = not use_cpu and torch.cuda.is_bf16_supported()
    config = SFTConfig(
        output_dir=str(out),
        max_steps=settings.max_steps if settings.max_steps > 0 else -1,
        num_train_epochs=settings.epochs,
        per_device_train_batch_size=settings.batch_size,
        per_device_eval_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.grad_accum,
        learning_rate=settings.lr or PRESET_LR[settings.preset],
        lr_scheduler_type="cosine",
        warmup_steps=settings.warmup_ratio,
        weight_decay=0.01,
        logging_steps=settings.logging_steps,
        save_steps=settings.save_steps,
        save_total_limit=settings.keep_checkpoints or None,
        eval_strategy="steps" if eval_set is not None else "no",
        eval_steps=settings.save_steps,
        completion_only_loss=True,
        max_length=settings.max_length,
        train_sampling_strategy="group_by_length",
        use_cpu=use_cpu,
        bf16=bf16,
        seed=settings.seed,
        report_to="none",
        dataloader_num_workers=0,
        gradient_checkpointing=settings.gradient_checkpointing,
        disable_tqdm=False,
    )
    trainer = SFTTrainer(
        model=model,
        args=config,
        train_dataset=train_set,
        eval_dataset=eval_set,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[time_budget(settings.max_minutes, out / "timeline.jsonl")],
    )
    checkpoints = sorted(out.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    started = time.time()
    trainer.train(resume_from_checkpoint=str(checkpoints[-1]) if settings.resume and checkpoints else None)
    final = out / "final"
    trainer.save_model(str(final))
    tokenizer.save_pretrained(str(final))
    history = [entry for entry in trainer.state.log_history]
    (final / "training.json").write_text(
        json.dumps(
            {
                "settings": asdict(settings),
                "examples": len(train_set),
                "steps": trainer.state.global_step,
                "wall_minutes": round((time.time() - started) / 60, 2),
                "log_history": history,
            },
            indent=1,
        )
    )
    return final
