"""Preference tuning with ORPO: the generator learns which of its own diagrams readers prefer.

SFT only shows the model good diagrams; it still draws overlapping, off-canvas and miscounted
ones. ORPO (Hong et al. 2024, "Monolithic Preference Optimization without Reference Model") adds to
the SFT loss an odds-ratio term that lifts a chosen answer above a rejected one. It needs no
reference model, so it fits where DPO (two models) does not (docs/orpo.md has the memory sums).

Pairs come from two places, both saved as JSONL {"prompt", "chosen", "rejected", "source", margins}:
- synthetic: K candidates sampled from the SFT model per synthetic request (one batched generate);
  chosen = structurally right and most readable (analytic readability, averaged with the CNN's
  when its weights load), rejected = the worst (structure wrong, else least readable); a pair is
  kept only with a clear margin;
- ratings (storage): for each request, two of its candidates rated by the same user, the
  higher-rated one chosen; ties give no pair and users are never mixed.

Training is trl's ORPOTrainer (trl.experimental.orpo) seeing exactly SFT's token ids (ml/prompt.py:
chat template, answer ended by EOS) and taking the NLL on the answer only, as SFT and the paper do
(trl's own trainer re-tokenizes text and takes it over prompt + answer). Presets:
- tiny: CPU, the embedded model, full fine-tune (4 M parameters: AdamW states are 64 MB, and the
  coordinates a layout is made of live in the embeddings and MLPs that LoRA on q/k/v/o cannot reach);
- lora: GPU, LoRA r16 on q/k/v/o (the SFT settings), gradient checkpointing, paged 8-bit AdamW
  where bitsandbytes and CUDA are there, else AdamW.
The tuned model is saved merged (weights + tokenizer), so LocalGenerator loads it as a plain folder.

    python -m training.orpo pairs --model models/tiny-sft --data data/synthetic/train.jsonl --k 8 --limit 300 \
        --out runs/orpo/pairs.jsonl
    python -m training.orpo pairs --db data/diagrambot.sqlite3 --out runs/orpo/rated.jsonl
    python -m training.orpo train --preset tiny --model models/tiny-sft --pairs runs/orpo/pairs.jsonl \
        --out runs/orpo-tiny --max-steps 200
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import logging
import os
import resource
import sys
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from training.sft import LoraSettings, time_budget

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

log = logging.getLogger(__name__)

GENERATOR_KIND = "generator"     # model_versions.kind of a tuned generator
STRUCTURE_POINTS = 5.0           # a right structure outweighs any readability gap (0-5)


# ---------------------------------------------------------------- pairs

@dataclass
class Pair:
    """One preference: for `prompt` (the user's request), `chosen` is better than `rejected`."""

    prompt: str
    chosen: str
    rejected: str
    source: str                   # synthetic | ratings
    margin: float                 # chosen_score - rejected_score
    chosen_score: float           # synthetic: readability + STRUCTURE_POINTS if right; ratings: stars
    rejected_score: float
    info: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)


def write_pairs(pairs: Iterable[Pair], path: str | os.PathLike[str]) -> int:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [pair.to_json() + "\n" for pair in pairs]
    path.write_text("".join(lines), encoding="utf-8")
    return len(lines)


