"""Grammar-constrained decoding: prefix checks, completion, and the logits processor on a real tokenizer."""

from __future__ import annotations

import random
import string

import pytest
import regex
import torch

from ml.diagram import Diagram, Node
from ml.grammar import (
    LIST_END,
    ListEndStop,
    NodeListGrammar,
    completion,
    extends,
    is_complete,
    is_valid_prefix,
    split_utf8,
    token_bytes,
)
from ml.node_syntax import ANSWER
from ml.parser import parse, serialize
from ml.prompt import prompt_ids, user_message
from training.synthetic import generate
from training.tokenizer import build_tokenizer

NODE_1 = '[1, 80, 300, "circle", 54, 54, "solid arrow", (229, 245, 224), (0, 0, 0), [2]]'
NODE_2 = '[2, 500, 300, "round rectangle", 120, 60, "dashed line", (255, 255, 255), (40, 40, 40), [], "Clean"]'
TEXT = "[\n" + NODE_1 + ",\n" + NODE_2 + "\n]"


@pytest.fixture(scope="module")
def examples():
    return generate(30, "val", seed=2) + generate(30, "test", seed=2)


@pytest.fixture(scope="module")
def tokenizer():
    train = generate(500, "train", seed=0)
    return build_tokenizer([user_message(e.request) for e in train] + [e.answer for e in train])


@pytest.fixture(scope="module")
def pieces(tokenizer):
    return token_bytes(tokenizer)


@pytest.fixture(scope="module")
def texts(pieces):
    """Each token as text, for the tests that only meet whole characters."""
    return [piece.decode("utf-8", "replace") for piece in pieces]


def _labelled(*labels: str) -> str:
    nodes = tuple(
        Node(
            i + 1,
            100 + 100 * i,
            300,
            "rectangle",
            80,
            40,
            "solid arrow",
            (255, 255, 255),
            (0, 0, 0),
            (i + 2,) if i + 1 < len(labels) else (),
            label,
        )
        for i, label in enumerate(labels)
    )
    return serialize(Diagram(nodes))


# ---------------------------------------------------------------- prefixes


def test_every_prefix_of_a_handwritten_list_is_valid():
    assert parse(TEXT).warnings == []
    for i in range(len(TEXT) + 1):
        assert is_valid_prefix(TEXT[:i]), repr(TEXT[:i])


def test_every_prefix_of_generated_answers_is_valid(examples):
    for example in examples:
        answer = example.answer
        for i in range(len(answer) + 1):
            assert is_valid_prefix(answer[:i]), (example.request, answer[max(0, i - 40) : i])


@pytest.mark.parametrize(
    "labels",
    [
        ['say "hi"', "plain"],
        ['"', '\\"', "back\\slash"],
        ['a \\ "b" \\\\ c', "Données → 日本"],
        ["], [x", "(1, 2, 3)", ""],
    ],
)
def test_every_prefix_with_escaped_labels_is_valid(labels):
    text = _labelled(*labels)
    assert [n.label for n in parse(text).diagram.nodes] == [label or None for label in labels]
    for i in range(len(text) + 1):
        assert is_valid_prefix(text[:i]), repr(text[:i])
    assert is_complete(text)


@pytest.mark.parametrize(
    "broken",
    [
        TEXT.replace("[1, 80,", "[1 80,"),  # missing comma
        TEXT.replace('"circle"', '"oval"'),  # unknown shape
        TEXT.replace('"solid arrow"', '"dotted arrow"'),  # unknown line style
        TEXT.replace("(229, 245, 224)", "(229, 256, 224)"),  # colour 256
        TEXT.replace("(229, 245, 224)", "(229, 245)"),  # two channels
        TEXT.replace('"circle", 54', '"circle",\n54'),  # newline inside a node
        TEXT.replace('"Clean"', '"Cl\nean"'),  # newline inside a label
        TEXT.replace('"Clean"', '"Cl"ean"'),  # unescaped quote
        TEXT.replace("[2]]", "[2],]"),  # trailing comma
        TEXT.replace("],\n[2", "]\n[2"),  # no comma between nodes
        TEXT.replace("[\n[1", "[[1"),  # no newline after the head
        TEXT.replace("[1, 80", "[1, 80.5"),  # not an integer
        "x" + TEXT,  # chatter before the list
        "```\n" + TEXT,  # a code fence
    ],
)
def test_prefixes_that_break_the_format(broken):
    assert broken != TEXT
    assert not is_valid_prefix(broken)
    # The text stops being a valid prefix right where it departs from the format (or a character later).
    cut = next(i for i in range(len(broken) + 1) if not is_valid_prefix(broken[:i]))
    differ = next(i for i, (a, b) in enumerate(zip(broken, TEXT)) if a != b)
    assert differ < cut <= differ + 2, (differ, cut)


