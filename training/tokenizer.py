"""A tokenizer fit to the node-list format, trained with `tokenizers` for the embedded tiny model.

A plain byte-level BPE spends ~650 tokens on a median answer; this one first isolates whole
fields (a number with its leading comma, a quoted shape or style, a colour tuple, a whole target
list, a node's opening and closing), so BPE can learn each frequent field as one token while no
token ever spans two fields or the prompt/answer boundary.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from ml.prompt import FIXED_SENTENCES

USER, ASSISTANT, END, PAD = "<|user|>", "<|assistant|>", "<|end|>", "<|pad|>"
SPECIAL_TOKENS = [PAD, END, USER, ASSISTANT]
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}" + USER + "{{ message['content'] }}"
    "{% else %}" + ASSISTANT + "{{ message['content'] }}" + END + "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}" + ASSISTANT + "{% endif %}"
)
# Words the format itself uses in quotes: each stays one field, as in the node lists.
FORMAT_WORDS = (
    "rectangle",
    "round rectangle",
    "circle",
    "solid arrow",
    "solid line",
    "dashed line",
    "data",
    "database",
    "picture",
    "chart",
    "function",
    "process",
    "model",
)
FIELD_PATTERN = (
    r"\[\n"  # opening of the node list
    r"|\],\n|\]\n\]|\]\n?"  # end of a node, end of the list
    r"|\[-?\d+"  # opening of a node with its id
    r"|(?:, )?\[(?:-?\d+(?:, -?\d+)*)?\]"  # a whole target list
    r"|(?:, )?\(\d+, \d+, \d+\)"  # a colour tuple
    r'|(?:, )?"(?:' + "|".join(FORMAT_WORDS) + r')"(?=[,\]])'  # a quoted shape, style or kind
    r"|, -?\d+"  # a number with its leading comma
    r'|, "'  # a label's opening quote: the label is cut as prose
    r"| ?[A-Za-z]+| ?\d+| ?[^\sA-Za-z\d]|\s+"  # prose
)
"""Labels are the user's words, so they are cut exactly as the request is. The model writes each
label with a leading space (`, " strip HTML"`; parsers drop it), so every word of a name has the
same token ids in the prompt and in the answer, which is what lets it copy names it never saw."""


def set_pre_tokenizer(tokenizer) -> None:
    """Cut text by FIELD_PATTERN (in place): also turns an older tokenizer into this one, keeping its vocabulary."""
    tokenizer.backend_tokenizer.pre_tokenizer = _pre_tokenizer()


def _pre_tokenizer():
    return pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(FIELD_PATTERN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )


def build_tokenizer(texts, vocab_size: int = 4096) -> PreTrainedTokenizerFast:
    """Train the field-level BPE on `texts` (prompts and answers) and wrap it for transformers."""
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = _pre_tokenizer()
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(texts, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        eos_token=END,
        pad_token=PAD,
        bos_token=None,
        unk_token=None,
        clean_up_tokenization_spaces=False,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.add_special_tokens({"additional_special_tokens": [USER, ASSISTANT]})
    # The prompt's fixed sentences cost one token each instead of ~180 tokens per example.
    tokenizer.add_tokens(list(FIXED_SENTENCES))
    return tokenizer


def retokenize(source: Path, out: Path) -> Path:
    """Copy a trained model folder with its tokenizer cut by FIELD_PATTERN (same vocabulary, same ids).

    The start of an open-vocabulary stage: a model trained with whole-label tokens learns, from
    here, to write labels cut as the request is (and so to copy them).
    """
    from transformers import AutoTokenizer

    shutil.copytree(source, out, dirs_exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(out)
    set_pre_tokenizer(tokenizer)
    tokenizer.save_pretrained(out)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Copy a model folder with the label-copying tokenizer.")
    parser.add_argument("source")
    parser.add_argument("out")
    args = parser.parse_args(argv)
    print(retokenize(Path(args.source), Path(args.out)))


if __name__ == "__main__":
    main()
