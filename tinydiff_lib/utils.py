"""Small helpers every notebook needs: seeding, device choice, atomic file writes."""

from __future__ import annotations

import hashlib
import os
import random
import tempfile
from pathlib import Path

import torch

from .errors import UsageError

__all__ = ["seed_everything", "get_device", "native_bf16", "atomic_torch_save", "count_parameters", "file_sha256"]


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python's and torch's global RNGs and return a fresh CPU generator with the same seed."""
    random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def get_device(device: str | torch.device = "auto") -> torch.device:
    """Resolve ``"auto"`` to CUDA, then Apple's MPS, then the CPU; check that an explicit choice exists."""
    if isinstance(device, torch.device):
        return device
    name = str(device).lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError("device 'cuda' was asked for but no CUDA GPU is visible; use --device auto or cpu")
    if name == "mps" and not torch.backends.mps.is_available():
        raise UsageError("device 'mps' was asked for but MPS is not available; use --device auto or cpu")
    if name not in ("cpu", "mps") and not name.startswith("cuda"):
        raise UsageError(f"unknown device {device!r}; choose auto, cpu, cuda or mps")
    return torch.device(name)


def native_bf16(device: str | torch.device = "cpu") -> bool:
    """Whether ``device`` computes bfloat16 in hardware: a CUDA GPU that supports it, or a CPU with AVX-512 BF16
    or AMX units. Elsewhere (an AVX2-only CPU, say) bfloat16 autocast is emulated and slower than float32, so
    the library's bf16 options are only worth it where this is True; ``results/cpu_speed_no_bf16.json`` holds
    both on such a CPU."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # torch.cpu's own CPUID checks (x86)
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def atomic_torch_save(obj: object, path: str | os.PathLike) -> Path:
    """``torch.save`` to a temporary file in the same folder, then rename it over ``path``.

    A crash midway leaves the previous file untouched: readers see the old file or the new one, never half.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the usual permissions of a new file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def count_parameters(model: torch.nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes (hex): which shipped checkpoint a stored score belongs to."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
