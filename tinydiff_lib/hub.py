"""Find the shipped checkpoints: in this checkout, in the cache, or (Colab) downloaded from the repository."""

from __future__ import annotations

import os
from pathlib import Path

from .checkpoint import CheckpointError

__all__ = ["REPO_URL", "checkpoint_path", "shipped_checkpoints_dir"]

#: the project's repository (the book's _config.yml names the same URL; a test checks they agree)
REPO_URL = "https://github.com/tinydiff/tinydiff"


def shipped_checkpoints_dir() -> Path:
    """``$TINYDIFF_CHECKPOINTS`` if set, else ``checkpoints/`` of the checkout this package was installed from."""
    if os.environ.get("TINYDIFF_CHECKPOINTS"):
        return Path(os.environ["TINYDIFF_CHECKPOINTS"]).expanduser()
    return Path(__file__).resolve().parents[1] / "checkpoints"


def checkpoint_path(name: str, download: bool = True) -> Path:
    """Path of the shipped checkpoint ``<name>.pt`` (e.g. ``"film_unet"``).

    Looks in :func:`shipped_checkpoints_dir`, then ``~/.cache/tinydiff/checkpoints``; when neither has it and
    ``download`` is true (e.g. in Colab, where only the package is installed) fetches it from the repository.
    """
    filename = name if name.endswith(".pt") else f"{name}.pt"
    local = shipped_checkpoints_dir() / filename
    if local.is_file():
        return local
    cached = Path.home() / ".cache" / "tinydiff" / "checkpoints" / filename
    if cached.is_file():
        return cached
    if download:
        import torch

        url = f"{REPO_URL}/raw/main/checkpoints/{filename}"
        cached.parent.mkdir(parents=True, exist_ok=True)
        try:
            torch.hub.download_url_to_file(url, str(cached), progress=False)
            return cached
        except Exception as exc:
            cached.unlink(missing_ok=True)
            reason = f"and downloading {url} failed ({exc.__class__.__name__})"
    else:
        reason = "and downloading was not allowed"
    raise CheckpointError(
        f"no shipped checkpoint {filename} in {local.parent} {reason}; "
        f"make it with `make checkpoints` or `python -m tinydiff_lib train --model {name}`"
    )
