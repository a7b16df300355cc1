"""Growing a trained model deeper (training.grow) keeps what it computes and leaves room to learn."""

from __future__ import annotations

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from training.grow import grow, main


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=97,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=64,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    with torch.no_grad():  # trained-looking weights: nothing zero by accident
        for parameter in model.parameters():
            parameter.normal_(0, 0.2)
    return model.eval()


def test_the_grown_model_writes_exactly_what_the_original_wrote(model):
    grown = grow(model, 3).eval()
    assert grown.config.num_hidden_layers == 6
    ids = torch.randint(0, 97, (2, 20))
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, grown(ids).logits, atol=1e-5)


def test_the_added_layers_copy_their_inputs_and_start_as_identity_blocks(model):
    grown = grow(model, 2)
    old, copy = model.model.layers[1], grown.model.layers[3]
    assert torch.equal(copy.self_attn.q_proj.weight, old.self_attn.q_proj.weight)
    assert torch.equal(copy.mlp.up_proj.weight, old.mlp.up_proj.weight)
    assert not copy.self_attn.o_proj.weight.any() and not copy.mlp.down_proj.weight.any()
    assert torch.equal(grown.model.layers[2].mlp.down_proj.weight, old.mlp.down_proj.weight)


def test_every_added_layer_learns_from_the_first_step(model):
    grown = grow(model, 2)
    ids = torch.randint(0, 97, (2, 12))
    grown(ids, labels=ids).loss.backward()
    for layer in grown.model.layers[1::2]:
        assert layer.self_attn.o_proj.weight.grad.abs().sum() > 0
        assert layer.mlp.down_proj.weight.grad.abs().sum() > 0


def test_grow_refuses_a_factor_below_one(model):
    with pytest.raises(ValueError):
        grow(model, 0)


def test_the_command_saves_a_loadable_model_with_the_tokenizer_files(model, tmp_path):
    source, out = tmp_path / "source", tmp_path / "grown"
    model.save_pretrained(source)
    (source / "tokenizer.json").write_text("{}")
    (source / "training.json").write_text("{}")
    main([str(source), "--out", str(out), "--factor", "2"])
    assert LlamaForCausalLM.from_pretrained(out).config.num_hidden_layers == 4
    assert (out / "tokenizer.json").exists() and not (out / "training.json").exists()


def test_decoding_settings_are_kept(model):
    model.generation_config.use_cache = True
    model.generation_config.eos_token_id = 5
    grown = grow(model, 2)
    assert grown.generation_config.use_cache is True and grown.generation_config.eos_token_id == 5
