"""Generator backends: `generate(request, n) -> list[str]` of raw model texts.

- LocalGenerator: a transformers causal LM (+ optional LoRA adapter). All N candidates are sampled
  in ONE batch from the same prompt, each stopped at EOS / the list's end. `decoder = "loop"` (the
  default) is this module's sampling loop: the prompt runs once, a row leaves the batch as soon as
  it ends, and keys and values are written into room reserved ahead instead of copying the whole
  cache at every step (transformers' default cache concatenates). `decoder = "hf"` is transformers'
  `generate`. Both draw the same candidates for the same seed (up to float rounding).
- OpenAIGenerator: an OpenAI-compatible HTTP server (vLLM serving the base model with the LoRA
  adapter, or `transformers serve`) for deployments that outgrow one machine; docs/serving.md.

Both are blocking; `agenerate` runs them off the caller's event loop.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import threading
import time
import typing
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ml.errors import UserError
from ml.paths import EMBEDDED_MODEL, EMBEDDED_PLANNER, resolve
from ml.prompt import chat, prompt_ids

if typing.TYPE_CHECKING:
    from ml.planner import Plan, Planner

log = logging.getLogger(__name__)


@dataclass
class SamplingSettings:
    temperature: float = 0.8
    top_p: float = 0.95
    max_new_tokens: int = 1024
    grammar: bool = True  # grammar-constrained decoding (every candidate parses)
    grammar_top_k: int = 16
    copy_names: bool = False  # hold a plan's names to spans of the request (ml.plan; for copy-trained models)
    decoder: str = "loop"  # loop: LocalGenerator's own sampling loop | hf: transformers' generate
    plans: int = 8  # plans the planner samples besides its greedy one (ml.planner), 0: greedy only
    unplanned: int = 0  # of the n candidates, how many the drawer draws reading the request itself


@dataclass
class GeneratorSettings:
    """The [generator] section of config.toml."""

    backend: str = "local"  # local | openai
    model: str = str(EMBEDDED_MODEL)  # hub id or local path
    adapter: str | None = None  # LoRA adapter path (peft), optional
    planner: str = str(EMBEDDED_PLANNER)  # local backend: the model that reads the request into a plan; "" = none
    device: str = "auto"  # auto | cpu | cuda | cuda:1 ...
    dtype: str = "auto"  # auto | float32 | bfloat16 | float16
    threads: int = 0  # CPU threads for torch, 0 = torch's default
    url: str = "http://127.0.0.1:8000"  # openai backend
    api_key_env: str = "OPENAI_API_KEY"  # env var holding the key for the openai backend
    timeout_s: float = 120.0  # openai backend: for all of one request's candidates
    server: str = "vllm"  # openai backend: vllm | transformers (`transformers serve`)
    structured_output: str = ""  # openai backend on vLLM: "" | structured_outputs | guided_regex
    sampling: SamplingSettings = field(default_factory=SamplingSettings)


class Generator(Protocol):
    name: str

    def generate(self, request: str, n: int, seed: int | None = None) -> list[str]: ...


async def agenerate(generator: Generator, request: str, n: int, seed: int | None = None) -> list[str]:
    """Generate on a worker thread so an event loop (the bot's heartbeat) never blocks."""
    return await asyncio.to_thread(generator.generate, request, n, seed)


def _pick_device(setting: str) -> str:
    import torch

    if setting != "auto":
        return setting
    return "cuda" if torch.cuda.is_available() else "cpu"


def _pick_dtype(setting: str, device: str):
    import torch

    if setting != "auto":
        return getattr(torch, setting)
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def load_model(name: str, adapter: str | None = None, device: str = "auto", dtype: str = "auto"):
    """(tokenizer, model) from a hub id or a local path, with an optional LoRA adapter.

    Offline, a hub id that is not cached fails with one clear message naming the setting to change.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = _pick_device(device)
    if resolve(name).exists():
        name = str(resolve(name))  # a local folder, or a shipped one such as "models/tiny-sft" from any folder
    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
        model: typing.Any = AutoModelForCausalLM.from_pretrained(name, dtype=_pick_dtype(dtype, device))
    except (OSError, ValueError) as error:
        raise UserError(
            f"cannot load model {name!r} ({str(error).splitlines()[0][:160]}). Set [generator] model in "
            f"config.toml (or --model) to a local folder with the weights, or to {str(EMBEDDED_MODEL)!r} "
            f"for the embedded model; downloading from the hub needs network access."
        ) from None
    if adapter:
        from peft import PeftModel

        try:
            model = PeftModel.from_pretrained(model, adapter)
        except (OSError, ValueError) as error:
            raise UserError(
                f"cannot load LoRA adapter {adapter!r}: {str(error).splitlines()[0][:160]}. "
                f"Check [generator] adapter in config.toml."
            ) from None
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.to(device).eval()
    return tokenizer, model


DECODERS = ("loop", "hf")


class LocalGenerator:
    """A transformers model on this machine; N candidates sampled in one batch per request."""

    def __init__(self, settings: GeneratorSettings | None = None):
        from ml.grammar import token_bytes

        self.settings = settings or GeneratorSettings()
        if self.settings.sampling.decoder not in DECODERS:
            raise UserError(
                f"unknown [generator.sampling] decoder {self.settings.sampling.decoder!r}: "
                f"use {' or '.join(repr(d) for d in DECODERS)}"
            )
        if self.settings.threads:
            import torch

            torch.set_num_threads(self.settings.threads)
        self.tokenizer, self.model = load_model(
            self.settings.model, self.settings.adapter, self.settings.device, self.settings.dtype
        )
        self.name = Path(self.settings.model).name + (
            f"+{Path(self.settings.adapter).name}" if self.settings.adapter else ""
        )
        self._pieces = token_bytes(self.tokenizer)
        self._cache_argument = _cache_argument(self.model)
        self._lock = threading.Lock()  # one generate at a time per model
        self.last_timing: dict[str, float] = {}

    def generate(
        self, request: str, n: int, seed: int | None = None, max_new_tokens: int | None = None, plan: Plan | None = None
    ) -> list[str]:
        """n node lists; with a `plan` (ml.planner), each begins with its plan line and draws exactly it."""
        import torch
        from transformers import TemperatureLogitsWarper, TopPLogitsWarper

        from ml.grammar import HEAD, NodeListGrammar

        sampling = self.settings.sampling
        ids = prompt_ids(self.tokenizer, request)
        # The plan line and the list's opening, tokenized as training tokenized them (the line's
        # last "]" and the newline are one token there, so the opening goes with it).
        prefix = plan.drawer_line() + "\n" + HEAD if plan is not None else ""
        if prefix:
            ids += list(self.tokenizer(prefix, add_special_tokens=False)["input_ids"])
        grammar = (
            NodeListGrammar(
                self.tokenizer,
                len(ids),
                sampling.grammar_top_k,
                self._pieces,
                request if sampling.copy_names else None,
                prefix=prefix,
                hold=plan.hold() if plan is not None else None,
            )
            if sampling.grammar
            else None
        )
        warpers = [TemperatureLogitsWarper(max(sampling.temperature, 1e-3)), TopPLogitsWarper(sampling.top_p)]
        limit = max_new_tokens or sampling.max_new_tokens
        with self._lock, torch.inference_mode():
            if seed is not None:
                torch.manual_seed(seed)
            start = time.perf_counter()
            decode = self._sample if sampling.decoder == "loop" else self._hf_generate
            rows, steps, row_steps = decode(ids, n, limit, grammar, warpers)
            elapsed = time.perf_counter() - start
        # row_steps: the tokens the model ran, all rows together (n * steps when ended rows stay in the batch)
        self.last_timing = {
            "generate_s": elapsed,
            "new_tokens": steps,
            "row_steps": row_steps,
            "prompt_tokens": len(ids),
        }
        return [prefix + self.tokenizer.decode(row, skip_special_tokens=True) for row in rows]

    def _hf_generate(self, ids, n, limit, grammar, warpers) -> tuple[list[list[int]], int, int]:
        """transformers' `generate`: every row runs until the last one ends."""
        import torch
        from transformers import LogitsProcessorList, StoppingCriteriaList

        from ml.grammar import ListEndStop

        input_ids = torch.tensor([ids], device=self.model.device).repeat(n, 1)
        output = self.model.generate(
            input_ids=input_ids,
            attention_mask=torch.ones_like(input_ids),
            do_sample=True,
            temperature=1.0,
            top_p=1.0,
            top_k=0,
            use_cache=True,
            max_new_tokens=limit,
            logits_processor=LogitsProcessorList(([grammar] if grammar else []) + warpers),
            stopping_criteria=StoppingCriteriaList([ListEndStop(self.tokenizer, len(ids), self._pieces)]),
            eos_token_id=self.tokenizer.eos_token_id,
            pad_token_id=self.tokenizer.pad_token_id,
        )
        steps = output.shape[1] - len(ids)
        return output[:, len(ids) :].tolist(), steps, n * steps

    def _sample(self, ids, n, limit, grammar, warpers) -> tuple[list[list[int]], int, int]:
        """n rows sampled from one prompt; a row leaves the batch once it ends (EOS, or its list closed).

        Each step draws a token for all n rows, finished ones too (from a stand-in distribution),
        because torch.multinomial's random draws depend on the batch's shape: so a seed gives the
        candidates transformers' `generate` gives, which samples every row until the last ends.
        """
        import torch

        from ml.grammar import ends_list

        eos, device = self.tokenizer.eos_token_id, self.model.device
        temperature, top_p = warpers
        cache = _reserved_cache()()
        logits = self._forward(torch.tensor([ids], device=device), cache)  # the prompt, once
        cache.repeat(n)
        logits = logits.expand(n, -1)
        rows: list[list[int]] = [[] for _ in range(n)]
        active = list(range(n))
        finished = torch.zeros(n, logits.shape[-1], device=device)
        finished[:, eos] = 1.0  # what an ended row draws from (its draw is thrown away)
        steps = row_steps = 0
        while active and steps < limit:
            steps += 1
            row_steps += len(active)
            scores = temperature(None, logits.float())  # before the grammar, so that it can skip checks
            if grammar is not None:
                scores = grammar.constrain(active, scores, nucleus=self.settings.sampling.top_p)
            scores = top_p(None, scores)
            probs = finished.clone()
            probs[active] = torch.softmax(scores, dim=-1)
            tokens = torch.multinomial(probs, num_samples=1).squeeze(1).tolist()
            going = []
            for line, row in enumerate(active):
                if tokens[row] == eos:
                    continue
                rows[row].append(tokens[row])
                if grammar is not None:
                    grammar.feed(row, tokens[row])
                if not ends_list(self._pieces, rows[row]):
                    going.append(line)
            if len(going) < len(active):
                cache.keep(going)
                active = [active[line] for line in going]
            if active and steps < limit:
                logits = self._forward(torch.tensor([[tokens[row]] for row in active], device=device), cache)
        return rows, steps, row_steps

    def _forward(self, input_ids, cache):
        """The next-token logits of every row, one line each, with `cache` holding what came before."""
        output = self.model(input_ids=input_ids, use_cache=True, logits_to_keep=1, **{self._cache_argument: cache})
        return output.logits[:, -1]


def _cache_argument(model) -> str:
    """The name transformers' forward gives the cache: `cache` since 5.2x, `past_key_values` before."""
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # peft wraps the model
    return "cache" if "cache" in inspect.signature(type(base).forward).parameters else "past_key_values"


@functools.cache
def _reserved_cache():
    """The cache class of `LocalGenerator._sample` (defined on first use: transformers loads slowly).

    transformers' DynamicCache concatenates every layer's keys and values with the new position at
    every step, copying the whole cache each time; on a CPU that copying took more time than the
    model's matmuls. Here each layer reserves room for 128 more positions at a time and writes
    each step's keys and values into it; attention reads the filled part. All rows share one
    length (one prompt, one token per step), so no row needs padding or an attention mask.
    """
    import torch
    from transformers.cache_utils import Cache, DynamicLayer

    class ReservedLayer(DynamicLayer):
        length = 0
        room_keys: torch.Tensor
        room_values: torch.Tensor

        def lazy_initialization(self, key_states, value_states) -> None:
            super().lazy_initialization(key_states, value_states)
            self.length = 0
            self.room_keys = key_states.new_empty(*key_states.shape[:2], 0, key_states.shape[3])
            self.room_values = value_states.new_empty(*value_states.shape[:2], 0, value_states.shape[3])

        def update(self, key_states, value_states, *args, **kwargs):
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            end = self.length + key_states.shape[-2]
            if end > self.room_keys.shape[2]:
                self._move(rows=None, room=end + 128)
            self.room_keys[:, :, self.length : end] = key_states
            self.room_values[:, :, self.length : end] = value_states
            self.length = end
            self.keys, self.values = self.room_keys[:, :, :end], self.room_values[:, :, :end]
            return self.keys, self.values

        def get_seq_length(self) -> int:
            return self.length if self.is_initialized else 0

        def repeat(self, n: int) -> None:
            """The one row (the prompt's) copied to n rows."""
            self._move(rows=[0] * n, room=self.room_keys.shape[2])

        def keep(self, rows: list[int]) -> None:
            """Only these rows, in this order, go on."""
            self._move(rows=rows, room=self.room_keys.shape[2])

        def _move(self, rows: list[int] | None, room: int) -> None:
            """New room of `room` positions for `rows` (None: all), holding what was written so far."""
            moved = []
            for old in (self.room_keys, self.room_values):
                new = old.new_empty(old.shape[0] if rows is None else len(rows), old.shape[1], room, old.shape[3])
                new[:, :, : self.length] = old[:, :, : self.length] if rows is None else old[rows, :, : self.length]
                moved.append(new)
            self.room_keys, self.room_values = moved
            self.keys, self.values = self.room_keys[:, :, : self.length], self.room_values[:, :, : self.length]

    class ReservedCache(Cache):
        def __init__(self):
            super().__init__(layer_class_to_replicate=ReservedLayer)

        def repeat(self, n: int) -> None:
            for layer in self.layers:
                typing.cast(ReservedLayer, layer).repeat(n)

        def keep(self, rows: list[int]) -> None:
            for layer in self.layers:
                typing.cast(ReservedLayer, layer).keep(rows)

    return ReservedCache


SERVERS = ("vllm", "transformers")
STRUCTURED_OUTPUTS = ("", "structured_outputs", "guided_regex")


class OpenAIGenerator:
    """An OpenAI-compatible chat-completions server: vLLM (`--enable-lora`) or `transformers serve`.

    The server applies no node-list grammar of ours. vLLM can hold decoding to the node list's
    regular expression (`structured_output`: "structured_outputs" for vLLM 0.12 and later,
    "guided_regex" before). `transformers serve` knows no structured output, ignores `n` and
    samples only when asked through its own `generation_config` field (`server = "transformers"`).
    A server that answers fewer candidates than asked is asked again for the rest, one request
    after another with the seed counted on (so a seed still gives the same candidates; transformers
    serve seeds torch when a request arrives, so requests sent at once would share the seed).
    `timeout_s` bounds the whole call, however many requests it takes.
    See docs/serving.md.
    """

    def __init__(self, settings: GeneratorSettings):
        import os

        if settings.server not in SERVERS:
            raise UserError(f"unknown [generator] server {settings.server!r}: use 'vllm' or 'transformers'")
        if settings.structured_output not in STRUCTURED_OUTPUTS:
            raise UserError(
                f"unknown [generator] structured_output {settings.structured_output!r}: "
                f"use '', 'structured_outputs' (vLLM >= 0.12) or 'guided_regex' (older vLLM)"
            )
        if settings.structured_output and settings.server != "vllm":
            raise UserError(
                "[generator] structured_output is a vLLM parameter; transformers serve refuses it "
                '(set structured_output = "" or server = "vllm")'
            )
        self.settings = settings
        self.name = f"openai:{settings.adapter or settings.model}"
        self._api_key = os.environ.get(settings.api_key_env, "")
        self.last_timing: dict[str, float] = {}

    def body(self, request: str, n: int, seed: int | None) -> dict:
        """The chat-completions request for n candidates (transformers serve: for one)."""
        from ml.node_syntax import ANSWER

        sampling = self.settings.sampling
        body = {
            "model": self.settings.adapter or self.settings.model,
            "messages": chat(request),
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_new_tokens,
        }
        if seed is not None:
            body["seed"] = seed
        if self.settings.server == "vllm":
            body["n"] = n
        else:  # transformers serve: one candidate a request, greedy unless its generation config says to sample
            body["generation_config"] = json.dumps(
                {
                    "do_sample": True,
                    "temperature": sampling.temperature,
                    "top_p": sampling.top_p,
                    "max_new_tokens": sampling.max_new_tokens,
                }
            )
        if self.settings.structured_output == "structured_outputs":
            body["structured_outputs"] = {"regex": ANSWER}
        elif self.settings.structured_output == "guided_regex":
            body["guided_regex"] = ANSWER
        return body

    def generate(self, request: str, n: int, seed: int | None = None) -> list[str]:
        start = time.perf_counter()
        deadline = time.monotonic() + self.settings.timeout_s
        texts: list[str] = []
        requests = 0
        while len(texts) < n:
            wanted = n - len(texts)
            texts += self._post(self.body(request, wanted, None if seed is None else seed + len(texts)), deadline)[
                :wanted
            ]
            requests += 1
        self.last_timing = {"generate_s": time.perf_counter() - start, "requests": requests}
        return texts

    def _post(self, body: dict, deadline: float) -> list[str]:
        """One request's candidates (at least one); a UserError of one line for anything else."""
        import http.client

        url = self.settings.url
        left = deadline - time.monotonic()
        late = UserError(
            f"generator server at {url} did not answer within {self.settings.timeout_s:g} s "
            f"([generator] timeout_s in config.toml)"
        )
        if left <= 0:
            raise late
        http_request = urllib.request.Request(
            url.rstrip("/") + "/v1/chat/completions",
            data=json.dumps(body).encode(),
            headers={
                "Content-Type": "application/json",
                **({"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}),
            },
        )
        try:
            with urllib.request.urlopen(http_request, timeout=left) as response:
                payload = json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as error:
            raise UserError(
                f"generator server at {url} answered {error.code}: {error.read()[:200].decode('utf-8', 'replace')}"
            ) from None
        except TimeoutError:
            raise late from None
        except (
            http.client.RemoteDisconnected,
            http.client.IncompleteRead,
            ConnectionResetError,
            BrokenPipeError,
        ) as error:
            raise UserError(
                f"generator server at {url} closed the connection before answering (did it stop or crash?): {error}"
            ) from None
        except urllib.error.URLError as error:
            if isinstance(error.reason, TimeoutError):
                raise late from None
            raise UserError(
                f"cannot reach the generator server at {url} ([generator] url in config.toml): {error.reason}"
            ) from None
        except (OSError, http.client.HTTPException) as error:
            raise UserError(f"generator server at {url} failed mid-request: {error}") from None
        except ValueError:
            raise UserError(f"generator server at {url} did not answer JSON") from None
        try:
            texts = [choice["message"]["content"] or "" for choice in payload["choices"]]
        except (KeyError, TypeError):
            texts = []
        if not texts:
            raise UserError(f"generator server at {url} answered without choices")
        return texts


class PlannedGenerator:
    """The planner reads the request into a plan; the local drawer draws that plan and nothing else.

    Each model does what it can learn on the project's CPUs: the byte-level planner copies the
    user's names and reads their sizes, the drawer lays them out. Without a reading (no plan the
    request holds), the drawer reads the request itself, as before.
    """

    def __init__(self, drawer: LocalGenerator, planner: Planner, planner_name: str):
        self.drawer, self.planner = drawer, planner
        self.name = f"{drawer.name}+{planner_name}"
        self.settings = drawer.settings
        self.last_plan: Plan | None = None
        self.last_timing: dict[str, float] = {}

    def generate(self, request: str, n: int, seed: int | None = None) -> list[str]:
        """n candidates: the plan drawn, and `unplanned` of them drawn without it, so that where the
        planner misreads, the ranking's grounding can still prefer the drawer's own reading."""
        plan = self.planner.plan(request, seed)
        self.last_plan = plan
        free = n if plan is None else min(n, self.settings.sampling.unplanned)
        plan_s = self.planner.last_timing.get("plan_s", 0.0)
        texts, generate_s = [], plan_s
        for count, held in ((n - free, plan), (free, None)):
            if count:
                texts += self.drawer.generate(request, count, seed, plan=held)
                generate_s += self.drawer.last_timing.get("generate_s", 0.0)
        self.last_timing = {
            **self.drawer.last_timing,
            "plan_s": plan_s,
            "generate_s": generate_s,
        }
        return texts


def make_generator(settings: GeneratorSettings) -> Generator:
    if settings.backend == "openai":
        return OpenAIGenerator(settings)
    if settings.backend == "local":
        drawer = LocalGenerator(settings)
        if not settings.planner:
            return drawer
        from ml.planner import load_planner

        path = resolve(settings.planner)
        if not path.exists():
            if path != EMBEDDED_PLANNER:
                raise UserError(f"[generator] planner {settings.planner!r} is not a folder with a planner model")
            log.warning("no planner shipped at %s: the drawer reads requests itself", path)
            return drawer
        return PlannedGenerator(drawer, load_planner(str(path), settings.sampling.plans), path.name)
    raise UserError(f"unknown [generator] backend {settings.backend!r}: use 'local' or 'openai'")
