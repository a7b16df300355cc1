"""The prompt the generator is trained and run with (the seed's text, plus the optional label field)."""

from __future__ import annotations

INSTRUCTION = "Represent below as a Python list."
FORMAT_LEAD = "in the following format."
NODE_FORMAT = (
    'At this time, each node is represented in the format of Python list "[node No., X position (px), '
    "Y position (px), shape (rectangle, round rectangle or circle), width (px), height (px), "
    "connection line shape (solid arrow, solid line or dashed line), background color, connection line color, "
    'list of node No. s of other nodes pointed to by the connection line, label (optional text)]".'
)
COLOUR_FORMAT = (
    "At this time, the color is represented in the format of tuple (R, G, B), between 0 and 255, and "
    "X position range is 0-1000 and Y position range is 0-600."
)
READABILITY = "It is important to draw a representation of high readability."
FORMAT_DESCRIPTION = f"{NODE_FORMAT}\n\n{COLOUR_FORMAT}\n\n{READABILITY}"
# The sentences every prompt repeats: a tokenizer built for this format keeps each as one token.
FIXED_SENTENCES = (INSTRUCTION, FORMAT_LEAD, NODE_FORMAT, COLOUR_FORMAT, READABILITY)
MAX_REQUEST_CHARS = 1000


def user_message(request: str) -> str:
    """The seed's prompt around one request."""
    request = request.strip()
    return f"{INSTRUCTION}\n\n{request}\n\n{FORMAT_LEAD}\n\n{FORMAT_DESCRIPTION}"


def chat(request: str) -> list[dict]:
    return [{"role": "user", "content": user_message(request)}]


def prompt_ids(tokenizer, request: str) -> list[int]:
    """Token ids of the prompt, ending where the answer starts (same ids in training and inference)."""
    ids = tokenizer.apply_chat_template(chat(request), tokenize=True, add_generation_prompt=True)
    if isinstance(ids, dict) or hasattr(ids, "keys"):  # transformers may return a BatchEncoding
        ids = ids["input_ids"]
    return list(ids)


def answer_ids(tokenizer, answer: str) -> list[int]:
    """Token ids of the answer, ended by EOS so that generation learns to stop at the list's end."""
    return list(tokenizer(answer, add_special_tokens=False)["input_ids"]) + [tokenizer.eos_token_id]
