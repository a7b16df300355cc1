"""`diagrambot render`, `score`, `generate` and `demo`: the drawing core from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from diagrambot.errors import UserError
from ml.parser import ParseError, ParseResult, parse
from ml.readability import readability
from ml.render import render
from ml.svg import render_svg

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"


def read_diagram(source: str) -> ParseResult:
    """Parse a node list from a file path, or from stdin when the path is '-'."""
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        raise UserError(f"cannot read {source}: {error.strerror or error}") from None
    try:
        return parse(text)
    except ParseError as error:
        raise UserError(f"{source}: {error}") from None


def write_drawing(result: ParseResult, png: str | None, svg: str | None, scale: float,
                  pptx: str | None = None) -> None:
    if pptx and Path(pptx).suffix.lower() != ".pptx":
        raise UserError(f"{pptx}: the slide file must end in .pptx")
    if png:
        if Path(png).suffix.lower() not in (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif"):
            raise UserError(f"{png}: the picture must end in .png (or .jpg, .webp)")
        Path(png).parent.mkdir(parents=True, exist_ok=True)
        render(result.diagram, scale=scale).save(png)
    if svg:
        Path(svg).parent.mkdir(parents=True, exist_ok=True)
        Path(svg).write_text(render_svg(result.diagram), encoding="utf-8")
    if pptx:
        from ml.export import pptx_bytes   # python-pptx loads only when a slide is asked for
        Path(pptx).parent.mkdir(parents=True, exist_ok=True)
        Path(pptx).write_bytes(pptx_bytes(result.diagram))


def score_report(result: ParseResult) -> dict:
    return {**readability(result.diagram).as_dict(), "warnings": result.warnings}


def run_render(args: argparse.Namespace) -> int:
    if not args.output and not args.svg and not args.pptx:
        raise UserError("nothing to write: give -o out.png, --svg out.svg and/or --pptx out.pptx")
    if not 0.1 <= args.scale <= 4:
        raise UserError("--scale must be between 0.1 and 4")
    result = read_diagram(args.file)
    write_drawing(result, args.output, args.svg, args.scale, args.pptx)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def run_score(args: argparse.Namespace) -> int:
    print(json.dumps(score_report(read_diagram(args.file))))
    return 0


def run_demo(args: argparse.Namespace) -> int:
    """Render and score every shipped example: proves the install works offline."""
    out = Path(args.out)
    examples = sorted(EXAMPLES_DIR.glob("*.txt"))
    if not examples:
        raise UserError(f"no examples found in {EXAMPLES_DIR}")
    summary = {}
    for path in examples:
        result = read_diagram(str(path))
        write_drawing(result, str(out / f"{path.stem}.png"), str(out / f"{path.stem}.svg"), 1.0)
        summary[path.stem] = score_report(result)
    (out / "scores.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    for name, report in summary.items():
        print(f"{name}: readability {report['score']:.2f}/5 -> {out / (name + '.png')}")
    return 0


def read_ratings(path: str, scorer) -> list:
    """Past ratings from a JSONL file: {"user_id": ..., "value": 1-5, "text" or "nodes": ...} per line.

    Each rated diagram is embedded with the current autoencoder (until storage feeds the k-NN)."""
    from ml.diagram import Diagram
    from ml.scoring.personal import RatedDiagram
    rows, diagrams = [], []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise UserError(f"cannot read ratings {path}: {error.strerror or error}") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            diagram = Diagram.from_lists(row["nodes"]) if "nodes" in row else parse(row["text"]).diagram
            rows.append((str(row["user_id"]), float(row["value"])))
            diagrams.append(diagram)
        except (ValueError, KeyError, TypeError, ParseError) as error:
            raise UserError(f"{path}: line {number}: not a rating ({error})") from None
    if scorer is None or not rows:
        return []
    latents = scorer.embed(diagrams)
    return [RatedDiagram(user, value, latent) for (user, value), latent in zip(rows, latents)]


def run_generate(args: argparse.Namespace) -> int:
    """generate -> parse -> render -> rank; writes result.json and one PNG per parsed candidate."""
    import time

    from diagrambot.config import load
    from ml.pipeline import RequestError, check_request
    from ml.service import DiagramService

    try:
        check_request(args.request)
    except RequestError as error:
        raise UserError(str(error)) from None
    settings = load(args.config)
    if args.model:
        settings.generator.model = args.model
    if args.no_grammar:
        settings.generator.sampling.grammar = False
    try:
        candidates = settings.pipeline.candidate_count(args.candidates)
    except ValueError as error:
        raise UserError(f"--{error}") from None
    start = time.perf_counter()
    service = DiagramService(settings)
    ratings = read_ratings(args.ratings, service.scorer) if args.ratings else []
    model = service.model_name
    load_s = time.perf_counter() - start
    try:
        result = service.draw(args.request, args.user, candidates, ratings, seed=args.seed)
    except RequestError as error:
        raise UserError(str(error)) from None
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for candidate in result.candidates:
        image = None
        if candidate.ok:
            image = f"candidate-{candidate.rank}.png"
            candidate.image.save(out / image)
        rows.append(candidate.to_json(image))
    timings = {**result.timings, "load_s": load_s, "total_s": time.perf_counter() - start}
    document = {"request": result.request, "model": model, "user": args.user, "top": args.top,
                "candidates": rows, "timings": {k: round(v, 3) for k, v in timings.items()}}
    (out / "result.json").write_text(json.dumps(document, indent=1, ensure_ascii=False), encoding="utf-8")
    parsed = len(result.parsed)
    print(f"{parsed}/{len(result.candidates)} candidates parsed in {timings['total_s']:.1f} s "
          f"(generation {timings['generate_s']:.1f} s); results in {out / 'result.json'}")
    for candidate in result.distinct[:args.top]:
        print(f"  #{candidate.rank}: score {candidate.final:.2f}, {len(candidate.diagram.nodes)} nodes "
              f"-> {out / f'candidate-{candidate.rank}.png'}")
    if not parsed:
        print("no candidate could be read as a diagram; see result.json for the model's text", file=sys.stderr)
        return 1
    return 0


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    render_cmd = subparsers.add_parser("render", help="draw a node list as PNG, SVG and/or an editable PPTX slide")
    render_cmd.add_argument("file", help="node-list text file, or - for stdin")
    render_cmd.add_argument("-o", "--output", help="PNG file to write")
    render_cmd.add_argument("--svg", help="SVG file to write")
    render_cmd.add_argument("--pptx", help="PowerPoint file to write: one slide of editable shapes and glued connectors")
    render_cmd.add_argument("--scale", type=float, default=1.0, help="PNG size factor (1 = 1000x600)")
    render_cmd.set_defaults(func=run_render)

    score_cmd = subparsers.add_parser("score", help="print the analytic readability of a node list as JSON")
    score_cmd.add_argument("file", help="node-list text file, or - for stdin")
    score_cmd.set_defaults(func=run_score)

    generate_cmd = subparsers.add_parser("generate", help="draw a request: generate, render and rank candidates")
    generate_cmd.add_argument("request", help='e.g. "a deep learning model with 2 inputs, 3 hidden nodes, 1 output"')
    generate_cmd.add_argument("--candidates", "-n", type=int, default=None,
                              help="candidates sampled in one batch (default: the config's [pipeline] candidates)")
    generate_cmd.add_argument("--top", type=int, default=3, help="how many of the best to list")
    generate_cmd.add_argument("--out", default="out/generate", help="folder for result.json and the PNGs")
    generate_cmd.add_argument("--seed", type=int, default=None, help="sampling seed, for repeatable output")
    generate_cmd.add_argument("--model", help="hub id or local path (overrides [generator] model)")
    generate_cmd.add_argument("--config", help="config.toml (defaults: the embedded model, on this machine)")
    generate_cmd.add_argument("--no-grammar", action="store_true", help="sample without grammar constraints")
    generate_cmd.add_argument("--user", help="rank for this user (their past ratings feed the k-NN)")
    generate_cmd.add_argument("--ratings", help="JSONL of past ratings: user_id, value, text or nodes")
    generate_cmd.set_defaults(func=run_generate)

    demo_cmd = subparsers.add_parser("demo", help="render and score the shipped examples")
    demo_cmd.add_argument("--out", default="out/demo", help="folder for the pictures")
    demo_cmd.set_defaults(func=run_demo)
