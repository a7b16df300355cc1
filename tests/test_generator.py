"""Generator backends: the embedded model, batched sampling, the HTTP backend, offline errors."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from ml.errors import UserError
from ml.generator import (
    EMBEDDED_MODEL,
    GeneratorSettings,
    LocalGenerator,
    OpenAIGenerator,
    SamplingSettings,
    agenerate,
    make_generator,
)
from ml.node_syntax import ANSWER
from ml.parser import parse
from ml.prompt import chat

REQUEST = "A deep learning model with 2 input nodes, 3 hidden nodes, and 1 output node."


@pytest.fixture(scope="module")
def embedded() -> LocalGenerator:
    return LocalGenerator(GeneratorSettings())


def test_embedded_model_ships_in_the_repo():
    assert (EMBEDDED_MODEL / "model.safetensors").exists()
    assert (EMBEDDED_MODEL / "README.md").exists(), "the embedded model needs its model card"


def test_embedded_model_returns_n_parseable_candidates(embedded):
    texts = embedded.generate(REQUEST, 4, seed=0)
    assert len(texts) == 4
    diagrams = [parse(text).diagram for text in texts]
    assert all(d.nodes for d in diagrams)
    # One batched call: a single generate produced all four rows.
    assert embedded.last_timing["new_tokens"] > 0


def test_sampled_candidates_differ(embedded):
    texts = embedded.generate(REQUEST, 4, seed=1)
    assert len(set(texts)) > 1, "sampling should give the ranking different candidates to choose from"


def test_generation_stops_at_the_end_of_the_list(embedded):
    texts = embedded.generate(REQUEST, 2, seed=2)
    for text in texts:
        assert text.rstrip().endswith("]\n]")
    # Far fewer tokens than the limit: EOS / the list's end stopped it.
    assert embedded.last_timing["new_tokens"] < embedded.settings.sampling.max_new_tokens // 2


def test_same_seed_same_candidates(embedded):
    assert embedded.generate(REQUEST, 2, seed=7) == embedded.generate(REQUEST, 2, seed=7)


def _with_decoder(
    generator: LocalGenerator, decoder: str, *args, temperature: float | None = None, **kwargs
) -> tuple[list[str], dict]:
    sampling = generator.settings.sampling
    generator.settings.sampling = replace(
        sampling, decoder=decoder, temperature=sampling.temperature if temperature is None else temperature
    )
    try:
        return generator.generate(*args, **kwargs), dict(generator.last_timing)
    finally:
        generator.settings.sampling = sampling


def test_at_temperature_zero_the_loop_and_transformers_generate_draw_the_same(embedded):
    """What the loop promises, whatever way transformers draws its random numbers: the same model,
    grammar, temperature, nucleus and stops as `generate`. At temperature 0 (the argmax) no random
    draw is left, so both must write the same text, and a text that parses."""
    loop, loop_timing = _with_decoder(embedded, "loop", REQUEST, 2, seed=11, temperature=0.0)
    hf, hf_timing = _with_decoder(embedded, "hf", REQUEST, 2, seed=12, temperature=0.0)  # the seed must not matter
    assert loop == hf and len(set(loop)) == 1
    assert parse(loop[0]).diagram.nodes
    assert loop_timing["new_tokens"] == hf_timing["new_tokens"] < embedded.settings.sampling.max_new_tokens


def test_the_loop_draws_what_transformers_generate_draws(embedded):
    """Same seed, same candidates: the loop only stops computing what nobody reads.

    Token for token, this holds for the transformers and torch that requirements.lock pins (the
    loop draws with torch.multinomial over the whole batch, as their `generate` does). It is kept
    because ml.generator promises it (a seed gives the candidates `generate` gives); a `make lock`
    onto a transformers that samples differently fails here, on purpose. The version-independent
    part of the promise is the test above."""
    loop, loop_timing = _with_decoder(embedded, "loop", REQUEST, 4, seed=5)
    hf, hf_timing = _with_decoder(embedded, "hf", REQUEST, 4, seed=5)
    assert all(parse(text).diagram.nodes for text in loop + hf)  # the grammar holds both to the node list
    assert loop == hf
    assert loop_timing["new_tokens"] == hf_timing["new_tokens"]
    assert hf_timing["row_steps"] == 4 * hf_timing["new_tokens"]
    if len({len(t) for t in loop}) > 1:  # rows of different lengths: the ended ones left the batch
        assert loop_timing["row_steps"] < hf_timing["row_steps"]


def test_the_loop_keeps_the_token_limit_and_works_without_the_grammar(embedded):
    loop, timing = _with_decoder(embedded, "loop", REQUEST, 3, seed=1, max_new_tokens=6)
    hf, _ = _with_decoder(embedded, "hf", REQUEST, 3, seed=1, max_new_tokens=6)
    assert loop == hf and timing["new_tokens"] == 6
    sampling = embedded.settings.sampling
    embedded.settings.sampling = replace(sampling, grammar=False)
    try:
        free, _ = _with_decoder(embedded, "loop", REQUEST, 2, seed=3, max_new_tokens=40)
        free_hf, _ = _with_decoder(embedded, "hf", REQUEST, 2, seed=3, max_new_tokens=40)
    finally:
        embedded.settings.sampling = sampling
    assert free == free_hf


def test_unknown_decoder_is_refused():
    with pytest.raises(UserError, match="decoder"):
        LocalGenerator(GeneratorSettings(sampling=SamplingSettings(decoder="abacus")))


def test_agenerate_runs_off_the_event_loop_thread(embedded):
    seen = {}
    original = embedded.generate

    def spy(request, n, seed=None):
        seen["thread"] = threading.get_ident()
        return original(request, n, seed)

    async def main():
        embedded.generate = spy
        try:
            return await agenerate(embedded, REQUEST, 1, 0), threading.get_ident()
        finally:
            del embedded.generate

    texts, loop_thread = asyncio.run(main())
    assert len(texts) == 1 and seen["thread"] != loop_thread


def test_missing_hub_model_offline_gives_one_clear_message():
    settings = GeneratorSettings(model="deepseek-ai/deepseek-coder-1.3b-instruct-not-cached")
    with pytest.raises(UserError) as error:
        LocalGenerator(settings)
    message = str(error.value)
    assert "[generator] model" in message and "config.toml" in message


def test_unknown_backend_is_refused():
    with pytest.raises(UserError, match="backend"):
        make_generator(GeneratorSettings(backend="carrier-pigeon"))


class _FakeOpenAI(BaseHTTPRequestHandler):
    answer = '[\n[1, 100, 300, "circle", 40, 40, "solid arrow", (255, 255, 255), (0, 0, 0), []]\n]'
    status = 200
    seen: list = []
    one_choice = False  # like transformers serve, which ignores n
    delay = 0.0
    drop = False  # close the connection without answering, like a server that dies mid-request

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append((self.path, body, self.headers.get("Authorization")))
        time.sleep(self.delay)
        if self.drop:
            self.close_connection = True
            return
        if self.status != 200:
            self.send_response(self.status)
            self.end_headers()
            self.wfile.write(b"model overloaded")
            return
        count = 1 if self.one_choice else body.get("n", 1)
        payload = {
            "choices": [{"index": i, "message": {"role": "assistant", "content": self.answer}} for i in range(count)]
        }
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture()
def fake_server():
    _FakeOpenAI.seen = []
    _FakeOpenAI.status = 200
    _FakeOpenAI.one_choice, _FakeOpenAI.delay, _FakeOpenAI.drop = False, 0.0, False
    server = HTTPServer(("127.0.0.1", 0), _FakeOpenAI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_http_backend_asks_for_n_candidates_in_one_request(fake_server, monkeypatch):
    monkeypatch.setenv("TEST_VLLM_KEY", "sekret")
    settings = GeneratorSettings(
        backend="openai",
        url=fake_server,
        model="deepseek-base",
        adapter="diagram-lora",
        api_key_env="TEST_VLLM_KEY",
        sampling=SamplingSettings(temperature=0.7),
    )
    generator = make_generator(settings)
    assert isinstance(generator, OpenAIGenerator)
    texts = generator.generate(REQUEST, 5, seed=3)
    assert len(texts) == 5 and all(parse(t).diagram.nodes for t in texts)
    assert len(_FakeOpenAI.seen) == 1
    path, body, auth = _FakeOpenAI.seen[0]
    assert path == "/v1/chat/completions"
    assert body["n"] == 5 and body["model"] == "diagram-lora" and body["seed"] == 3
    assert body["messages"] == chat(REQUEST) and body["temperature"] == 0.7
    assert auth == "Bearer sekret"


def test_http_backend_server_error_is_a_clear_message(fake_server):
    _FakeOpenAI.status = 503
    generator = OpenAIGenerator(GeneratorSettings(backend="openai", url=fake_server))
    with pytest.raises(UserError, match="503"):
        generator.generate(REQUEST, 2)


def test_http_backend_unreachable_names_the_setting():
    generator = OpenAIGenerator(GeneratorSettings(backend="openai", url="http://127.0.0.1:9", timeout_s=2))
    with pytest.raises(UserError, match=r"\[generator\] url"):
        generator.generate(REQUEST, 1)


def test_http_backend_asks_again_when_the_server_answers_fewer(fake_server):
    _FakeOpenAI.one_choice = True
    generator = OpenAIGenerator(GeneratorSettings(backend="openai", url=fake_server))
    assert len(generator.generate(REQUEST, 3, seed=10)) == 3
    assert [body["n"] for _, body, _ in _FakeOpenAI.seen] == [3, 2, 1]
    assert [body["seed"] for _, body, _ in _FakeOpenAI.seen] == [10, 11, 12]
    assert generator.last_timing["requests"] == 3


def test_transformers_serve_is_asked_to_sample_one_candidate_a_request(fake_server):
    _FakeOpenAI.one_choice = True
    settings = GeneratorSettings(
        backend="openai",
        url=fake_server,
        server="transformers",
        sampling=SamplingSettings(temperature=0.6, top_p=0.9, max_new_tokens=300),
    )
    assert len(OpenAIGenerator(settings).generate(REQUEST, 2)) == 2
    for _, body, _ in _FakeOpenAI.seen:
        assert "n" not in body and "seed" not in body
        assert json.loads(body["generation_config"]) == {
            "do_sample": True,
            "temperature": 0.6,
            "top_p": 0.9,
            "max_new_tokens": 300,
        }


@pytest.mark.parametrize("field", ["structured_outputs", "guided_regex"])
def test_vllm_structured_output_sends_the_node_list_regex(fake_server, field):
    settings = GeneratorSettings(backend="openai", url=fake_server, structured_output=field)
    OpenAIGenerator(settings).generate(REQUEST, 2)
    body = _FakeOpenAI.seen[0][1]
    assert (
        (body["structured_outputs"] == {"regex": ANSWER})
        if field == "structured_outputs"
        else body["guided_regex"] == ANSWER
    )
    plain = GeneratorSettings(backend="openai", url=fake_server)
    assert not {"structured_outputs", "guided_regex", "generation_config"} & set(OpenAIGenerator(plain).body("x", 1, 0))


@pytest.mark.parametrize(
    "settings, message",
    [
        (dict(server="ollama"), "server"),
        (dict(structured_output="json"), "structured_output"),
        (dict(server="transformers", structured_output="structured_outputs"), "vLLM parameter"),
    ],
)
def test_http_backend_settings_are_checked(settings, message):
    with pytest.raises(UserError, match=message):
        OpenAIGenerator(GeneratorSettings(backend="openai", **settings))


def test_http_backend_timeout_bounds_the_whole_call(fake_server):
    _FakeOpenAI.one_choice, _FakeOpenAI.delay = True, 0.6
    generator = OpenAIGenerator(GeneratorSettings(backend="openai", url=fake_server, timeout_s=1))
    # Each request alone answers within the 1 s (0.6 s), four of them do not: the call fails after
    # the second request (the first if this machine is slow), never reaching the third.
    with pytest.raises(UserError, match=r"did not answer within 1 s \(\[generator\] timeout_s"):
        generator.generate(REQUEST, 4)
    assert 1 <= len(_FakeOpenAI.seen) <= 2


def test_http_backend_server_dying_mid_request_is_one_line(fake_server):
    _FakeOpenAI.drop = True
    generator = OpenAIGenerator(GeneratorSettings(backend="openai", url=fake_server))
    with pytest.raises(UserError, match="closed the connection") as error:
        generator.generate(REQUEST, 2)
    assert "\n" not in str(error.value)