def read_pairs(path: str | os.PathLike[str]) -> list[Pair]:
    return [Pair(**json.loads(line)) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def rating_pairs(rows: Iterable[Any], min_gap: int = 1) -> list[Pair]:
    """Higher- vs lower-rated candidates of one request by one user (rows: storage.RatedCandidate).

    Every two candidates of a request that the same user rated at least `min_gap` stars apart give
    one pair; equal ratings and identical texts give none, and two users' ratings are never paired.
    """
    groups: dict[tuple[str, int], list[Any]] = defaultdict(list)
    for row in rows:
        groups[(row.user_id, row.request_id)].append(row)
    pairs = []
    for (_, request_id), rated in sorted(groups.items()):
        for a, b in itertools.combinations(sorted(rated, key=lambda r: r.candidate_id), 2):
            high, low = (a, b) if a.value >= b.value else (b, a)
            gap = high.value - low.value
            if gap == 0 or gap < min_gap or high.model_text == low.model_text:
                continue
            pairs.append(Pair(high.request_text, high.model_text, low.model_text, "ratings", float(gap),
                              float(high.value), float(low.value),
                              {"request_id": request_id, "chosen_candidate": high.candidate_id,
                               "rejected_candidate": low.candidate_id}))
    return pairs


@dataclass
class PairSettings:
    k: int = 8                    # candidates sampled per synthetic request
    min_margin: float = 0.5       # synthetic: least chosen - rejected score (readability points)
    min_gap: int = 1              # ratings: least difference in stars
    cnn: bool = True              # average the CNN's readability into the analytic one
    seed: int = 0


@dataclass(frozen=True)
class Scored:
    text: str
    parsed: bool
    structure: bool
    readability: float            # 0-5; 0 when the text does not parse

    @property
    def score(self) -> float:
        return self.readability + (STRUCTURE_POINTS if self.structure else 0.0)


class CandidateScorer:
    """Structure and readability of one request's candidates (analytic, plus the CNN if it loads)."""

    def __init__(self, use_cnn: bool = True):
        self.cnn = None
        if use_cnn:
            from ml.scoring import nets
            from ml.scoring.ranking import ScoringSettings, resolve_path
            path = resolve_path(ScoringSettings().cnn)
            if path.exists():
                self.cnn, _ = nets.load(path)
            else:
                log.warning("CNN weights %s missing: pairs are scored by analytic readability only", path)

    def score(self, texts: Sequence[str], family: str, spec: dict) -> list[Scored]:
        from ml.parser import ParseError, parse
        from ml.readability import readability
        from training.structure import structure_ok
        diagrams = []
        for text in texts:
            try:
                diagrams.append(parse(text).diagram)
            except ParseError:
                diagrams.append(None)
        parsed = [d for d in diagrams if d is not None]
        values = [readability(d).score for d in parsed]
        if self.cnn is not None and parsed:
            from ml.scoring import nets
            from ml.scoring.images import batch, render_input
            cnn = nets.predict(self.cnn, batch([render_input(d) for d in parsed]))
            values = [(a + min(max(float(c), 0.0), 5.0)) / 2 for a, c in zip(values, cnn)]
        by_diagram = iter(values)
        return [Scored(text, False, False, 0.0) if d is None
                else Scored(text, True, structure_ok(d, family, spec), next(by_diagram))
                for text, d in zip(texts, diagrams)]


def choose_pair(request: str, scored: Sequence[Scored], min_margin: float, info: dict | None = None) -> Pair | None:
    """Best structurally right candidate vs the worst one, if they are a clear margin apart."""
    ranked = sorted(scored, key=lambda s: s.score)
    if not ranked:
        return None
    chosen, rejected = ranked[-1], ranked[0]
    margin = chosen.score - rejected.score
    if not chosen.structure or chosen.text == rejected.text or margin < min_margin:
        return None
    return Pair(request, chosen.text, rejected.text, "synthetic", round(margin, 4), round(chosen.score, 4),
                round(rejected.score, 4),
                {**(info or {}), "chosen_structure": chosen.structure, "rejected_structure": rejected.structure,
                 "chosen_readability": round(chosen.readability, 4),
                 "rejected_readability": round(rejected.readability, 4)})


def synthetic_pairs(generator, examples, settings: PairSettings, scorer: CandidateScorer | None = None,
                    progress: bool = True) -> list[Pair]:
    """Sample `settings.k` candidates per example (one batched generate each) and keep the clear pairs."""
    from tqdm import tqdm
    scorer = scorer or CandidateScorer(settings.cnn)
    pairs, right = [], 0
    for i, example in enumerate(tqdm(examples, desc="pairs", disable=not progress)):
        texts = generator.generate(example.request, settings.k, seed=settings.seed + i)
        scored = scorer.score(texts, example.family, example.spec)
        right += any(s.structure for s in scored)
        pair = choose_pair(example.request, scored, settings.min_margin,
                           {"family": example.family, "structure_rate": sum(s.structure for s in scored) / len(scored)})
        if pair is not None:
            pairs.append(pair)
    log.info("%d requests: %d with a structurally right candidate, %d pairs kept", len(examples), right, len(pairs))
    return pairs


# ---------------------------------------------------------------- training

@dataclass(frozen=True)
class Preset:
    lora: bool
    lr: float
    gradient_checkpointing: bool
    max_length: int = 0                  # longest pair kept (0 = the model's context); lora: SFT's limit


PRESETS = {"tiny": Preset(lora=False, lr=5e-5, gradient_checkpointing=False),
           "lora": Preset(lora=True, lr=5e-5, gradient_checkpointing=True, max_length=1536)}


@dataclass
class ORPOSettings:
    preset: str = "tiny"                 # tiny (CPU, embedded model) | lora (GPU, LoRA on a hub model)
    model: str = "models/tiny-sft"       # the SFT model: folder or hub id
    adapter: str = ""                    # its SFT LoRA adapter, merged in before tuning
    pairs: str = "pairs.jsonl"
    out: str = "runs/orpo"
    method: str = ""                     # full | lora; "" = the preset's
    max_steps: int = 200                 # <= 0: train for `epochs`
    epochs: float = 1.0
    batch_size: int = 4
    grad_accum: int = 1
    lr: float = 0.0                      # 0 = the preset's
    beta: float = 0.1                    # weight of the odds-ratio term (lambda in the paper)
    warmup_ratio: float = 0.1
    max_length: int = 0                  # longest pair kept (0 = the preset's); the run uses the longest kept pair
    eval_fraction: float = 0.1           # held-out pairs (by prompt) for the before/after loss
    gradient_checkpointing: bool | None = None   # None = the preset's
    logging_steps: int = 5
    max_minutes: float = 0.0             # stop after this wall time; 0 = no limit
    threads: int = 0                     # CPU threads for torch, 0 = torch's default
    seed: int = 0
    lora: LoraSettings = field(default_factory=LoraSettings)

    def use_lora(self) -> bool:
        if self.method not in ("", "full", "lora"):
            raise ValueError(f"method must be full or lora, got {self.method!r}")
        return PRESETS[self.preset].lora if not self.method else self.method == "lora"


def tokenize_pair(tokenizer, prompt: str, chosen: str, rejected: str) -> dict[str, list[int]]:
    """The row ORPOTrainer trains on, with SFT's ids: prompt_ids(request) + answer_ids(answer)."""
    from ml.prompt import answer_ids, prompt_ids
    ids = prompt_ids(tokenizer, prompt)
    row = {"prompt_input_ids": ids, "prompt_attention_mask": [1] * len(ids)}
    for name, answer in (("chosen", chosen), ("rejected", rejected)):
        answer = answer_ids(tokenizer, answer)
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
            logits = model(inputs["concatenated_input_ids"], attention_mask=inputs["concatenated_attention_mask"],
                           use_cache=False).logits
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
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # kB on Linux


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
        peft_config = LoraConfig(r=settings.lora.r, lora_alpha=settings.lora.alpha, lora_dropout=settings.lora.dropout,
                                 target_modules=settings.lora.targets, task_type="CAUSAL_LM")

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

    checkpointing = preset.gradient_checkpointing if settings.gradient_checkpointing is None \
        else settings.gradient_checkpointing
    optimizer = _optimizer(use_cpu)
    out = Path(settings.out)
    config = ORPOConfig(
        output_dir=str(out), max_steps=settings.max_steps if settings.max_steps > 0 else -1,
        num_train_epochs=settings.epochs, per_device_train_batch_size=settings.batch_size,
        per_device_eval_batch_size=settings.batch_size, gradient_accumulation_steps=settings.grad_accum,
        learning_rate=settings.lr or preset.lr, lr_scheduler_type="cosine", warmup_steps=settings.warmup_ratio,
        beta=settings.beta, max_length=max_length, logging_steps=settings.logging_steps, save_strategy="no",
        eval_strategy="no", report_to="none", use_cpu=use_cpu, bf16=not use_cpu and torch.cuda.is_bf16_supported(),
        fp16=False, gradient_checkpointing=checkpointing, optim=optimizer, seed=settings.seed,
        dataloader_num_workers=0, remove_unused_columns=False, disable_tqdm=not progress)
    trainer = make_trainer(model=model, args=config, train_dataset=dataset(train_pairs),
                           eval_dataset=dataset(eval_pairs or train_pairs), processing_class=tokenizer,
                           peft_config=peft_config, callbacks=[time_budget(settings.max_minutes)])
    log.info("ORPO on %d pairs (%d held out, %d too long), max length %d, %s, %s", len(train_pairs),
             len(eval_pairs), len(pairs) - len(kept), max_length, "LoRA" if peft_config else "full fine-tune",
             optimizer)
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
        "method": "orpo", "settings": asdict(settings), "pairs": len(train_pairs), "eval_pairs": len(eval_pairs),
        "eval_on": "held-out pairs" if eval_pairs else "training pairs", "dropped_too_long": len(pairs) - len(kept),
        "max_length": max_length, "lora": peft_config is not None, "optimizer": optimizer,
        "gradient_checkpointing": checkpointing, "steps": trainer.state.global_step,
        "wall_minutes": round(wall / 60, 2),
        "memory": {"device": device, "measure": "torch.cuda.max_memory_allocated" if device == "cuda"
                   else "ru_maxrss (whole process)", "loaded_mb": round(memory_loaded, 1),
                   "peak_mb": round(memory_peak, 1)},
        "eval_before": before, "eval_after": after, "log_history": list(trainer.state.log_history)}
    (final / "training.json").write_text(json.dumps(record, indent=1))
    return final, record


