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
from training.learning_curve import trained_on

SHIPPED_FILES = (
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "chat_template.jinja",
)


BLUE, RED, GREEN, ORANGE, GREY = (31, 119, 180), (214, 39, 40), (44, 160, 44), (255, 127, 14), (90, 90, 90)


def line_chart(
    series: list[tuple[str, tuple, list[tuple[float, float]]]],
    path: Path,
    x_name: str,
    y_max: float | None = None,
    y_format: str = "{:.2f}",
    size=(640, 360),
) -> None:
    """A small Pillow line chart: each series is (name, colour, [(x, y), ...]), all on one axis from 0."""
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = 60, 20, size[0] - 20, size[1] - 40
    draw.rectangle((left, top, right, bottom), outline=(0, 0, 0))
    points = [p for _, _, data in series for p in data]
    if points:
        max_x = max(x for x, _ in points) or 1
        top_y = y_max or max(y for _, y in points) or 1

        def xy(x, y):
            return left + (right - left) * x / max_x, bottom - (bottom - top) * y / top_y

        small = font(11)
        for i, (name, colour, data) in enumerate(series):
            if len(data) > 1:
                draw.line([xy(x, y) for x, y in data], fill=colour, width=2)
            for x, y in data:
                cx, cy = xy(x, y)
                draw.ellipse((cx - 2, cy - 2, cx + 2, cy + 2), fill=colour)
            draw.text((left + 10, top + 8 + 16 * i), name, fill=colour, font=small)
        draw.text((left, bottom + 8), "0", fill="black", font=small)
        draw.text((right - 90, bottom + 8), f"{max_x:g} {x_name}", fill="black", font=small)
        draw.text((8, top), y_format.format(top_y), fill="black", font=small)
    image.save(path)


def loss_curve(history: list[dict], path: Path) -> None:
    """Training and evaluation loss against steps."""
    train = [(e["step"], e["loss"]) for e in history if "loss" in e and "step" in e]
    evals = [(e["step"], e["eval_loss"]) for e in history if "eval_loss" in e and "step" in e]
    line_chart([("train loss", BLUE, train), ("eval loss", RED, evals)], path, "steps")


def structure_curve(curve: dict, path: Path) -> None:
    """Exact-structure rate (overall and per family) against training minutes, from training/learning_curve.py."""
    points = [p for p in curve["points"] if p.get("minutes") is not None]
    series = []
    for family, colour in (("all", GREY), ("dense", BLUE), ("cnn", RED), ("flowchart", GREEN)):
        data = [(p["minutes"], 100 * p["results"][family]["structure"]) for p in points if family in p["results"]]
        series.append((f"{family} (exact structure %)", colour, data))
    line_chart(series, path, "training min", y_max=100, y_format="{:.0f} %")


