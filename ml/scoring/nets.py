"""The two small networks: a CNN readability regressor (0-5) and a convolutional autoencoder.

Both read the whole canvas at 160x96 (ml/scoring/images.py). Weights are saved as safetensors
with a JSON file beside them (version, data size, metrics), so a model version can be audited.
Both files are written whole or not at all (temporary file, fsync, rename): a crash mid-save
never leaves a truncated model under a name that storage may point at.
"""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.torch
import torch
from safetensors import SafetensorError
from torch import nn

from ml.atomic import write_atomically
from ml.scoring.images import INPUT_HEIGHT, INPUT_WIDTH


def _trunk(channels: tuple[int, ...]) -> nn.Sequential:
    """Strided 3x3 convolutions, each halving the resolution."""
    layers: list[nn.Module] = []
    previous = 3
    for width in channels:
        layers += [nn.Conv2d(previous, width, 3, stride=2, padding=1), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
        previous = width
    return nn.Sequential(*layers)


class ReadabilityCNN(nn.Module):
    """Image -> readability 0-5. Average and max pooling over the whole map: a flaw anywhere counts."""

    def __init__(self, channels: tuple[int, ...] = (24, 48, 64, 96)):
        super().__init__()
        self.config = {"channels": list(channels)}
        self.features = _trunk(channels)
        self.head = nn.Sequential(nn.Linear(2 * channels[-1], 64), nn.ReLU(inplace=True), nn.Linear(64, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        maps = self.features(images)
        pooled = torch.cat([maps.mean(dim=(2, 3)), maps.amax(dim=(2, 3))], dim=1)
        return 5 * torch.sigmoid(self.head(pooled).squeeze(1))


class ConvAutoencoder(nn.Module):
    """Image -> latent (default 32-d) -> image at half resolution. `encode` is what the k-NN uses.

    Reconstructing 80x48 instead of 160x96 costs a quarter of the decoder's work and keeps what
    the embedding needs (layout, shapes, colours); the encoder still reads the full input.
    """

    def __init__(self, latent: int = 32, channels: tuple[int, ...] = (16, 32, 48, 64)):
        super().__init__()
        self.config: dict[str, Any] = {"latent": latent, "channels": list(channels)}
        self.encoder = _trunk(channels)
        self.map_h, self.map_w = INPUT_HEIGHT // 2 ** len(channels), INPUT_WIDTH // 2 ** len(channels)
        flat = channels[-1] * self.map_h * self.map_w
        self.to_latent = nn.Linear(flat, latent)
        self.from_latent = nn.Linear(latent, flat)
        decoder: list[nn.Module] = []
        widths = list(channels[::-1])
        for a, b in zip(widths, widths[1:]):
            decoder += [nn.ConvTranspose2d(a, b, 4, stride=2, padding=1), nn.BatchNorm2d(b), nn.ReLU(inplace=True)]
        decoder += [nn.Conv2d(widths[-1], 3, 3, padding=1), nn.Sigmoid()]
        self.decoder = nn.Sequential(*decoder)
        self.channels = channels

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return self.to_latent(self.encoder(images).flatten(1))

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        maps = self.from_latent(latent).view(-1, self.channels[-1], self.map_h, self.map_w)
        return self.decoder(maps)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(images))

    @staticmethod
    def target(images: torch.Tensor) -> torch.Tensor:
        """What `forward` reconstructs: the input at half resolution."""
        return nn.functional.avg_pool2d(images, 2)


KINDS = {"cnn": ReadabilityCNN, "ae": ConvAutoencoder}


class ModelLoadError(Exception):
    """A model file is missing, truncated or not a model of a known kind; the message says which and why."""


def new_version() -> str:
    """A model version name: when it was trained, plus a random suffix so two saves never share one."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


def latent_version(meta: dict) -> str:
    """The name stored with latents made by the autoencoder described by `meta` (its metadata)."""
    return f"ae-{meta['version']}"


def save(model: nn.Module, path: str | Path, kind: str, metrics: dict, data_size: int) -> Path:
    """Weights to PATH.safetensors and metadata to PATH.json, each atomically; returns the weights' path.

    The weights go first: a crash between the two leaves weights without metadata, which
    `load` refuses, never metadata that describes weights not written yet.
    """
    path = Path(path).with_suffix(".safetensors")
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    write_atomically(path, safetensors.torch.save(tensors))
    meta = {"kind": kind, "config": model.config, "version": new_version(), "data_size": data_size, "metrics": metrics}
    write_atomically(path.with_suffix(".json"), json.dumps(meta, indent=1).encode())
    return path


def load(path: str | Path) -> tuple[nn.Module, dict]:
    """(model in eval mode, metadata) from a .safetensors file saved by `save`.

    Raises ModelLoadError, naming the file and the reason, for anything that is not a
    complete model of a known kind.
    """
    path = Path(path).with_suffix(".safetensors")
    try:
        meta = json.loads(path.with_suffix(".json").read_text())
        config = {k: tuple(v) if isinstance(v, list) else v for k, v in meta["config"].items()}
        model = KINDS[meta["kind"]](**config)
        model.load_state_dict(safetensors.torch.load(path.read_bytes()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RuntimeError, SafetensorError) as error:
        raise ModelLoadError(f"{path}: {type(error).__name__}: {error}") from error
    return model.eval(), meta


@torch.inference_mode()
def predict(model: nn.Module, arrays: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """CNN scores (n,) or AE latents (n, d) for a batch of scorer inputs."""
    outputs = []
    for start in range(0, len(arrays), batch_size):
        chunk = torch.from_numpy(arrays[start : start + batch_size])
        out = model.encode(chunk) if isinstance(model, ConvAutoencoder) else model(chunk)
        outputs.append(out.numpy())
    if not outputs:
        latent = model.config["latent"] if isinstance(model, ConvAutoencoder) else None
        return np.zeros((0,) if latent is None else (0, latent), np.float32)
    return np.concatenate(outputs)