# ---------------------------------------------------------------- the ratings job (training.retrain --kind orpo)

@dataclass
class JobSettings:
    min_pairs: int = 16                  # fewer rating pairs: nothing is trained, the old generator stays
    min_gap: int = 1
    max_steps: int = 200
    max_minutes: float = 60.0
    check_requests: int = 24             # synthetic validation requests for the no-worse check
    seed: int = 0


def structure_check(model: str, examples, seed: int = 0) -> dict:
    """Exact-structure rate and readability of one sampled candidate per example (training/evaluate)."""
    from ml.generator import GeneratorSettings, LocalGenerator
    from training.evaluate import evaluate_model
    return evaluate_model(LocalGenerator(GeneratorSettings(model=model)), examples, seed)["all"]


async def orpo_job(db, data_dir: Path, job: JobSettings) -> dict:
    """Tune the serving generator on the users' ratings; activate it only if it checks no worse.

    The base is the active generator version (else the embedded model). The new model is
    activated when its exact-structure rate on `check_requests` synthetic validation requests is
    no lower than the base's (same requests, same seeds). Returns the retrain contract's JSON.
    """
    from ml.generator import EMBEDDED_MODEL
    from training.synthetic import generate
    pairs = rating_pairs(await db.rated_candidates(), job.min_gap)
    active = await db.active_model(GENERATOR_KIND)
    base = active.path if active and Path(active.path).exists() else str(EMBEDDED_MODEL)
    if len(pairs) < job.min_pairs:
        return {"kind": "orpo", "status": "kept", "version_id": None, "metrics": {"pairs": len(pairs)},
                "message": f"only {len(pairs)} rating pairs (need {job.min_pairs}); the generator stays as it is"}
    out = stamped = Path(data_dir) / "models" / f"{GENERATOR_KIND}-{time.strftime('%Y%m%d-%H%M%S')}"
    for n in itertools.count(2):
        if not out.exists():
            break
        out = stamped.with_name(f"{stamped.name}-{n}")
    write_pairs(pairs, out / "pairs.jsonl")
    final, record = train(ORPOSettings(model=base, pairs=str(out / "pairs.jsonl"), out=str(out),
                                       max_steps=job.max_steps, max_minutes=job.max_minutes, seed=job.seed),
                          progress=False)
    examples = generate(job.check_requests, "val", seed=job.seed)
    old, new = structure_check(base, examples, job.seed), structure_check(str(final), examples, job.seed)
    better = new["structure"] >= old["structure"]
    metrics = {"pairs": record["pairs"], "structure": new["structure"], "active_structure": old["structure"],
               "readability": new["readability"], "active_readability": old["readability"],
               "eval_loss_before": record["eval_before"].get("eval_loss"),
               "eval_loss_after": record["eval_after"].get("eval_loss"), "peak_memory_mb": record["memory"]["peak_mb"]}
    version_id = await db.add_model_version(GENERATOR_KIND, str(final), {**metrics, "base": base}, activate=better)
    return {"kind": "orpo", "status": "swapped" if better else "kept", "version_id": version_id, "metrics": metrics}


