"""Generation speed: 8 candidates in ONE batched call vs 8 calls of one, same model, same run.

    python bench/generate.py                      # the embedded model (+ `diagrambot generate` wall time)
    python bench/generate.py --decoder hf         # the same through transformers' generate
    python bench/generate.py --arch deepseek-1.3b # random weights, deepseek-coder-1.3b's shape, 400 new tokens

Targets: batched >= 3x faster than one at a time; `diagrambot generate -n 8` <= 20 s on 2 cores;
on a GPU, deepseek-1.3b 8 candidates in <= 3 s. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from _common import ROOT, emit

REQUEST = "A deep learning model with 2 input nodes, 3 and 5 hidden nodes, and 1 output node."
# deepseek-ai/deepseek-coder-1.3b-instruct's architecture (weights do not change speed).
DEEPSEEK_13B = dict(
    vocab_size=32256,
    hidden_size=2048,
    intermediate_size=5504,
    num_hidden_layers=24,
    num_attention_heads=16,
    num_key_value_heads=16,
    max_position_embeddings=16384,
    rope_theta=100000.0,
    tie_word_embeddings=False,
)


def _timed(func) -> float:
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def bench_embedded(args) -> dict:
    from ml.generator import GeneratorSettings, LocalGenerator, SamplingSettings

    generator = LocalGenerator(GeneratorSettings(threads=args.threads, sampling=SamplingSettings(decoder=args.decoder)))
    generator.generate(REQUEST, 2, seed=0)  # warm-up

    batched, single, tokens = [], [], []
    for r in range(args.rounds):
        batched.append(_timed(lambda r=r: generator.generate(REQUEST, 8, seed=r)))
        tokens.append(generator.last_timing["new_tokens"])
        single.append(_timed(lambda r=r: [generator.generate(REQUEST, 1, seed=r * 8 + i) for i in range(8)]))
    cli = []
    for r in range(args.cli_rounds):  # the CLI runs the configured decoder (the default, "loop")
        command = [
            sys.executable,
            "-m",
            "diagrambot",
            "generate",
            REQUEST,
            "-n",
            "8",
            "--seed",
            str(r),
            "--out",
            str(ROOT / "out" / "bench-generate"),
        ]
        cli.append(_timed(lambda command=command: subprocess.run(command, cwd=ROOT, check=True, capture_output=True)))
    b, s = statistics.median(batched), statistics.median(single)
    return {
        "bench": "generate",
        "model": "embedded",
        "candidates": 8,
        "decoder": args.decoder,
        "batched_s": round(b, 3),
        "one_at_a_time_s": round(s, 3),
        "speedup": round(s / b, 2),
        "batched_new_tokens_median": statistics.median(tokens),
        "cli_generate_8_s": round(statistics.median(cli), 2) if cli else None,
        "target_speedup": 3.0,
        "target_cli_s": 20.0,
        "meets_speedup": s / b >= 3.0,
        "meets_cli": bool(cli) and statistics.median(cli) <= 20.0,
    }


def bench_deepseek(args) -> dict:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    torch.manual_seed(0)
    with torch.device(device):
        model = LlamaForCausalLM(LlamaConfig(**DEEPSEEK_13B)).to(dtype).eval()
    prompt = torch.randint(100, 32000, (1, args.prompt_tokens), device=device)

    def run(n: int, new_tokens: int) -> float:
        ids = prompt.repeat(n, 1)
        with torch.inference_mode():
            start = time.perf_counter()
            model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                do_sample=True,
                top_p=0.95,
                max_new_tokens=new_tokens,
                min_new_tokens=new_tokens,
                pad_token_id=0,
                eos_token_id=None,
            )
            if device == "cuda":
                torch.cuda.synchronize()
            return time.perf_counter() - start

    run(1, 8)  # warm-up
    batched = statistics.median(run(8, args.new_tokens) for _ in range(args.rounds))
    single = statistics.median(run(1, args.new_tokens) for _ in range(args.rounds))
    one_at_a_time = 8 * single  # eight sequential calls of one, measured as one call times eight
    return {
        "bench": "generate",
        "model": "deepseek-1.3b-random",
        "device": device,
        "dtype": str(dtype),
        "candidates": 8,
        "new_tokens": args.new_tokens,
        "prompt_tokens": args.prompt_tokens,
        "batched_s": round(batched, 2),
        "one_at_a_time_s": round(one_at_a_time, 2),
        "speedup": round(one_at_a_time / batched, 2),
        "batched_tokens_per_s": round(8 * args.new_tokens / batched, 1),
        "single_tokens_per_s": round(args.new_tokens / single, 1),
        "target_gpu_batched_s": 3.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", choices=["embedded", "deepseek-1.3b"], default="embedded")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cli-rounds", type=int, default=2)
    parser.add_argument("--new-tokens", type=int, default=400)
    parser.add_argument("--prompt-tokens", type=int, default=250)
    parser.add_argument("--decoder", choices=["loop", "hf"], default="loop", help="the embedded model's decoder")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    args = parser.parse_args()
    figures = bench_embedded(args) if args.arch == "embedded" else bench_deepseek(args)
    print(
        f"8 candidates: batched {figures['batched_s']} s vs one at a time {figures['one_at_a_time_s']} s "
        f"({figures['speedup']}x)"
    )
    emit(figures)


if __name__ == "__main__":
    main()
