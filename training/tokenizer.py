"""A tokenizer fit to the node-list format, trained with `tokenizers` for the embedded tiny model.

A plain byte-level BPE spends ~650 tokens on a median answer; this one first isolates whole
fields (a number with its leading comma, a quoted shape or style, a colour tuple, a whole target
list, a node's opening and closing), so BPE can learn each frequent field as one token while no
token ever spans two fields or the prompt/answer boundary.
"""

from __future__ import annotations

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
FIELD_PATTERN = (
    r"\[\n"                                   # opening of the node list
    r"|\],\n|\]\n\]|\]\n?"                    # end of a node, end of the list
    r"|\[-?\d+"                               # opening of a node with its id
    r"|(?:, )?\[(?:-?\d+(?:, -?\d+)*)?\]"     # a whole target list
    r"|(?:, )?\(\d+, \d+, \d+\)"              # a colour tuple
    r'|(?:, )?"[^"\n]*"'                      # a quoted shape, style or label
    r"|, -?\d+"                               # a number with its leading comma
    r"| ?[A-Za-z]+| ?\d+| ?[^\sA-Za-z\d]|\s+"  # prose
)


def build_tokenizer(texts, vocab_size: int = 4096) -> PreTrainedTokenizerFast:
    """Train the field-level BPE on `texts` (prompts and answers) and wrap it for transformers."""
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(FIELD_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    core.train_from_iterator(texts, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, eos_token=END, pad_token=PAD,
                                        bos_token=None, unk_token=None, clean_up_tokenization_spaces=False)
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.add_special_tokens({"additional_special_tokens": [USER, ASSISTANT]})
    # The prompt's fixed sentences cost one token each instead of ~180 tokens per example.
    tokenizer.add_tokens(list(FIXED_SENTENCES))
    return tokenizer