# ---------------------------------------------------------------- command line

def _pairs_command(args) -> None:
    settings = PairSettings(k=args.k, min_margin=args.min_margin, min_gap=args.min_gap, cnn=not args.no_cnn,
                            seed=args.seed)
    if args.db:
        import asyncio

        from storage import Database

        async def rows():
            db = await Database.open(args.db, args.data_dir or Path(args.db).parent)
            try:
                return await db.rated_candidates()
            finally:
                await db.close()

        pairs = rating_pairs(asyncio.run(rows()), settings.min_gap)
    else:
        from ml.generator import GeneratorSettings, LocalGenerator, SamplingSettings
        from training.synthetic import read_jsonl
        if not args.data:
            raise SystemExit("pairs: give --data SPLIT.jsonl (synthetic) or --db FILE (ratings)")
        examples = read_jsonl(Path(args.data))[:args.limit or None]
        generator = LocalGenerator(GeneratorSettings(model=args.model, threads=args.threads,
                                                     sampling=SamplingSettings(temperature=args.temperature)))
        pairs = synthetic_pairs(generator, examples, settings)
    count = write_pairs(pairs, args.out)
    print(json.dumps({"pairs": count, "out": args.out}))


def _train_command(args) -> None:
    lora = LoraSettings(r=args.lora_r, alpha=args.lora_alpha)
    settings = ORPOSettings(
        preset=args.preset, model=args.model, adapter=args.adapter, pairs=args.pairs, out=args.out,
        method=args.method, max_steps=args.max_steps, epochs=args.epochs, batch_size=args.batch_size,
        grad_accum=args.grad_accum, lr=args.lr, beta=args.beta, max_length=args.max_length,
        gradient_checkpointing=args.gradient_checkpointing, logging_steps=args.logging_steps,
        max_minutes=args.max_minutes, threads=args.threads, seed=args.seed, lora=lora)
    final, record = train(settings)
    summary = {key: record[key] for key in ("pairs", "eval_pairs", "steps", "wall_minutes", "memory")}
    summary.update(final=str(final), loss_before=record["eval_before"].get("eval_loss"),
                   loss_after=record["eval_after"].get("eval_loss"))
    print(json.dumps(summary))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    pair_defaults, defaults = PairSettings(), ORPOSettings()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    pairs = commands.add_parser("pairs", help="build preference pairs (synthetic requests or stored ratings)")
    pairs.add_argument("--out", required=True)
    pairs.add_argument("--model", default=defaults.model, help="the SFT model that samples the candidates")
    pairs.add_argument("--data", default="", help="synthetic split (JSONL) whose requests are sampled")
    pairs.add_argument("--db", default="", help="build the pairs from the ratings in this database instead")
    pairs.add_argument("--data-dir", default="", help="the database's data folder (default: beside it)")
    pairs.add_argument("--k", type=int, default=pair_defaults.k)
    pairs.add_argument("--limit", type=int, default=0, help="requests to sample (0 = all)")
    pairs.add_argument("--min-margin", type=float, default=pair_defaults.min_margin)
    pairs.add_argument("--min-gap", type=int, default=pair_defaults.min_gap)
    pairs.add_argument("--no-cnn", action="store_true", help="score readability analytically only")
    pairs.add_argument("--temperature", type=float, default=0.8)
    pairs.add_argument("--threads", type=int, default=0)
    pairs.add_argument("--seed", type=int, default=pair_defaults.seed)
    pairs.set_defaults(func=_pairs_command)

    run = commands.add_parser("train", help="ORPO on a pairs file")
    run.add_argument("--pairs", required=True)
    run.add_argument("--out", required=True)
    run.add_argument("--preset", choices=list(PRESETS), default=defaults.preset)
    run.add_argument("--model", default=defaults.model)
    run.add_argument("--adapter", default=defaults.adapter)
    run.add_argument("--method", choices=["", "full", "lora"], default=defaults.method)
    for name in ("max_steps", "epochs", "batch_size", "grad_accum", "lr", "beta", "max_length", "logging_steps",
                 "max_minutes", "threads", "seed"):
        run.add_argument("--" + name.replace("_", "-"), type=type(getattr(defaults, name)),
                         default=getattr(defaults, name))
    run.add_argument("--gradient-checkpointing", action=argparse.BooleanOptionalAction, default=None)
    run.add_argument("--lora-r", type=int, default=defaults.lora.r)
    run.add_argument("--lora-alpha", type=int, default=defaults.lora.alpha)
    run.set_defaults(func=_train_command)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    args = parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
