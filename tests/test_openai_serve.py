"""The openai backend against a real server: `transformers serve` with the embedded model on 127.0.0.1.

`diagrambot generate` runs as a user runs it (a subprocess, a config file selecting the backend):
n candidates come back, a seed repeats them, the timeout gives one line, and so does a server
that dies mid-request. Requests are counted on the wire by tests/counting_proxy.py in front of the
server, never read from the server's log (its wording is transformers', and changes between
releases). The server applies no grammar, so a candidate may not parse; the parse rate through it
is measured by `bench/open_vocab.py --url` (docs/serving.md), not held here.
Needs the `serving` extra of transformers (in the `test` extra); skipped without it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from counting_proxy import CountingProxy

from ml.generator import EMBEDDED_MODEL

ROOT = Path(__file__).resolve().parent.parent
REQUEST = "784-128-10 mlp pls"
MODEL = str(EMBEDDED_MODEL.relative_to(ROOT))  # the server answers only to the name it was started with

serve_available = False
try:
    from transformers.utils.import_utils import is_serve_available

    serve_available = is_serve_available()
except ImportError:
    pass
pytestmark = pytest.mark.skipif(
    not serve_available, reason="transformers serve needs the `serving` extra (pip install 'transformers[serving]')"
)

# One torch thread each: the server and the test share the machine (two OpenMP pools on two cores
# slow each other down many times over).
ENV = {
    **os.environ,
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "OMP_NUM_THREADS": "1",
    "PYTHONUNBUFFERED": "1",
}


CHAT = "/v1/chat/completions"


class Server:
    """`transformers serve` in a subprocess on a free port, its output in a log file (read only to
    explain a failure), behind a proxy that counts the requests: `url` is the proxy's."""

    def __init__(self, log: Path):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.log = log
        command = [
            sys.executable,
            "-c",
            "import sys; from transformers.cli.transformers import main; sys.exit(main())",
            "serve",
            MODEL,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--device",
            "cpu",
            "--dtype",
            "float32",
        ]
        self.process = subprocess.Popen(command, cwd=ROOT, env=ENV, stdout=log.open("w"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 180
        while not self._up():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"transformers serve did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.5)
        self.proxy = CountingProxy(self.port)
        self.url = self.proxy.url

    def _up(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def requests_received(self) -> int:
        """Chat-completion requests that reached the server whole."""
        return self.proxy.count("POST", CHAT)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def close(self) -> None:
        self.stop()
        if hasattr(self, "proxy"):
            self.proxy.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = Server(tmp_path_factory.mktemp("serve") / "serve.log")
    yield running
    running.close()


def _config(folder: Path, url: str, timeout_s: float = 600) -> Path:
    path = folder / "config.toml"
    path.write_text(
        f'[generator]\nbackend = "openai"\nserver = "transformers"\nurl = "{url}"\n'
        f'model = "{MODEL}"\ntimeout_s = {timeout_s}\n'
        f"[generator.sampling]\nmax_new_tokens = 400\n"
    )
    return path


def _generate(folder: Path, config: Path, n: int, seed: int, out: str = "out") -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "diagrambot",
        "generate",
        REQUEST,
        "--candidates",
        str(n),
        "--seed",
        str(seed),
        "--out",
        str(folder / out),
        "--config",
        str(config),
    ]
    return subprocess.Popen(command, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(process: subprocess.Popen, timeout: float = 900) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def test_generate_through_transformers_serve_returns_n_candidates_and_a_seed_repeats_them(server, tmp_path):
    config = _config(tmp_path, server.url)
    before = server.requests_received()
    code, out, err = _finish(_generate(tmp_path, config, 3, seed=0))
    assert code == 0, err
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert result["model"] == f"openai:{MODEL}"
    assert len(result["candidates"]) == 3
    assert server.requests_received() - before == 3  # it ignores n: one request per candidate
    texts = sorted(c["text"] for c in result["candidates"])
    assert len(set(texts)) > 1, "the server must sample (do_sample through its generation_config)"
    parsed = sum(c["error"] is None for c in result["candidates"])
    print(f"parsed {parsed}/3 through transformers serve; generation {result['timings']['generate_s']:.1f} s")

    code, _, err = _finish(_generate(tmp_path, config, 3, seed=0, out="again"))
    assert code == 0, err
    again = json.loads((tmp_path / "again" / "result.json").read_text())
    assert sorted(c["text"] for c in again["candidates"]) == texts


def test_timeout_is_one_line_naming_the_setting(server, tmp_path):
    code, out, err = _finish(_generate(tmp_path, _config(tmp_path, server.url, timeout_s=1), 4, seed=1))
    assert code == 2
    assert err.strip().count("\n") == 0 and "Traceback" not in err
    assert "did not answer within 1 s" in err and "timeout_s" in err


def test_a_server_dying_mid_request_is_one_line(tmp_path):
    dying = Server(tmp_path / "dying.log")
    try:
        process = _generate(tmp_path, _config(tmp_path, dying.url), 4, seed=2)
        # Hang guard only: the first request arrives within seconds of the model loading.
        deadline = time.monotonic() + 300
        while not dying.proxy.wait_for(1, 0.1, "POST", CHAT):
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        dying.stop()
        code, _, err = _finish(process, timeout=120)
    finally:
        dying.close()
    assert code == 2
    assert err.strip().count("\n") == 0 and "Traceback" not in err
    print(err.strip())
    assert "generator server at" in err and ("closed the connection" in err or "cannot reach" in err), err
