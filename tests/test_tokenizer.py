"""The embedded model's tokenizer: lossless, cheap on answers, one token per fixed prompt sentence,
and no token across a field of the node list or across the prompt/answer boundary."""

from __future__ import annotations

import pytest

from ml.diagram import Diagram, Node
from ml.grammar import token_bytes
from ml.parser import serialize
from ml.prompt import FIXED_SENTENCES, answer_ids, chat, prompt_ids, user_message
from training.synthetic import generate
from training.tokenizer import ASSISTANT, END, PAD, USER, build_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    examples = generate(500, "train", seed=0)
    texts = [user_message(e.request) for e in examples] + [e.answer for e in examples]
    return build_tokenizer(texts)


@pytest.fixture(scope="module")
def held_out():
    """Examples the tokenizer was not trained on, phrasings and structures included."""
    return generate(90, "val", seed=1) + generate(90, "test", seed=1)


def _encode(tokenizer, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _field_starts(answer: str) -> set[int]:
    """Offsets where a field of a canonical node list begins (worked out here, not by the tokenizer's regex)."""
    starts = {0, 2}  # "[\n", then the first node
    offset = 2
    for line in answer[2:].split("\n"):
        depth, quoted, escaped = 0, False, False
        for i, ch in enumerate(line):
            pos = offset + i
            if quoted:
                if escaped:
                    escaped = False
                elif ch == "\\":
                    escaped = True
                elif ch == '"':
                    quoted = False
                continue
            if ch == '"':
                quoted = True
            elif ch in "[(":
                if depth == 0:
                    starts.add(pos)  # a node opens
                depth += 1
            elif ch in "])":
                depth -= 1
                if depth == 0:
                    starts.add(pos)  # a node closes
            elif ch == "," and depth == 1:
                starts.add(pos)  # the next field, with its leading comma
        offset += len(line) + 1
    return starts


def test_special_tokens(tokenizer):
    assert tokenizer.eos_token == END
    assert tokenizer.pad_token == PAD
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    for token in (USER, ASSISTANT, END, PAD):
        assert _encode(tokenizer, token) == [tokenizer.convert_tokens_to_ids(token)]


def test_round_trip_many_answers(tokenizer, held_out):
    for example in held_out:
        ids = _encode(tokenizer, example.answer)
        assert tokenizer.decode(ids) == example.answer
        assert tokenizer.decode(answer_ids(tokenizer, example.answer), skip_special_tokens=True) == example.answer


def test_round_trip_unusual_labels(tokenizer):
    labels = ['say "hi"', "back\\slash", "Données → 日本語", "tab\tand  spaces", "emoji 🙂", "]],\n[["]
    nodes = tuple(
        Node(i + 1, 100 * i, 50, "rectangle", 60, 40, "solid line", (1, 2, 3), (250, 251, 252), (), label)
        for i, label in enumerate(labels)
    )
    text = serialize(Diagram(nodes))
    assert tokenizer.decode(_encode(tokenizer, text)) == text


def test_round_trip_requests(tokenizer, held_out):
    for example in held_out[:40]:
        message = user_message(example.request)
        assert tokenizer.decode(_encode(tokenizer, message)) == message


def test_answers_compress_to_at_least_five_chars_per_token(tokenizer, held_out):
    chars = sum(len(e.answer) for e in held_out)
    tokens = sum(len(_encode(tokenizer, e.answer)) for e in held_out)
    assert chars / tokens >= 5, chars / tokens


def test_each_fixed_sentence_is_one_token(tokenizer):
    assert len(FIXED_SENTENCES) == 5
    ids = []
    for sentence in FIXED_SENTENCES:
        encoded = _encode(tokenizer, sentence)
        assert len(encoded) == 1, (sentence, encoded)
        assert tokenizer.decode(encoded) == sentence
        ids += encoded
    assert len(set(ids)) == len(FIXED_SENTENCES)


def test_prompt_holds_each_fixed_sentence_as_one_token(tokenizer):
    request = "A neural network with 3 inputs, 5 hidden nodes and 2 outputs"
    ids = prompt_ids(tokenizer, request)
    for sentence in FIXED_SENTENCES:
        assert tokenizer.convert_tokens_to_ids(sentence) in ids, sentence
    # The fixed text costs 5 tokens, so the prompt is little more than the request itself.
    assert len(ids) <= len(_encode(tokenizer, request)) + len(FIXED_SENTENCES) + 8


def test_prompt_ids_frame(tokenizer, held_out):
    user_id = tokenizer.convert_tokens_to_ids(USER)
    assistant_id = tokenizer.convert_tokens_to_ids(ASSISTANT)
    for example in held_out[:30]:
        ids = prompt_ids(tokenizer, example.request)
        assert all(isinstance(i, int) for i in ids)
        assert ids[0] == user_id
        assert ids[-1] == assistant_id
        assert ids.count(assistant_id) == 1
        assert tokenizer.eos_token_id not in ids
        assert tokenizer.decode(ids) == USER + user_message(example.request) + ASSISTANT


def test_answer_ids_end_with_eos(tokenizer, held_out):
    for example in held_out[:30]:
        ids = answer_ids(tokenizer, example.answer)
        assert ids[-1] == tokenizer.eos_token_id
        assert ids.count(tokenizer.eos_token_id) == 1
        assert ids[:-1] == _encode(tokenizer, example.answer)


def test_no_token_spans_two_fields(tokenizer, held_out):
    all_pieces = token_bytes(tokenizer)
    for example in held_out:
        answer = example.answer
        pieces = [all_pieces[i] for i in _encode(tokenizer, answer)]
        assert b"".join(pieces).decode("utf-8") == answer
        for piece in pieces:
            assert b"],\n[" not in piece and b"\n[" not in piece, repr(piece)
            assert b'", "' not in piece and b"), (" not in piece and b"], " not in piece, repr(piece)
        boundaries, offset = {0}, 0
        for piece in pieces:
            offset += len(piece)
            boundaries.add(offset)
        # The plan line comes first; the node list starts on a token boundary after it (offsets in bytes).
        plan_end = answer.index("\n") + 1
        body = answer[plan_end:]
        starts = {len(answer[: plan_end + start].encode()) for start in _field_starts(body)}
        assert len(starts) >= 11 * answer[plan_end:].count("\n[")
        missing = sorted(starts - boundaries)
        assert not missing, [answer[m - 5 : m + 5] for m in missing[:5]]


def test_no_token_crosses_the_prompt_answer_boundary(tokenizer, held_out):
    texts = token_bytes(tokenizer)
    assistant_id = tokenizer.convert_tokens_to_ids(ASSISTANT)
    for example in held_out[:30]:
        prompt = prompt_ids(tokenizer, example.request)
        answer = answer_ids(tokenizer, example.answer)
        assert prompt[-1] == assistant_id
        # The answer's first token starts the plan line; nothing of the prompt leaks into it.
        assert b"".join(texts[i] for i in answer[:-1]).decode("utf-8") == example.answer
        assert texts[answer[0]] == b"#"


@pytest.mark.parametrize("name", ["strip HTML", "train a BPE tokenizer", "로그 수집", "Xzq-7 kvp 3D", "모델 학습 v2"])
def test_a_name_has_the_same_token_ids_in_the_request_and_in_the_answer(tokenizer, name):
    # What lets the model copy a name it never saw: the answer writes it (after a space) with the prompt's ids.
    request_ids = _encode(tokenizer, f"Pipeline: {name} -> deploy")
    answer_ids_ = _encode(tokenizer, f'# nodes: [1, " {name}", "process"]')
    name_ids = _encode(tokenizer, f" {name}")

    def contains(ids, part):
        return any(ids[i : i + len(part)] == part for i in range(len(ids) - len(part) + 1))

    assert contains(request_ids, name_ids) and contains(answer_ids_, name_ids)


def test_chat_template_renders_roles(tokenizer):
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": "draw a cnn"}, {"role": "assistant", "content": "[\n]"}], tokenize=False
    )
    assert rendered == USER + "draw a cnn" + ASSISTANT + "[\n]" + END
    generation = tokenizer.apply_chat_template(chat("draw a cnn"), tokenize=False, add_generation_prompt=True)
    assert generation.startswith(USER + user_message("draw a cnn"))
    assert generation.endswith(ASSISTANT)
    assert END not in generation
