"""Ship a trained generator: copy its files into models/NAME and write the model card.

    python -m training.model_card runs/tiny-v1/final --eval runs/tiny-v1/eval.json --out models/tiny-sft

The card says how the model was trained (settings, data size, steps, wall time), shows its
evaluation table on the test split and its training-loss curve (a PNG drawn with Pillow).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from PIL import Image, ImageDraw

from ml.labels import font

SHIPPED_FILES = ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
                 "tokenizer_config.json", "chat_template.jinja")


def loss_curve(history: list[dict], path: Path, size=(640, 360)) -> None:
    """Training and evaluation loss against steps, as a small line chart."""
    train = [(e["step"], e["loss"]) for e in history if "loss" in e and "step" in e]
    evals = [(e["step"], e["eval_loss"]) for e in history if "eval_loss" in e and "step" in e]
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = 60, 20, size[0] - 20, size[1] - 40
    draw.rectangle((left, top, right, bottom), outline=(0, 0, 0))
    points = train + evals
    if points:
        max_step = max(s for s, _ in points) or 1
        max_loss = max(v for _, v in points) or 1

        def xy(step, value):
            return left + (right - left) * step / max_step, bottom - (bottom - top) * value / max_loss

        for series, colour in ((train, (31, 119, 180)), (evals, (214, 39, 40))):
            if len(series) > 1:
                draw.line([xy(s, v) for s, v in series], fill=colour, width=2)
        small = font(11)
        draw.text((left, bottom + 8), "0", fill="black", font=small)
        draw.text((right - 40, bottom + 8), f"{max_step} steps", fill="black", font=small)
        draw.text((8, top), f"{max_loss:.2f}", fill="black", font=small)
        draw.text((left + 10, top + 8), "train loss", fill=(31, 119, 180), font=small)
        draw.text((left + 10, top + 24), "eval loss", fill=(214, 39, 40), font=small)
    image.save(path)


def _percent(value: float) -> str:
    return f"{100 * value:.1f} %"


def eval_table(results: dict) -> str:
    rows = ["| split / family | n | parse | exact structure | readability (0-5) | tokens / reference | s / request |",
            "|---|---|---|---|---|---|---|"]
    for family, r in results.items():
        rows.append(f"| {family} | {r['n']} | {_percent(r['parse'])} | {_percent(r['structure'])} | "
                    f"{r['readability']:.2f} | {r['token_ratio']:.2f} | {r['seconds']:.2f} |")
    return "\n".join(rows)


def write_card(source: Path, out: Path, evaluation: dict | None, notes: str = "") -> Path:
    out.mkdir(parents=True, exist_ok=True)
    for name in SHIPPED_FILES:
        if (source / name).exists():
            shutil.copy2(source / name, out / name)
    record = json.loads((source / "training.json").read_text())
    settings = record["settings"]
    loss_curve(record["log_history"], out / "loss_curve.png")
    from safetensors.torch import load_file
    parameters = sum(t.numel() for t in load_file(str(out / "model.safetensors")).values())
    tiny = settings.get("tiny", {})
    lines = [
        f"# {out.name}: the embedded diagram generator",
        "",
        "A small Llama-architecture causal LM trained from scratch on CPU on the project's synthetic",
        "(request, node list) pairs, with its own field-level BPE tokenizer (training/tokenizer.py). It is",
        "the offline default of `diagrambot generate` and of every test. Not a general language model: it",
        "writes node lists for dense networks, CNNs (layer boxes) and ML-process flowcharts.",
        "",
        "## Training",
        "",
        f"- architecture: Llama, hidden {tiny.get('hidden_size')}, {tiny.get('num_hidden_layers')} layers, "
        f"{tiny.get('num_attention_heads')} heads, MLP {tiny.get('intermediate_size')}, tied embeddings"
        + f"; {parameters / 1e6:.2f} M parameters",
        f"- data: {record['examples']} synthetic training examples (`python -m training.synthetic`), "
        "loss on the answer only, answers end with EOS",
        f"- optimiser: AdamW, lr {settings.get('lr') or 2e-3}, cosine schedule, batch {settings['batch_size']}, "
        f"{record['steps']} steps (max {settings['max_steps']}, time budget {settings['max_minutes']} min)",
        f"- wall time: {record['wall_minutes']} min on a 2-core CPU"
        + (f", continuing from `{settings['init']}` (trained the same way before)" if settings.get("init") else ""),
        "- re-create: see the README section \"The models\"",
        "",
        "![training loss](loss_curve.png)",
        "",
    ]
    if evaluation:
        lines += ["## Evaluation", "",
                  f"`python -m training.evaluate` on `{evaluation['split']}` ({evaluation['examples']} requests whose",
                  "phrasings or structures never appear in training), one sampled candidate per request",
                  "(temperature 0.8, grammar-constrained decoding):", ""]
        for model, results in evaluation["results"].items():
            lines += [f"`{model}`:", "", eval_table(results), ""]
    if notes:
        lines += ["## Notes", "", notes.strip(), ""]
    (out / "README.md").write_text("\n".join(lines), encoding="utf-8")
    return out / "README.md"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="trained model folder (runs/.../final)")
    parser.add_argument("--eval", help="evaluation JSON written by training.evaluate --out")
    parser.add_argument("--out", default="models/tiny-sft")
    parser.add_argument("--notes", help="a text file appended to the card as its Notes section")
    args = parser.parse_args(argv)
    evaluation = json.loads(Path(args.eval).read_text()) if args.eval else None
    notes = Path(args.notes).read_text(encoding="utf-8") if args.notes else ""
    print(write_card(Path(args.source), Path(args.out), evaluation, notes))


if __name__ == "__main__":
    main()
