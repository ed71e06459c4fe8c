"""Find the shipped checkpoints: in this checkout, in the cache, or (Colab) downloaded from the repository."""

from __future__ import annotations

import os
from pathlib import Path

from .checkpoint import CheckpointError

__all__ = ["REPO_URL", "cache_dir", "checkpoint_path", "shipped_checkpoints_dir"]

#: the project's repository (the book's _config.yml names the same URL; a test checks they agree)
REPO_URL = "https://github.com/tinydiff/tinydiff"


def _checkout_root() -> Path | None:
    """The repository checkout this package is imported from (an editable install), or None.

    An installed copy (``pip install "tinydiff @ git+..."``, as on Colab) lives in ``site-packages``, whose
    parent has no ``checkpoints/`` of ours: a checkout is recognised by its ``pyproject.toml`` naming this
    project."""
    root = Path(__file__).resolve().parents[1]
    try:
        pyproject = (root / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        return None
    return root if 'name = "tinydiff"' in pyproject else None


def cache_dir() -> Path:
    """Where downloaded checkpoints are kept: ``~/.cache/tinydiff/checkpoints``."""
    return Path.home() / ".cache" / "tinydiff" / "checkpoints"


def shipped_checkpoints_dir() -> Path | None:
    """``$TINYDIFF_CHECKPOINTS`` if set, else ``checkpoints/`` of the checkout this package is imported from;
    None for an installed copy outside a checkout (then only the cache and the download are left)."""
    if os.environ.get("TINYDIFF_CHECKPOINTS"):  # relative: from the current folder (make makes it absolute)
        return Path(os.environ["TINYDIFF_CHECKPOINTS"]).expanduser().absolute()
    root = _checkout_root()
    return root / "checkpoints" if root is not None else None


def checkpoint_path(name: str, download: bool = True) -> Path:
    """Path of the shipped checkpoint ``<name>.pt`` (e.g. ``"film_unet"``).

    Looks in :func:`shipped_checkpoints_dir` (a checkout), then in :func:`cache_dir`; when neither has it and
    ``download`` is true (e.g. in Colab, where only the package is installed) downloads it from the
    repository into the cache.
    """
    filename = name if name.endswith(".pt") else f"{name}.pt"
    shipped = shipped_checkpoints_dir()
    cached = cache_dir() / filename
    searched = [shipped / filename] if shipped is not None else []
    searched.append(cached)
    for path in searched:
        if path.is_file():
            return path
    if download:
        import torch

        url = f"{REPO_URL}/raw/main/checkpoints/{filename}"
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_name(cached.name + ".part")
        try:
            torch.hub.download_url_to_file(url, str(partial), progress=False)
            partial.replace(cached)
            return cached
        except Exception as exc:
            partial.unlink(missing_ok=True)
            reason = f"and downloading {url} failed ({exc.__class__.__name__})"
    else:
        reason = "and downloading was not allowed"
    raise CheckpointError(
        f"no shipped checkpoint {filename} in {' or '.join(str(p.parent) for p in searched)} {reason}; "
        f"make it with `make checkpoints` or `python -m tinydiff_lib train --model {name}`"
    )
