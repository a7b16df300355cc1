"""`diagrambot render`, `score`, `generate` and `demo`: the drawing core from the command line."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from ml.diagram import LINE_STYLES, SHAPES, Diagram, Node
from ml.errors import UserError
from ml.parser import (
    COORD_RANGE,
    MAX_EDGES,
    MAX_ID,
    MAX_LABEL_CHARS,
    MAX_NODES,
    MAX_TARGETS,
    SIZE_RANGE,
    ParseError,
    ParseResult,
    parse,
)
from ml.paths import EXAMPLES
from ml.readability import readability
from ml.render import render
from ml.svg import render_svg


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


def write_drawing(
    result: ParseResult,
    png: str | None,
    svg: str | None,
    scale: float,
    pptx: str | None = None,
    drawio: str | None = None,
    mermaid: str | None = None,
) -> None:
    # Every suffix is checked before the first file is written.
    if pptx and Path(pptx).suffix.lower() != ".pptx":
        raise UserError(f"{pptx}: the slide file must end in .pptx")
    if drawio and Path(drawio).suffix.lower() not in (".drawio", ".xml"):
        raise UserError(f"{drawio}: the draw.io file must end in .drawio (or .xml)")
    if mermaid and Path(mermaid).suffix.lower() not in (".mmd", ".mermaid"):
        raise UserError(f"{mermaid}: the Mermaid file must end in .mmd (or .mermaid)")
    if png:
        if Path(png).suffix.lower() not in (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif"):
            raise UserError(f"{png}: the picture must end in .png (or .jpg, .webp)")
        Path(png).parent.mkdir(parents=True, exist_ok=True)
        render(result.diagram, scale=scale).save(png)
    if svg:
        Path(svg).parent.mkdir(parents=True, exist_ok=True)
        Path(svg).write_text(render_svg(result.diagram), encoding="utf-8")
    if pptx:
        from ml.export import pptx_bytes  # python-pptx loads only when a slide is asked for

        Path(pptx).parent.mkdir(parents=True, exist_ok=True)
        Path(pptx).write_bytes(pptx_bytes(result.diagram))
    if drawio:
        from ml.drawio import drawio_text

        Path(drawio).parent.mkdir(parents=True, exist_ok=True)
        Path(drawio).write_text(drawio_text(result.diagram), encoding="utf-8")
    if mermaid:
        from ml.mermaid import mermaid_text

        Path(mermaid).parent.mkdir(parents=True, exist_ok=True)
        Path(mermaid).write_text(mermaid_text(result.diagram), encoding="utf-8")


def score_report(result: ParseResult) -> dict:
    return {**readability(result.diagram).as_dict(), "warnings": result.warnings}


def run_render(args: argparse.Namespace) -> int:
    if not (args.output or args.svg or args.pptx or args.drawio or args.mermaid):
        raise UserError(
            "nothing to write: give -o out.png, --svg out.svg, --pptx out.pptx, "
            "--drawio out.drawio and/or --mermaid out.mmd"
        )
    if not 0.1 <= args.scale <= 4:
        raise UserError("--scale must be between 0.1 and 4")
    result = read_diagram(args.file)
    write_drawing(result, args.output, args.svg, args.scale, args.pptx, args.drawio, args.mermaid)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def run_score(args: argparse.Namespace) -> int:
    print(json.dumps(score_report(read_diagram(args.file))))
    return 0


def run_demo(args: argparse.Namespace) -> int:
    """Render and score every shipped example: proves the install works offline."""
    out = Path(args.out)
    examples = sorted(EXAMPLES.glob("*.txt"))
    if not examples:
        raise UserError(f"no examples found in {EXAMPLES}")
    summary = {}
    for path in examples:
        result = read_diagram(str(path))
        write_drawing(result, str(out / f"{path.stem}.png"), str(out / f"{path.stem}.svg"), 1.0)
        summary[path.stem] = score_report(result)
    (out / "scores.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    for name, report in summary.items():
        print(f"{name}: readability {report['score']:.2f}/5 -> {out / (name + '.png')}")
    return 0


MAX_RATINGS = 1000  # ratings one --ratings file may hold (each is embedded once)
MAX_RATINGS_BYTES = 8 * 1024 * 1024  # size of a --ratings file
MAX_USER_ID_CHARS = 100
RATING_KEYS = ("user_id", "value", "text", "nodes")


def _finite(text: str) -> float:
    """JSON numbers too large for a float (1e400) are refused, not read as infinity."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is too large a number")
    return value


