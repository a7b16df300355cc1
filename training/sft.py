"""Supervised fine-tuning with trl's SFTTrainer (the library part: training/sft_trainer.py).

Two presets, one script:
- `--preset tiny`: a small Llama-architecture model trained from scratch on CPU, with its own
  field-level tokenizer (training/tokenizer.py). This is the embedded offline default.
- `--preset lora`: `--base deepseek-ai/deepseek-coder-1.3b-instruct` (hub id or local path) with a
  LoRA adapter (peft), dtype chosen by the GPU.

Prompt and answer are tokenized separately (ml/prompt.py), the answer ends with EOS, and the
loss covers the answer only. Checkpoints are safetensors; `--resume` continues the last one.

    python -m training.sft --preset tiny --data data/synthetic --out runs/tiny --max-steps 6000
    python -m training.sft --preset lora --base deepseek-ai/deepseek-coder-1.3b-instruct --out runs/lora
"""

from __future__ import annotations

import logging

from training import options
from training.sft_trainer import SFTSettings, train


def parse_args(argv: list[str] | None = None) -> SFTSettings:
    parser = options.add(options.parser(__doc__), SFTSettings)
    return options.build(SFTSettings, parser.parse_args(argv))


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    print(f"final model: {train(parse_args(argv))}")


if __name__ == "__main__":
    main()