def curve_table(curve: dict) -> str:
    rows = [
        "| step | training minutes | trained on | exact structure | dense | CNN | flowchart | parse |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in curve["points"]:
        r = p["results"]
        minutes = "" if p.get("minutes") is None else f"{p['minutes']:.1f}"
        rows.append(
            f"| {p['step']} | {minutes} | {p.get('device', 'CPU')} | {_percent(r['all']['structure'])} | "
            + " | ".join(_percent(r.get(f, {}).get("structure", 0)) for f in ("dense", "cnn", "flowchart"))
            + f" | {_percent(r['all']['parse'])} |"
        )
    return "\n".join(rows)


def _percent(value: float) -> str:
    return f"{100 * value:.1f} %"


def eval_table(results: dict) -> str:
    """One row per set and family: results[set][family] as training.evaluate writes them."""
    rows = [
        "| set / family | n | parse | structure | structure + labels | invented label words | readability (0-5) "
        "| s / request |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for set_name, families in results.items():
        for family, r in families.items():
            rows.append(
                f"| {set_name} / {family} | {r['n']} | {_percent(r['parse'])} | {_percent(r.get('shape', 0))} | "
                f"{_percent(r['exact'])} | {_percent(r.get('invented', 0))} | {r['readability']:.2f} | "
                f"{r['seconds']:.2f} |"
            )
    return "\n".join(rows)


def _shown(path: str) -> str:
    """A split's path as the card shows it: relative to the repository when it lies inside."""
    try:
        return str(Path(path).resolve().relative_to(Path(__file__).resolve().parent.parent))
    except ValueError:
        return path


def write_card(source: Path, out: Path, evaluations: list[dict], notes: str = "", curve: dict | None = None) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    for name in SHIPPED_FILES:
        if (source / name).exists():
            shutil.copy2(source / name, out / name)
    record = json.loads((source / "training.json").read_text())
    settings = record["settings"]
    loss_curve(record["log_history"], out / "loss_curve.png")
    from safetensors.torch import load_file

    parameters = sum(t.numel() for t in load_file(str(out / "model.safetensors")).values())
    # The shape as saved (a run continued with --init keeps its parent's shape, not the flags' defaults).
    tiny = json.loads((source / "config.json").read_text())
    where = trained_on(source)
    lines = [
        f"# {out.name}: the embedded diagram generator",
        "",
        "A small Llama-architecture causal LM trained from scratch on the project's synthetic",
        "(request, node list) pairs, with its own field-level tokenizer (training/tokenizer.py). It is",
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
        f"{record['steps']} steps (max {settings['max_steps'] or 'none'}, time budget "
        f"{settings['max_minutes']} min)",
        f"- wall time: {record['wall_minutes']} min on {where if where != 'CPU' else 'a 2-core CPU'}"
        + (
            f", continuing from `{settings['init']}` (the notes give the earlier stages)"
            if settings.get("init")
            else ""
        ),
        '- re-create: see the README section "The models"',
        "",
        "![training loss](loss_curve.png)",
        "",
    ]
    for evaluation in evaluations:
        picked = evaluation.get("candidates", 1)
        how = (
            "one sampled candidate per request"
            if picked <= 1
            else f"the pipeline's pick (rank 1) of {picked} sampled candidates per request"
        )
        lines += [
            "## Evaluation" if evaluation is evaluations[0] else "",
            "",
            f"`python -m training.evaluate` on {', '.join(f'`{_shown(p)}`' for p in evaluation['sets'].values())}: "
            f"{how} (temperature 0.8, grammar-constrained decoding). `structure` ignores labels; "
            "`structure + labels` is the headline; invented label words are neither in the request nor "
            "in a small fixed vocabulary (Input, Hidden, Conv, ...).",
            "",
        ]
        for model, results in evaluation["results"].items():
            lines += [f"`{model}`:", "", eval_table(results), ""]
    if curve:
        structure_curve(curve, out / "learning_curve.png")
        lines += [
            "## Learning curve",
            "",
            f"Every checkpoint of the run evaluated on `{_shown(curve['split'])}` ({curve['examples']} requests, one",
            "candidate each, same settings as above) against the training minutes spent to reach it",
            "(`python -m training.learning_curve`):",
            "",
            "![exact structure against training minutes](learning_curve.png)",
            "",
            curve_table(curve),
            "",
        ]
    if notes:
        lines += ["## Notes", "", notes.strip(), ""]
    (out / "README.md").write_text("\n".join(lines), encoding="utf-8")
    return out / "README.md"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="trained model folder (runs/.../final)")
    parser.add_argument(
        "--eval",
        action="append",
        default=[],
        help="evaluation JSON written by training.evaluate --out "
        "(repeat for several, e.g. one sample and the pick of 16)",
    )
    parser.add_argument("--out", default="models/tiny-sft")
    parser.add_argument("--notes", help="a text file appended to the card as its Notes section")
    parser.add_argument("--curve", help="learning-curve JSON written by training.learning_curve --out")
    args = parser.parse_args(argv)
    curve = json.loads(Path(args.curve).read_text()) if args.curve else None
    evaluations = [json.loads(Path(path).read_text(encoding="utf-8")) for path in args.eval]
    notes = Path(args.notes).read_text(encoding="utf-8") if args.notes else ""
    print(write_card(Path(args.source), Path(args.out), evaluations, notes, curve))


if __name__ == "__main__":
    main()