def _not_a_number(name: str):
    raise ValueError(f"{name} is not a number")


def _short(value) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 30 else text[:27] + "..."


def _whole(value, name: str, low: int, high: int) -> int:
    if not (isinstance(value, int) and not isinstance(value, bool) and low <= value <= high):
        raise ValueError(f"{name} must be a whole number from {low} to {high}, got {_short(value)}")
    return value


def _within(value, name: str, low: int, high: int) -> int:
    if not (isinstance(value, (int, float)) and not isinstance(value, bool) and low <= value <= high):
        raise ValueError(f"{name} must be a number from {low} to {high}, got {_short(value)}")
    return round(value)


def _one_of(value, name: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got {_short(value)}")
    return value


def _colour(value, name: str) -> tuple[int, int, int]:
    if not isinstance(value, list) or len(value) != 3:
        raise ValueError(f"{name} must be [R, G, B], got {_short(value)}")
    red, green, blue = (_whole(c, name, 0, 255) for c in value)
    return red, green, blue


def _node(row, where: str) -> Node:
    """A node list as stored (Node.as_list), every field checked: no clamping or repair, unlike the parser."""
    if not isinstance(row, list) or len(row) not in (10, 11):
        raise ValueError(f"{where}: expected a list of 10 or 11 fields, got {_short(row)}")
    nid, x, y, shape, width, height, style, fill, line, targets, *label = row
    if not isinstance(targets, list) or len(targets) > MAX_TARGETS:
        raise ValueError(f"{where}: targets must be a list of at most {MAX_TARGETS} node ids")
    if label and not (isinstance(label[0], str) and len(label[0]) <= MAX_LABEL_CHARS):
        raise ValueError(f"{where}: the label must be a string of at most {MAX_LABEL_CHARS} characters")
    return Node(
        _whole(nid, f"{where}: id", 0, MAX_ID),
        _within(x, f"{where}: x", *COORD_RANGE["x"]),
        _within(y, f"{where}: y", *COORD_RANGE["y"]),
        _one_of(shape, f"{where}: shape", SHAPES),
        _within(width, f"{where}: width", *SIZE_RANGE),
        _within(height, f"{where}: height", *SIZE_RANGE),
        _one_of(style, f"{where}: line style", LINE_STYLES),
        _colour(fill, f"{where}: fill colour"),
        _colour(line, f"{where}: line colour"),
        tuple(_whole(t, f"{where}: target", 0, MAX_ID) for t in targets),
        label[0] if label else None,
    )


def _diagram(rows) -> Diagram:
    """A stored node list (Diagram.as_lists), checked in full, within the parser's bounds: unique ids,
    each target another node of the diagram, listed once."""
    if not isinstance(rows, list) or not 1 <= len(rows) <= MAX_NODES:
        raise ValueError(f"nodes must be a list of 1 to {MAX_NODES} node lists")
    nodes = [_node(row, f"node {i}") for i, row in enumerate(rows, start=1)]
    ids = {node.id for node in nodes}
    if len(ids) != len(nodes):
        raise ValueError("nodes: two nodes share an id")
    for node in nodes:
        if not set(node.targets) <= ids - {node.id} or len(set(node.targets)) != len(node.targets):
            raise ValueError(f"nodes: node {node.id}: each target must be another node, listed once")
    if sum(len(node.targets) for node in nodes) > MAX_EDGES:
        raise ValueError(f"nodes: more than {MAX_EDGES} edges")
    return Diagram(tuple(nodes))


def _rating(line: str) -> tuple[str, int, Diagram]:
    """One line of a ratings file as (user id, value, diagram); ValueError says which field is wrong."""
    row = json.loads(line, parse_float=_finite, parse_constant=_not_a_number)
    if not isinstance(row, dict):
        raise ValueError("expected a JSON object")
    unknown = sorted(set(row) - set(RATING_KEYS))
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(unknown)} (known: {', '.join(RATING_KEYS)})")
    user = row.get("user_id")
    if isinstance(user, bool) or not isinstance(user, (str, int)) or not 1 <= len(str(user)) <= MAX_USER_ID_CHARS:
        raise ValueError(f"user_id must be a string or an integer of 1 to {MAX_USER_ID_CHARS} characters")
    value = _whole(row.get("value"), "value", 1, 5)
    if ("text" in row) == ("nodes" in row):
        raise ValueError("give the diagram as either text or nodes")
    if "nodes" in row:
        return str(user), value, _diagram(row["nodes"])
    if not isinstance(row["text"], str):
        raise ValueError("text must be a string")
    return str(user), value, parse(row["text"]).diagram


