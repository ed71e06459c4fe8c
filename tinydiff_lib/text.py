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
  what should carry over to phrasings held out of training (:data:`HELD_OUT_TEMPLATES`). Its blind spot is
  just as clear: "not a three" holds "three".

Captions (:func:`caption`, :func:`captions_for`) fill a template with the number word ``{w}`` or the digit
``{d}`` (``{a}``: "a" or "an"), misspell the word with probability :data:`P_MISSPELL` and draw a case style;
every choice comes from a ``torch.Generator``, so a caption is a pure function of the seed. The empty prompt
"" (all padding) is the unconditional input: the encoder returns its learned null embedding for it.
"""

from __future__ import annotations

import re

import torch
from torch import nn

from .errors import UsageError

__all__ = [
    "NUMBER_WORDS", "MISSPELLINGS", "TRAIN_TEMPLATES", "HELD_OUT_TEMPLATES", "TEMPLATES", "P_MISSPELL", "CHARS",
    "PAD", "UNK", "VOCAB_SIZE", "MAX_PROMPT_LENGTH", "caption", "random_caption", "captions_for",
    "captions_from_seeds", "template_pattern", "normalise", "tokenize", "TextEncoder",
]  # fmt: skip

NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
#: two common typing slips per number word (letters dropped, doubled, swapped or mistyped)
MISSPELLINGS = {
    0: ("zeor", "zeero"), 1: ("onee", "oen"), 2: ("twoo", "tuo"), 3: ("thre", "threee"), 4: ("fuor", "foru"),
    5: ("fiev", "fivv"), 6: ("sixx", "siz"), 7: ("sevn", "sevem"), 8: ("eigth", "eihgt"), 9: ("nien", "nnine"),
}  # fmt: skip
#: the phrasings training sees: ``{w}`` number word, ``{d}`` digit, ``{a}`` the article before the number
TRAIN_TEMPLATES = (
    "{w}", "{d}", "the digit {d}", "the digit {w}", "the number {w}", "the number {d}", "{a} {w}", "{a} {d}",
    "a handwritten {w}", "a handwritten {d}", "a handwritten number {w}", "a handwritten digit {d}",
    "number {w}, handwritten", "digit {d}, handwritten", "draw {a} {d}", "draw the number {w}", "write {a} {w}",
    "please draw {a} {w}", "an image of the digit {w}", "a picture of {a} {d}", "{w} written by hand",
    "mnist digit {d}",
)  # fmt: skip
#: phrasings never used in training: evaluation reports them separately (what generalises to new wording)
HELD_OUT_TEMPLATES = ("show me {a} {w}", "can you draw the digit {d}?", "a scribbled {w}",
                      "my favourite number is {w}", "{d} in black ink")  # fmt: skip
TEMPLATES = {"train": TRAIN_TEMPLATES, "held_out": HELD_OUT_TEMPLATES}
P_MISSPELL = 0.15  # probability that a number word is replaced by one of its misspellings
#: case styles and their probabilities (folded away by :func:`normalise`, but captions look like typing)
CASE_STYLES = (("lower", 0.55), ("capitalised", 0.2), ("upper", 0.1), ("random", 0.15))

CHARS = "abcdefghijklmnopqrstuvwxyz0123456789 ,.;:!?'\"-()"
PAD, UNK = 0, 1  # token 0 pads a prompt to the fixed length; 1 stands for any character not in CHARS
VOCAB_SIZE = len(CHARS) + 2
MAX_PROMPT_LENGTH = 48  # characters after normalising; the longest generated caption has 29
_IDS = {c: i + 2 for i, c in enumerate(CHARS)}


def _check_label(label: int) -> int:
    if not 0 <= int(label) <= 9:
        raise UsageError(f"label {label} is not a digit; use 0 to 9")
    return int(label)


def _case(text: str, u: float, generator: torch.Generator) -> str:
    """Apply the case style that the uniform draw ``u`` picks from :data:`CASE_STYLES`."""
    cumulative = torch.tensor([p for _, p in CASE_STYLES]).cumsum(0)  # (4,): 0.55, 0.75, 0.85, 1.0
    style = CASE_STYLES[min(int((cumulative <= u).sum()), len(CASE_STYLES) - 1)][0]
    if style == "capitalised":
        return text[:1].upper() + text[1:]
    if style == "upper":
        return text.upper()
    if style == "random":
        flips = (torch.rand(len(text), generator=generator) < 0.5).tolist()
        return "".join(c.upper() if f else c for c, f in zip(text, flips))
    return text


def caption(label: int, template: str, generator: torch.Generator) -> str:
    """Fill ``template`` for the digit ``label``: the number word misspelled with probability :data:`P_MISSPELL`,
    then a random case style; all draws from ``generator``. E.g. (3, "a handwritten {w}") -> "a handwritten thre".
    """
    label = _check_label(label)
    u = torch.rand(3, generator=generator).tolist()  # misspell?, which misspelling, case style
    word = NUMBER_WORDS[label]
    if u[0] < P_MISSPELL:
        slips = MISSPELLINGS[label]
        word = slips[min(int(u[1] * len(slips)), len(slips) - 1)]
    number = word if "{w}" in template else str(label)
    article = "an" if number.startswith(("ei", "8")) else "a"
    return _case(template.format(w=word, d=label, a=article), u[2], generator)


def random_caption(label: int, generator: torch.Generator, split: str = "train") -> str:
    """A caption of ``label`` from a template drawn uniformly from ``TEMPLATES[split]`` ("train" or "held_out")."""
    if split not in TEMPLATES:
        raise UsageError(f"unknown template split {split!r}; choose train or held_out")
    templates = TEMPLATES[split]
    return caption(label, templates[int(torch.randint(len(templates), (1,), generator=generator))], generator)


def captions_from_seeds(labels, seeds, split: str = "train") -> list[str]:
    """One :func:`random_caption` per label, caption i drawn from a generator seeded by ``seeds[i]``.

    Seeding per image lets a distributed run draw the seeds of the whole batch and keep its own rows.
    """
    return [random_caption(int(y), torch.Generator().manual_seed(int(s)), split) for y, s in zip(labels, seeds)]


def captions_for(labels, generator: torch.Generator, split: str = "train") -> list[str]:
    """Captions for ``labels`` (N,): one seed per label from ``generator``, then :func:`captions_from_seeds`."""
    seeds = torch.randint(2**62, (len(labels),), generator=generator)  # (N,)
    return captions_from_seeds(torch.as_tensor(labels).tolist(), seeds.tolist(), split)


def template_pattern(template: str) -> re.Pattern:
    """A regular expression that a normalised caption of ``template`` matches in full (any number or spelling)."""
    parts = re.split(r"(\{[wda]\})", template)
    return re.compile("".join(r"[^ ]+" if p in ("{w}", "{d}", "{a}") else re.escape(p) for p in parts))


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
