"""Text prompts: captions generated from templates, their characters as tokens, and a tiny text encoder.

Why characters, and why lower case:

* **Characters, not words.** A misspelling ("thre", "sevn", "eigth") shares most of its characters and their
  local order with the word it misspells, so a convolution over characters maps it close to that word; a word
  vocabulary would map every spelling it has not seen to one ``<unk>`` and lose the digit. The alphabet is
  closed (:data:`CHARS`, 47 symbols), so no prompt is out of vocabulary, and "3" and "three" are both just
  characters: no separate path for digits and number words.
* **Lower case.** :func:`normalise` folds case before tokenising, so "THREE", "Three" and "three" are one
  input: case says nothing about the digit, and an invariance built in is one the network cannot get wrong
  (learned from data, it would cost parameters and could fail on an odd mixture like "tHrEe"). The captions
  still come in random case, so what the encoder sees is what users type after folding.
* **Max pooling.** The digit is named by one word or one character anywhere in the prompt, and the rest is
  phrasing. :class:`TextEncoder` takes the maximum of each feature over the characters, a detector that fires
  wherever the word stands, independent of the prompt's length and of unfamiliar words around it, which is
  what should carry over to phrasings held out of training (:data:`HELD_OUT_TEMPLATES`). Its blind spots are
  just as clear: "not a three" holds "three", and an unfamiliar word whose letters look like part of a number
  word ("in" in "nine") can fire that word's detector. Training captions carry filler words and made-up words
  (:func:`~tinydiff_lib.captions.add_fillers`) so that the detectors learn to want the whole number word.

The captions it is trained on come from :mod:`tinydiff_lib.captions` (re-exported here). The empty prompt
"" (all padding) is the unconditional input: the encoder returns its learned null embedding for it.
"""

from __future__ import annotations

import torch
from torch import nn

from .captions import *  # noqa: F403 (the caption names, re-exported: text.caption, text.TRAIN_TEMPLATES, ...)
from .captions import MAX_PROMPT_LENGTH
from .captions import __all__ as _caption_names
from .errors import UsageError

__all__ = [*_caption_names, "CHARS", "PAD", "UNK", "VOCAB_SIZE", "normalise", "tokenize", "TextEncoder"]

CHARS = "abcdefghijklmnopqrstuvwxyz0123456789 ,.;:!?'\"-()"
PAD, UNK = 0, 1  # token 0 pads a prompt to the fixed length; 1 stands for any character not in CHARS
VOCAB_SIZE = len(CHARS) + 2
_IDS = {c: i + 2 for i, c in enumerate(CHARS)}


def normalise(prompt: str) -> str:
    """What the encoder reads: lower case, runs of white space as one space, none at the ends."""
    return " ".join(prompt.lower().split())


def tokenize(prompts: list[str], max_length: int = MAX_PROMPT_LENGTH) -> torch.Tensor:
    """Prompts -> int64 tokens (B, max_length): character ids of :func:`normalise` (prompt), then :data:`PAD`.

    The empty prompt is all padding (the unconditional input). A prompt longer than ``max_length`` characters
    after normalising is an error, never cut: the part cut off might be the digit.
    """
    tokens = torch.full((len(prompts), max_length), PAD, dtype=torch.long)
    for i, prompt in enumerate(prompts):
        if not isinstance(prompt, str):
            raise UsageError(f"a prompt must be a string, got {type(prompt).__name__}")
        text = normalise(prompt)
        if len(text) > max_length:
            start = text[:24] + "…"
            raise UsageError(f"the prompt '{start}' has {len(text)} characters; the text encoder takes at most "
                             f"{max_length}: shorten it")  # fmt: skip
        tokens[i, : len(text)] = torch.tensor([_IDS.get(c, UNK) for c in text], dtype=torch.long)
    return tokens


class TextEncoder(nn.Module):
    """Characters -> one vector: embedding, two 1-D convolutions, max over the characters, MLP.

    tokens (B, L) int64 -> (B, out_dim). e = Embed(tokens) (B, L, char_dim); two Conv1d(kernel 5) + SiLU layers,
    each output multiplied by the mask of real characters, so padding acts exactly like the convolution's own zero
    padding and the result does not depend on L (receptive field 9 characters: a whole number word with its
    neighbours); h = max over real characters (B, channels); out = Linear -> SiLU -> Linear. A prompt with no
    characters (all :data:`PAD`) gets the learned ``null`` vector instead: the unconditional embedding.
    """

    def __init__(self, out_dim: int, char_dim: int = 32, channels: int = 64, kernel_size: int = 5,
                 max_length: int = MAX_PROMPT_LENGTH):  # fmt: skip
        super().__init__()
        self.max_length = max_length
        self.embed = nn.Embedding(VOCAB_SIZE, char_dim, padding_idx=PAD)
        self.convs = nn.ModuleList([nn.Conv1d(char_dim, channels, kernel_size, padding=kernel_size // 2),
                                    nn.Conv1d(channels, channels, kernel_size, padding=kernel_size // 2)])  # fmt: skip
        self.proj = nn.Sequential(nn.Linear(channels, out_dim), nn.SiLU(), nn.Linear(out_dim, out_dim))
        self.null = nn.Parameter(torch.randn(out_dim))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        mask = (tokens != PAD)[:, None, :]  # (B, 1, L)
        h = self.embed(tokens).transpose(1, 2)  # (B, L, char_dim) -> (B, char_dim, L)
        for conv in self.convs:
            h = nn.functional.silu(conv(h)) * mask  # (B, channels, L), zero on padding
        h = h.masked_fill(~mask, float("-inf")).amax(dim=-1)  # (B, channels): max over real characters
        has_text = mask.any(dim=-1)  # (B, 1)
        out = self.proj(torch.where(has_text, h, torch.zeros_like(h)))  # (B, out_dim)
        return torch.where(has_text, out, self.null.to(out.dtype))  # the null vector for the empty prompt