def test_colour_256_is_rejected_at_the_digit():
    at = TEXT.index("(229") + 1
    assert is_valid_prefix(TEXT[:at] + "25")
    assert is_valid_prefix(TEXT[:at] + "255")
    assert not is_valid_prefix(TEXT[:at] + "256")


def test_text_after_the_list_end_is_invalid():
    assert not is_valid_prefix(TEXT + "\n")
    assert not is_valid_prefix(TEXT + ",")
    assert not is_complete(TEXT + "\n")


def test_empty_list_is_not_a_diagram():
    assert not is_valid_prefix("[\n]")
    assert not is_complete("[\n]")


def test_one_plan_line_may_precede_the_list():
    planned = "# nodes: [1][2]\n" + TEXT
    assert all(is_valid_prefix(planned[:i]) for i in range(len(planned) + 1))
    assert is_complete(planned)
    assert parse(planned).diagram == parse(TEXT).diagram


def test_only_one_plan_line_and_only_at_the_start():
    assert not is_valid_prefix("# plan\n# again\n")
    assert not is_valid_prefix("[\n# plan\n")
    assert not is_valid_prefix("# plan\n\n[")


def test_a_runaway_plan_line_is_cut_off():
    assert is_valid_prefix("# " + "x" * 100)
    assert not is_valid_prefix("# " + "x" * 5000)
    assert not is_complete("# " + "x" * 5000 + "\n" + TEXT)


# ---------------------------------------------------------------- completion


def test_is_complete_only_on_the_whole_list(examples):
    for text in [TEXT] + [e.answer for e in examples[:20]]:
        assert text.endswith(LIST_END)
        assert [i for i in range(len(text) + 1) if is_complete(text[:i])] == [len(text)]


def test_single_node_list_is_complete():
    assert is_complete("[\n" + NODE_2 + "\n]")
    assert not is_complete("[\n" + NODE_2 + ",\n]")


@pytest.mark.parametrize(
    "broken",
    [
        TEXT.replace('"Clean"', "Clean"),
        TEXT.replace("(255, 255, 255)", "(255, 255, 256)"),
        TEXT.replace("[], ", "[]"),
        TEXT[:-3] + "]]",
        TEXT[:-2],
    ],
)
def test_is_complete_false_when_the_last_node_is_broken(broken):
    assert not is_complete(broken)


@pytest.mark.parametrize(
    "broken",
    [
        "[\nnot a node],\n" + NODE_2 + "\n]",  # garbage first node
        TEXT.replace("[1, 80,", "[1 80,"),  # missing comma in node 1
        TEXT.replace('"circle"', '"oval"'),  # unknown shape in node 1
        TEXT.replace("(229, 245, 224)", "(229, 256, 224)"),  # colour 256 in node 1
    ],
)
def test_is_complete_rejects_a_malformed_earlier_node(broken):
    assert not is_valid_prefix(broken)
    assert not is_complete(broken)


# ---------------------------------------------------------------- extends


def test_extends_agrees_with_is_valid_prefix_on_random_cuts(examples, texts):
    rng = random.Random(1234)
    sources = [TEXT, _labelled('say "hi"', "b\\c")] + [e.answer for e in examples[:20]]
    vocabulary = [t for t in texts if t]
    agreed = {True: 0, False: 0}
    for _ in range(3000):
        answer = rng.choice(sources)
        cut = rng.randrange(len(answer) + 1)
        text = answer[:cut]
        kind = rng.random()
        if kind < 0.4:
            addition = answer[cut : cut + rng.randint(1, 20)]
        elif kind < 0.75:
            addition = rng.choice(vocabulary)
        else:
            addition = "".join(rng.choice(string.printable) for _ in range(rng.randint(1, 4)))
        if not addition:
            continue
        expected = is_valid_prefix(text + addition)
        assert extends(text, addition) == expected, (text[-40:], addition)
        agreed[expected] += 1
    assert agreed[True] > 300 and agreed[False] > 300, agreed


