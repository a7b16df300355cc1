"""Generator backends: the embedded model, batched sampling, the HTTP backend, offline errors."""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from diagrambot.errors import UserError
from ml.generator import (EMBEDDED_MODEL, GeneratorSettings, LocalGenerator, OpenAIGenerator, SamplingSettings,
                          agenerate, make_generator)
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

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append((self.path, body, self.headers.get("Authorization")))
        if self.status != 200:
            self.send_response(self.status)
            self.end_headers()
            self.wfile.write(b"model overloaded")
            return
        payload = {"choices": [{"index": i, "message": {"role": "assistant", "content": self.answer}}
                               for i in range(body["n"])]}
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
    server = HTTPServer(("127.0.0.1", 0), _FakeOpenAI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_http_backend_asks_for_n_candidates_in_one_request(fake_server, monkeypatch):
    monkeypatch.setenv("TEST_VLLM_KEY", "sekret")
    settings = GeneratorSettings(backend="openai", url=fake_server, model="deepseek-base", adapter="diagram-lora",
                                 api_key_env="TEST_VLLM_KEY", sampling=SamplingSettings(temperature=0.7))
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