def load_ratings(path: str) -> list[tuple[str, int, Diagram]]:
    """Past ratings from a JSONL file: {"user_id": ..., "value": 1-5, "text" or "nodes": ...} per line.

    Every field is checked here, before any model loads (at most MAX_RATINGS ratings in
    MAX_RATINGS_BYTES): a bad line is one error naming it, never a failure halfway through a request."""
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_RATINGS_BYTES + 1)
    except OSError as error:
        raise UserError(f"cannot read ratings {path}: {error.strerror or error}") from None
    if len(data) > MAX_RATINGS_BYTES:
        raise UserError(f"{path}: larger than {MAX_RATINGS_BYTES} bytes, the most a ratings file may hold")
    try:
        lines = data.decode("utf-8").split("\n")  # JSON Lines: a U+2028 inside a string is no line end
    except UnicodeDecodeError as error:
        raise UserError(f"{path}: not UTF-8 text (byte {error.start})") from None
    ratings: list[tuple[str, int, Diagram]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if len(ratings) == MAX_RATINGS:
            raise UserError(f"{path}: line {number}: more than {MAX_RATINGS} ratings, the most a file may hold")
        try:
            ratings.append(_rating(line))
        except RecursionError:
            raise UserError(f"{path}: line {number}: not a rating (nested too deeply)") from None
        except (ValueError, TypeError) as error:
            reason = " ".join(str(error).split()) or type(error).__name__
            raise UserError(f"{path}: line {number}: not a rating ({reason[:200]})") from None
    return ratings


def embed_ratings(ratings: list[tuple[str, int, Diagram]], scorer) -> list:
    """Each rated diagram, embedded with the current autoencoder, for the personal model (style
    features of the diagram, k-NN on the latent); none without a learned scorer."""
    from ml.scoring.personal import RatedDiagram

    if scorer is None or not ratings:
        return []
    latents = scorer.embed([diagram for _, _, diagram in ratings])
    return [
        RatedDiagram(user, float(value), latent, diagram) for (user, value, diagram), latent in zip(ratings, latents)
    ]


def read_ratings(path: str, scorer) -> list:
    """Both steps: the checked ratings of a file, embedded (bench/fuzz.py feeds hostile files here)."""
    return embed_ratings(load_ratings(path), scorer)


def run_generate(args: argparse.Namespace) -> int:
    """generate -> parse -> render -> rank; writes result.json and one PNG per parsed candidate."""
    import time

    from ml.pipeline import RequestError, check_request
    from ml.reading import read as read_reading
    from ml.service import DiagramService

    try:
        check_request(args.request)
    except RequestError as error:
        raise UserError(str(error)) from None
    settings = args.settings  # [generator], [pipeline], [scoring] from --config (diagrambot.cli)
    if args.model:
        settings.generator.model = args.model
    if args.planner is not None:
        settings.generator.planner = args.planner
    if args.no_grammar:
        settings.generator.sampling.grammar = False
    try:
        candidates = settings.pipeline.candidate_count(args.candidates)
    except ValueError as error:
        raise UserError(f"--{error}") from None
    if args.top < 1:
        raise UserError("--top must be at least 1")
    if args.seed is not None and not 0 <= args.seed < 2**32:
        raise UserError("--seed must be between 0 and 4294967295")
    past = load_ratings(args.ratings) if args.ratings else []  # checked before the model loads
    start = time.perf_counter()
    service = DiagramService(settings)
    ratings = embed_ratings(past, service.scorer)
    model = service.model_name
    load_s = time.perf_counter() - start
    try:
        result = service.draw(args.request, args.user, candidates, ratings, seed=args.seed, top=args.top)
    except RequestError as error:
        raise UserError(str(error)) from None
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for candidate in result.candidates:
        image = None
        if candidate.ok:
            assert candidate.image is not None  # the pipeline renders every candidate that parsed
            image = f"candidate-{candidate.rank}.png"
            candidate.image.save(out / image)
        rows.append(candidate.to_json(image))
    timings = {**result.timings, "load_s": load_s, "total_s": time.perf_counter() - start}
    document = {
        "request": result.request,
        "model": model,
        "user": args.user,
        "top": args.top,
        "candidates": rows,
        "timings": {k: round(v, 3) for k, v in timings.items()},
    }
    (out / "result.json").write_text(json.dumps(document, indent=1, ensure_ascii=False), encoding="utf-8")
    parsed = len(result.parsed)
    print(
        f"{parsed}/{len(result.candidates)} candidates parsed in {timings['total_s']:.1f} s "
        f"(generation {timings['generate_s']:.1f} s); results in {out / 'result.json'}"
    )
    shown = result.distinct[: args.top]
    reading = read_reading(shown[0].text, shown[0].diagram) if shown and shown[0].diagram else None
    if reading is not None:
        links = "; ".join(f"{a} -> {b}" for a, b in reading.edges)
        print(f"  read as a {reading.family}: {' -> '.join(reading.items)}" + (f" (links: {links})" if links else ""))
    for candidate in shown:
        assert candidate.diagram is not None  # `distinct` holds only parsed candidates
        print(
            f"  #{candidate.rank}: score {candidate.final:.2f}, {len(candidate.diagram.nodes)} nodes "
            f"-> {out / f'candidate-{candidate.rank}.png'}"
        )
    if not parsed:
        print("no candidate could be read as a diagram; see result.json for the model's text", file=sys.stderr)
        return 1
    return 0


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    render_cmd = subparsers.add_parser(
        "render", help="draw a node list as PNG, SVG, an editable PPTX slide, a draw.io file and/or Mermaid text"
    )
    render_cmd.add_argument("file", help="node-list text file, or - for stdin")
    render_cmd.add_argument("-o", "--output", help="PNG file to write")
    render_cmd.add_argument("--svg", help="SVG file to write")
    render_cmd.add_argument(
        "--pptx", help="PowerPoint file to write: one slide of editable shapes and glued connectors"
    )
    render_cmd.add_argument("--drawio", help="draw.io file to write: editable shapes and attached edges")
    render_cmd.add_argument("--mermaid", help="Mermaid flowchart text to write (.mmd)")
    render_cmd.add_argument("--scale", type=float, default=1.0, help="PNG size factor (1 = 1000x600)")
    render_cmd.set_defaults(func=run_render)

    score_cmd = subparsers.add_parser("score", help="print the analytic readability of a node list as JSON")
    score_cmd.add_argument("file", help="node-list text file, or - for stdin")
    score_cmd.set_defaults(func=run_score)

    generate_cmd = subparsers.add_parser("generate", help="draw a request: generate, render and rank candidates")
    generate_cmd.add_argument("request", help='e.g. "a deep learning model with 2 inputs, 3 hidden nodes, 1 output"')
    generate_cmd.add_argument(
        "--candidates",
        "-n",
        type=int,
        default=None,
        help="candidates sampled in one batch (default: the config's [pipeline] candidates)",
    )
    generate_cmd.add_argument("--top", type=int, default=3, help="how many of the best to list")
    generate_cmd.add_argument("--out", default="out/generate", help="folder for result.json and the PNGs")
    generate_cmd.add_argument("--seed", type=int, default=None, help="sampling seed, for repeatable output")
    generate_cmd.add_argument("--model", help="hub id or local path (overrides [generator] model)")
    generate_cmd.add_argument(
        "--planner", help="the planner model folder (overrides [generator] planner; '' to let the model read alone)"
    )
    generate_cmd.add_argument("--config", help="config.toml (defaults: the embedded model, on this machine)")
    generate_cmd.add_argument("--no-grammar", action="store_true", help="sample without grammar constraints")
    generate_cmd.add_argument("--user", help="rank for this user (their past ratings feed the k-NN)")
    generate_cmd.add_argument(
        "--ratings",
        help="JSONL of past ratings: user_id, value (1-5), text or nodes; "
        f"at most {MAX_RATINGS} lines and {MAX_RATINGS_BYTES // 2**20} MiB",
    )
    generate_cmd.set_defaults(func=run_generate)

    demo_cmd = subparsers.add_parser("demo", help="render and score the shipped examples")
    demo_cmd.add_argument("--out", default="out/demo", help="folder for the pictures")
    demo_cmd.set_defaults(func=run_demo)