def test_extends_from_nothing():
    assert extends("", "[")
    assert extends("", "[\n[1")
    assert extends("[", "\n")
    assert not extends("", "]")
    assert not extends("", "[1")


# ---------------------------------------------------------------- token_texts


def test_token_bytes_rebuild_answers_in_any_script(tokenizer, pieces, examples):
    assert len(pieces) == len(tokenizer)
    assert pieces[tokenizer.eos_token_id] == b""
    assert pieces[tokenizer.pad_token_id] == b""
    korean = [e for e in examples if any("\uac00" <= ch <= "\ud7a3" for ch in e.answer)]
    assert korean, "the examples should include Korean names"
    for example in examples[:10] + korean[:10]:
        ids = tokenizer(example.answer, add_special_tokens=False)["input_ids"]
        assert b"".join(pieces[i] for i in ids).decode("utf-8") == example.answer


def test_split_utf8_holds_back_an_unfinished_character():
    whole, rest = split_utf8("가".encode()[:2])
    assert (whole, rest) == ("", "가".encode()[:2])
    assert split_utf8("ab가".encode()) == ("ab가", b"")
    assert split_utf8(b"\xff") is None


# ---------------------------------------------------------------- NodeListGrammar


def _ids(tokenizer, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _invalid_after(text: str, texts: list[str], exclude: set[int]) -> int:
    """A non-empty token whose text cannot follow `text`."""
    for token_id, token_text in enumerate(texts):
        if token_text and token_id not in exclude and not is_valid_prefix(text + token_text):
            return token_id
    raise AssertionError("no invalid token found")


def test_grammar_masks_an_invalid_top_token(tokenizer, texts, pieces, examples):
    answer = examples[0].answer
    prompt = prompt_ids(tokenizer, examples[0].request)
    ids = _ids(tokenizer, answer)
    for cut in (0, 1, 5, len(ids) // 2, len(ids) - 1):
        text = "".join(texts[i] for i in ids[:cut])
        valid = ids[cut]
        invalid = _invalid_after(text, texts, {valid, tokenizer.eos_token_id})
        scores = torch.zeros(1, len(texts))
        scores[0, invalid] = 10.0
        scores[0, valid] = 5.0
        processor = NodeListGrammar(tokenizer, len(prompt), top_k=8, pieces=pieces)
        out = processor(torch.tensor([prompt + ids[:cut]]), scores.clone())
        assert out[0, invalid] == float("-inf")
        assert torch.isfinite(out[0, valid]) and out[0, valid] == 5.0
        assert out[0, tokenizer.eos_token_id] == float("-inf")
        for token_id in torch.isfinite(out[0]).nonzero().flatten().tolist():
            assert is_valid_prefix(text + texts[token_id]), texts[token_id]


def test_grammar_falls_back_to_a_scan_when_the_top_k_are_all_invalid(tokenizer, texts, pieces):
    prompt = prompt_ids(tokenizer, "an MLP: 2 -> 1")
    scores = torch.zeros(1, len(texts))
    head = _ids(tokenizer, "[\n")
    bad = [t for t in range(len(texts)) if texts[t] and not is_valid_prefix(texts[t])][:4]
    scores[0, bad] = 10.0
    scores[0, head[0]] = -5.0
    out = NodeListGrammar(tokenizer, len(prompt), top_k=4, pieces=pieces)(torch.tensor([prompt]), scores)
    assert all(out[0, t] == float("-inf") for t in bad)
    assert torch.isfinite(out[0, head[0]])


def test_grammar_allows_only_eos_once_complete(tokenizer, texts, pieces, examples):
    example = examples[1]
    prompt = prompt_ids(tokenizer, example.request)
    ids = _ids(tokenizer, example.answer)
    scores = torch.randn(1, len(texts))
    scores[0, ids[0]] = 50.0  # even a strongly preferred token is masked
    out = NodeListGrammar(tokenizer, len(prompt), pieces=pieces)(torch.tensor([prompt + ids]), scores.clone())
    finite = torch.isfinite(out[0]).nonzero().flatten().tolist()
    assert finite == [tokenizer.eos_token_id]


def test_grammar_rows_are_independent_and_extra_vocab_is_masked(tokenizer, texts, pieces, examples):
    ordered = sorted((_ids(tokenizer, e.answer) for e in examples), key=len)
    ids_a, ids_b = ordered[0], ordered[-1]
    assert len(ids_a) < len(ids_b)
    prompt = prompt_ids(tokenizer, "one prompt for both rows")
    rows = torch.tensor([prompt + ids_a, prompt + ids_b[: len(ids_a)]])  # row 0 done, row 1 mid-way
    scores = torch.zeros(2, len(texts) + 7)  # a model may pad its vocabulary
    scores[:, ids_b[len(ids_a)]] = 3.0
    out = NodeListGrammar(tokenizer, len(prompt), pieces=pieces)(rows, scores)
    assert torch.isfinite(out[0]).nonzero().flatten().tolist() == [tokenizer.eos_token_id]
    assert torch.isfinite(out[1, ids_b[len(ids_a)]])
    assert out[1, tokenizer.eos_token_id] == float("-inf")
    assert torch.isinf(out[:, len(texts) :]).all()


def test_grammar_steers_greedy_decoding_to_the_answer(tokenizer, texts, pieces, examples):
    """Step by step, the worst token scores highest and the right one second: decoding still yields the answer."""
    example = min(examples, key=lambda e: len(e.answer))
    prompt = prompt_ids(tokenizer, example.request)
    target = _ids(tokenizer, example.answer)
    processor = NodeListGrammar(tokenizer, len(prompt), top_k=8, pieces=pieces)
    generated: list[int] = []
    for step in range(len(target) + 1):
        text = "".join(texts[i] for i in generated)
        scores = torch.zeros(1, len(texts))
        if step < len(target):
            scores[0, target[step]] = 2.0
        scores[0, _invalid_after(text, texts, set(target[step : step + 1]) | {tokenizer.eos_token_id})] = 9.0
        out = processor(torch.tensor([prompt + generated]), scores)
        choice = int(out[0].argmax())
        if choice == tokenizer.eos_token_id:
            break
        generated.append(choice)
    assert generated == target
    assert step == len(target)
    assert is_complete("".join(texts[i] for i in generated))


# ---------------------------------------------------------------- ListEndStop


def test_list_end_stop(tokenizer, texts, pieces, examples):
    prompt = prompt_ids(tokenizer, "stop")
    ids = _ids(tokenizer, examples[0].answer)
    stop = ListEndStop(tokenizer, len(prompt), pieces=pieces)
    rows = torch.tensor([prompt + ids, prompt + ids[:-1] + [tokenizer.pad_token_id]])
    assert stop(rows, None).tolist() == [True, False]
    assert stop(torch.tensor([prompt + ids[:3]]), None).tolist() == [False]
    # Nothing of the prompt counts, even if the prompt itself ended with the list end.
    tail_prompt = prompt + _ids(tokenizer, examples[0].answer[-8:])
    stop = ListEndStop(tokenizer, len(tail_prompt), pieces=pieces)
    assert stop(torch.tensor([tail_prompt]), None).tolist() == [False]


def test_list_end_stop_without_precomputed_texts(tokenizer, examples):
    prompt = prompt_ids(tokenizer, "stop")
    ids = _ids(tokenizer, examples[3].answer)
    stop = ListEndStop(tokenizer, len(prompt))
    assert stop(torch.tensor([prompt + ids]), None).tolist() == [True]


def test_grammar_holds_a_korean_name_to_the_request_byte_by_byte(tokenizer, pieces):
    # A Hangul syllable is three byte tokens; the grammar judges it once it is whole.
    request = "로그 수집 → 정제 → 모델 학습"
    prompt = _ids(tokenizer, "x")
    partial = _ids(tokenizer, '# nodes: [1, " 로그 수집", "data"][2, " 정')
    grammar = NodeListGrammar(tokenizer, len(prompt), top_k=len(pieces), pieces=pieces, request=request)
    scores = torch.zeros(1, len(pieces))
    out = grammar(torch.tensor([prompt + partial]), scores)
    allowed = {t for t in range(len(pieces)) if out[0, t] == 0}
    whole = {t for t in allowed if split_utf8(pieces[t]) and split_utf8(pieces[t])[0]}
    assert whole, "some token must go on"
    assert grammar._generated[0].endswith("정")
    texts = {split_utf8(pieces[t])[0] for t in whole}
    assert "제" in texts and "x" not in texts and "규" not in texts


# ---------------------------------------------------------------- unfinished characters, rows, settled steps


def test_completion_finishes_any_lead_bytes():
    for character in ("é", "가", "€", "\u0800", "\ud7ff", "😀", "\U00100000"):
        data = character.encode()
        for cut in range(1, len(data)):
            stand_in = completion(data[:cut])
            assert stand_in is not None and stand_in.encode().startswith(data[:cut])


def _byte_token(pieces, byte: bytes) -> int:
    return next(t for t, piece in enumerate(pieces) if piece == byte)


def test_an_unfinished_character_is_allowed_only_where_a_character_can_follow(tokenizer, pieces):
    """A lead byte where only digits may go would leave the row no way on (it used to end unparsed)."""
    lead = _byte_token(pieces, "가".encode()[:1])
    prompt = prompt_ids(tokenizer, "x")
    for text, allowed in (
        ("[\n[1, ", False),
        ('[\n[1, 80, 300, "circle", 54, 54, "solid arrow", (1, 2, 3), (4, 5, 6), [], "', True),
    ):
        scores = torch.zeros(1, len(pieces))
        scores[0, lead] = 10.0
        out = NodeListGrammar(tokenizer, len(prompt), top_k=4, pieces=pieces)(
            torch.tensor([prompt + _ids(tokenizer, text)]), scores
        )
        assert bool(torch.isfinite(out[0, lead])) is allowed, text
        assert torch.isfinite(out[0]).any()


def test_rows_fed_one_by_one_are_constrained_as_a_subset(tokenizer, texts, pieces, examples):
    prompt = prompt_ids(tokenizer, "two rows")
    answers = [_ids(tokenizer, e.answer) for e in examples[:2]]
    length = min(map(len, answers)) // 2
    rows = torch.tensor([prompt + a[:length] for a in answers])
    scores = torch.randn(2, len(pieces))
    whole = NodeListGrammar(tokenizer, len(prompt), pieces=pieces)(rows, scores.clone())
    fed = NodeListGrammar(tokenizer, len(prompt), pieces=pieces)
    for row, answer in enumerate(answers):
        for token in answer[:length]:
            fed.feed(row, token)
    assert torch.equal(fed.constrain([1], scores[1:].clone()), whole[1:])
    assert torch.equal(fed.constrain([0, 1], scores.clone()), whole)


def test_a_settled_row_is_checked_at_its_top_token_only(tokenizer, texts, pieces, examples, monkeypatch):
    """Where top-p would keep the top token alone, only it is checked (and allowed, if it may follow)."""
    prompt = prompt_ids(tokenizer, "settled")
    ids = _ids(tokenizer, examples[0].answer)
    cut = len(ids) // 2
    checked = []
    original = NodeListGrammar._keeps
    monkeypatch.setattr(NodeListGrammar, "_keeps", lambda self, row, t: checked.append(t) or original(self, row, t))
    for top, expect_alone in (
        (ids[cut], True),
        (_invalid_after("".join(texts[i] for i in ids[:cut]), texts, {ids[cut]}), False),
    ):
        grammar = NodeListGrammar(tokenizer, len(prompt), top_k=8, pieces=pieces)
        for token in ids[:cut]:
            grammar.feed(0, token)
        scores = torch.zeros(1, len(pieces))
        scores[0, top] = 30.0
        scores[0, ids[cut]] += 5.0
        checked.clear()
        out = grammar.constrain([0], scores, nucleus=0.95)
        finite = torch.isfinite(out[0]).nonzero().flatten().tolist()
        if expect_alone:
            assert finite == [top] and checked == [top]
        else:  # the top token may not follow: the usual checks, and the right token is allowed
            assert top not in finite and ids[cut] in finite and len(checked) > 1
        # Without the sampler's p, every token of the top K is checked.
        checked.clear()
        grammar.constrain([0], scores)
        assert len(checked) > 1


def test_the_server_regex_takes_every_complete_list(examples):
    pattern = regex.compile(ANSWER)
    for example in examples:
        assert is_complete(example.answer)
        assert pattern.fullmatch(example.answer), example.answer[:80]
        assert pattern.fullmatch(example.answer.split("\n", 1)[1])  # without the plan line
    assert pattern.fullmatch(TEXT) and not pattern.fullmatch(TEXT[:-1]) and not pattern.fullmatch("[\n]")
