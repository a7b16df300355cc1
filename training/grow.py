"""Deepen a trained Llama without changing what it computes, so training can go on with more room.

    python -m training.grow runs/tiny-v6/final --out runs/tiny-v8-grown --factor 2
    python -m training.sft --preset tiny --init runs/tiny-v8-grown ...

Training the embedded model longer at its size stopped paying (its learning curve levelled off),
and training a bigger one from scratch would throw away hours of CPU training. Growing keeps both:
after each trained layer come (factor - 1) copies of it whose output projections (attention o_proj
and MLP down_proj) are zero. A zero output projection makes a residual block the identity, so the
grown model writes exactly what the original wrote; the copies start from the original's input
weights and learn from the first step on.
"""

from __future__ import annotations

import argparse
import copy
import logging
import shutil
from pathlib import Path

import torch

log = logging.getLogger(__name__)
_ZEROED = ("self_attn.o_proj.weight", "mlp.down_proj.weight")
_NOT_COPIED = {"training_args.bin", "training.json"}


def grow(model, factor: int):
    """A new model with `factor` times the layers; the added ones are identity blocks (see module doc)."""
    from transformers import AutoModelForCausalLM

    if factor < 1:
        raise ValueError("factor must be at least 1")
    config = model.config.__class__.from_dict(model.config.to_dict())
    old_layers = config.num_hidden_layers
    config.num_hidden_layers = old_layers * factor
    if getattr(config, "layer_types", None):
        config.layer_types = [t for t in config.layer_types for _ in range(factor)]
    grown = AutoModelForCausalLM.from_config(config)
    source = model.state_dict()
    state = {}
    for key, value in source.items():
        if not key.startswith("model.layers."):
            state[key] = value.clone()
            continue
        index, rest = key[len("model.layers.") :].split(".", 1)
        for repeat in range(factor):
            new_key = f"model.layers.{int(index) * factor + repeat}.{rest}"
            state[new_key] = torch.zeros_like(value) if repeat and rest in _ZEROED else value.clone()
    missing, unexpected = grown.load_state_dict(state, strict=False)
    missing = [k for k in missing if k != "lm_head.weight" or not config.tie_word_embeddings]
    if missing or unexpected:
        raise ValueError(f"cannot grow this model: missing {missing[:3]}, unexpected {unexpected[:3]}")
    if config.tie_word_embeddings:
        grown.tie_weights()
    # Decoding settings travel too: a fresh one would follow the training config (use_cache off).
    grown.generation_config = copy.deepcopy(model.generation_config)
    return grown


def main(argv: list[str] | None = None) -> None:
    from transformers import AutoModelForCausalLM

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="trained model folder (runs/.../final)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--factor", type=int, default=2, help="layers in the grown model per original layer")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    source, out = Path(args.source), Path(args.out)
    model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32)  # bf16-stored weights too
    grown = grow(model, args.factor)
    grown.save_pretrained(out)
    for path in source.iterdir():  # tokenizer, chat template: everything but weights and training state
        if path.is_file() and not (out / path.name).exists() and path.name not in _NOT_COPIED:
            shutil.copy(path, out / path.name)
    log.info(
        "%s: %d -> %d layers, %.2f M -> %.2f M parameters",
        out,
        model.config.num_hidden_layers,
        grown.config.num_hidden_layers,
        model.num_parameters() / 1e6,
        grown.num_parameters() / 1e6,
    )


if __name__ == "__main__":
    main()
