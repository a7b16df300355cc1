"""Generator backends: `generate(request, n) -> list[str]` of raw model texts.

- LocalGenerator: a transformers causal LM (+ optional LoRA adapter). All N candidates come from
  ONE batched `generate` call on the same prompt, sampled, stopped at EOS / the list's end.
- OpenAIGenerator: an OpenAI-compatible HTTP server (vLLM serving the base model with the LoRA
  adapter) for deployments that outgrow one GPU.

Both are blocking; `agenerate` runs them off the caller's event loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from diagrambot.errors import UserError
from ml.prompt import chat, prompt_ids

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent
EMBEDDED_MODEL = ROOT / "models" / "tiny-sft"


@dataclass
class SamplingSettings:
    temperature: float = 0.8
    top_p: float = 0.95
    max_new_tokens: int = 1024
    grammar: bool = True        # grammar-constrained decoding (every candidate parses)
    grammar_top_k: int = 16
    copy_names: bool = False    # hold a plan's names to spans of the request (ml.plan; for copy-trained models)


@dataclass
class GeneratorSettings:
    """The [generator] section of config.toml."""

    backend: str = "local"                 # local | openai
    model: str = str(EMBEDDED_MODEL)       # hub id or local path
    adapter: str | None = None             # LoRA adapter path (peft), optional
    device: str = "auto"                   # auto | cpu | cuda | cuda:1 ...
    dtype: str = "auto"                    # auto | float32 | bfloat16 | float16
    threads: int = 0                       # CPU threads for torch, 0 = torch's default
    url: str = "http://127.0.0.1:8000"     # openai backend
    api_key_env: str = "OPENAI_API_KEY"    # env var holding the key for the openai backend
    timeout_s: float = 120.0
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
    if not Path(name).exists() and (ROOT / name).exists():
        name = str(ROOT / name)  # a repo-relative path such as "models/tiny-sft", from any folder
    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
        model = AutoModelForCausalLM.from_pretrained(name, dtype=_pick_dtype(dtype, device))
    except (OSError, ValueError) as error:
        raise UserError(
            f"cannot load model {name!r} ({str(error).splitlines()[0][:160]}). Set [generator] model in "
            f"config.toml (or --model) to a local folder with the weights, or to {str(EMBEDDED_MODEL)!r} "
            f"for the embedded model; downloading from the hub needs network access.") from None
    if adapter:
        from peft import PeftModel
        try:
            model = PeftModel.from_pretrained(model, adapter)
        except (OSError, ValueError) as error:
            raise UserError(f"cannot load LoRA adapter {adapter!r}: {str(error).splitlines()[0][:160]}. "
                            f"Check [generator] adapter in config.toml.") from None
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.to(device).eval()
    return tokenizer, model


class LocalGenerator:
    """A transformers model on this machine; one batched, sampled `generate` call per request."""

    def __init__(self, settings: GeneratorSettings | None = None):
        from ml.grammar import token_bytes
        self.settings = settings or GeneratorSettings()
        if self.settings.threads:
            import torch
            torch.set_num_threads(self.settings.threads)
        self.tokenizer, self.model = load_model(self.settings.model, self.settings.adapter,
                                                self.settings.device, self.settings.dtype)
        self.name = Path(self.settings.model).name + (f"+{Path(self.settings.adapter).name}"
                                                      if self.settings.adapter else "")
        self._pieces = token_bytes(self.tokenizer)
        self._lock = threading.Lock()  # one generate at a time per model
        self.last_timing: dict[str, float] = {}

    def generate(self, request: str, n: int, seed: int | None = None,
                 max_new_tokens: int | None = None) -> list[str]:
        import torch
        from transformers import LogitsProcessorList, StoppingCriteriaList, TemperatureLogitsWarper, TopPLogitsWarper

        from ml.grammar import ListEndStop, NodeListGrammar
        sampling = self.settings.sampling
        ids = prompt_ids(self.tokenizer, request)
        device = self.model.device
        input_ids = torch.tensor([ids], device=device).repeat(n, 1)
        processors = LogitsProcessorList()
        if sampling.grammar:
            processors.append(NodeListGrammar(self.tokenizer, len(ids), sampling.grammar_top_k, self._pieces,
                                              request if sampling.copy_names else None))
        processors.append(TemperatureLogitsWarper(max(sampling.temperature, 1e-3)))
        processors.append(TopPLogitsWarper(sampling.top_p))
        with self._lock, torch.inference_mode():
            if seed is not None:
                torch.manual_seed(seed)
            start = time.perf_counter()
            output = self.model.generate(
                input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                do_sample=True, temperature=1.0, top_p=1.0, top_k=0, use_cache=True,
                max_new_tokens=max_new_tokens or sampling.max_new_tokens,
                logits_processor=processors,
                stopping_criteria=StoppingCriteriaList([ListEndStop(self.tokenizer, len(ids), self._pieces)]),
                eos_token_id=self.tokenizer.eos_token_id, pad_token_id=self.tokenizer.pad_token_id,
            )
            elapsed = time.perf_counter() - start
        new_tokens = output[:, len(ids):]
        self.last_timing = {"generate_s": elapsed, "new_tokens": int(new_tokens.shape[1]),
                            "prompt_tokens": len(ids)}
        return [self.tokenizer.decode(row, skip_special_tokens=True) for row in new_tokens]


class OpenAIGenerator:
    """An OpenAI-compatible chat-completions server (e.g. vLLM with `--enable-lora`)."""

    def __init__(self, settings: GeneratorSettings):
        import os
        self.settings = settings
        self.name = f"openai:{settings.adapter or settings.model}"
        self._api_key = os.environ.get(settings.api_key_env, "")
        self.last_timing: dict[str, float] = {}

    def generate(self, request: str, n: int, seed: int | None = None) -> list[str]:
        sampling = self.settings.sampling
        body = {"model": self.settings.adapter or self.settings.model, "messages": chat(request), "n": n,
                "temperature": sampling.temperature, "top_p": sampling.top_p, "max_tokens": sampling.max_new_tokens}
        if seed is not None:
            body["seed"] = seed
        http_request = urllib.request.Request(
            self.settings.url.rstrip("/") + "/v1/chat/completions", data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json",
                     **({"Authorization": f"Bearer {self._api_key}"} if self._api_key else {})})
        start = time.perf_counter()
        try:
            with urllib.request.urlopen(http_request, timeout=self.settings.timeout_s) as response:
                payload = json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as error:
            raise UserError(f"generator server at {self.settings.url} answered {error.code}: "
                            f"{error.read()[:200].decode('utf-8', 'replace')}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            raise UserError(f"cannot reach the generator server at {self.settings.url} "
                            f"([generator] url in config.toml): {error}") from None
        except ValueError:
            raise UserError(f"generator server at {self.settings.url} did not answer JSON") from None
        self.last_timing = {"generate_s": time.perf_counter() - start}
        try:
            return [choice["message"]["content"] or "" for choice in payload["choices"]]
        except (KeyError, TypeError):
            raise UserError(f"generator server at {self.settings.url} answered without choices") from None


def make_generator(settings: GeneratorSettings) -> Generator:
    if settings.backend == "openai":
        return OpenAIGenerator(settings)
    if settings.backend == "local":
        return LocalGenerator(settings)
    raise UserError(f"unknown [generator] backend {settings.backend!r}: use 'local' or 'openai'")
