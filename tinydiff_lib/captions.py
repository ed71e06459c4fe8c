"""Captions of digits for training and evaluating the text model: templates, misspellings, case and fillers.

A caption (:func:`caption`, :func:`captions_for`) fills a template with the number word ``{w}`` or the digit
``{d}`` (``{a}``: "a" or "an"), misspells the word with probability :data:`P_MISSPELL`, in training adds filler
words and a final mark (:func:`add_fillers`), and draws a case style. Every choice comes from a
``torch.Generator``, so a caption is a pure function of the seed.

Two splits of phrasings: :data:`TRAIN_TEMPLATES`, which training sees, and :data:`HELD_OUT_TEMPLATES`, which it
never does; their own words (:data:`HELD_OUT_WORDS`: "show", "scribbled", "ink", ...) appear in no training
caption, fillers included, so the held-out score measures new wording, not a new order of known words.
"""

from __future__ import annotations

import re

import torch

from .errors import UsageError

__all__ = [
    "NUMBER_WORDS", "MISSPELLINGS", "TRAIN_TEMPLATES", "HELD_OUT_TEMPLATES", "TEMPLATES", "HELD_OUT_WORDS",
    "P_MISSPELL", "FILLER_WORDS", "P_FILLER", "PUNCTUATION", "P_PUNCTUATION", "MAX_PROMPT_LENGTH", "made_up_word",
    "add_fillers", "caption", "random_caption", "captions_from_seeds", "captions_for", "template_pattern",
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
    "mnist digit {d}", "i want {a} {w}", "give the digit {d}", "write the digit {d}!", "{w}, please",
    "how about {a} {w}?", "sketch {a} {w}", "{a} {w} drawn with a pen", "the handwritten digit {w}",
    "{a} {w} on white paper", "white digit {d} on a dark background", "a neat {w}", "a messy {w}",
    "generate {a} {w}", "make {a} {d}", "the symbol {d}", "a number: {d}", "handwriting: {w}",
    "let's see {a} {w}", "just {a} {w}", "digit: {w}", "{w} (handwritten)", "a sample of the digit {w}",
    "what does {a} {w} look like?", "{d} please", "a quick {w} for the class",
)  # fmt: skip
#: phrasings never used in training: evaluation reports them separately (what generalises to new wording)
HELD_OUT_TEMPLATES = ("show me {a} {w}", "can you draw the digit {d}?", "a scribbled {w}",
                      "my favourite number is {w}", "{d} in black ink")  # fmt: skip
TEMPLATES = {"train": TRAIN_TEMPLATES, "held_out": HELD_OUT_TEMPLATES}
P_MISSPELL = 0.15  # probability that a number word is replaced by one of its misspellings
#: words a training caption may carry around its phrasing (:func:`add_fillers`): common English words, and
#: near-homophones of number words ("won", "ate", "for", "too") as hard negatives. None of them holds a number
#: word, a misspelling or a digit, and none is a word that only the held-out phrasings use.
FILLER_WORDS = (
    "big", "small", "bold", "thin", "thick", "clean", "simple", "nice", "little", "large", "tiny", "old", "new",
    "good", "very", "really", "quite", "so", "and", "or", "but", "also", "here", "there", "now", "today",
    "again", "maybe", "ok", "hey", "hi", "hello", "thanks", "yes", "cool", "art", "photo", "style", "font",
    "pencil", "chalk", "board", "card", "page", "letter", "sign", "mark", "shape", "line", "stroke", "light",
    "bright", "grey", "blue", "red", "green", "school", "kid", "teacher", "homework", "math", "sum", "count",
    "score", "code", "label", "data", "test", "for", "to", "too", "ate", "won", "at", "of", "by", "from", "as",
    "like", "this", "that", "it", "nicely", "carefully", "quickly", "slowly", "sure", "cat", "dog", "tree",
    "house", "sun", "moon", "star", "car", "ball", "apple", "hat", "box", "pixel", "grid", "lab", "random",
    "example", "centered", "upright", "tilted", "italic", "curly", "straight", "round", "square", "pretty",
    "ugly", "fancy", "plain", "draft", "final", "another", "some", "any", "every", "big!", "ok.", "hmm",
)  # fmt: skip
P_FILLER = 0.5  # probability that a training caption gets filler words: 1 to 3, a third of them made-up words
PUNCTUATION = (".", "!", "?", "...")  # a training caption ends in one of these with probability P_PUNCTUATION
P_PUNCTUATION = 0.2
#: case styles and their probabilities (folded away by :func:`normalise`, but captions look like typing)
CASE_STYLES = (("lower", 0.55), ("capitalised", 0.2), ("upper", 0.1), ("random", 0.15))
MAX_PROMPT_LENGTH = 48  # characters after normalising: what the text encoder reads; captions fit in it
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


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


def _names_a_number(word: str) -> bool:
    """Whether ``word`` holds a digit, a number word or a misspelling of one anywhere in it ("phone" holds "one")."""
    return any(c.isdigit() for c in word) or any(name in word for name in _NUMBER_NAMES)


def _words(templates) -> set[str]:
    return {w for t in templates for w in re.split(r"[^a-z']+", t.replace("{a}", "").replace("{w}", "")) if w}


_NUMBER_NAMES = NUMBER_WORDS + tuple(s for slips in MISSPELLINGS.values() for s in slips)
#: words only the held-out phrasings use ("show", "scribbled", "ink", ...): no training caption holds them
HELD_OUT_WORDS = frozenset(_words(HELD_OUT_TEMPLATES) - _words(TRAIN_TEMPLATES))


def made_up_word(generator: torch.Generator) -> str:
    """2 to 7 random letters that hold no number name and are no held-out word (drawn again until so)."""
    while True:
        n = int(torch.randint(2, 8, (1,), generator=generator))
        word = "".join(_LETTERS[i] for i in torch.randint(26, (n,), generator=generator).tolist())
        if not _names_a_number(word) and word not in HELD_OUT_WORDS:
            return word


def _filler(generator: torch.Generator) -> str:
    if float(torch.rand(1, generator=generator)) < 1 / 3:
        return made_up_word(generator)
    return FILLER_WORDS[int(torch.randint(len(FILLER_WORDS), (1,), generator=generator))]


def add_fillers(text: str, generator: torch.Generator, max_length: int = MAX_PROMPT_LENGTH) -> str:
    """``text`` with, with probability :data:`P_FILLER`, 1 to 3 filler words (:data:`FILLER_WORDS` or, a third of
    the time, a :func:`made_up_word`) put at random word boundaries, and with probability :data:`P_PUNCTUATION`
    a final mark from :data:`PUNCTUATION`. Nothing is added that would take the text past ``max_length``.

    Why: the encoder max-pools over characters, so an unfamiliar word whose letters look like part of a number
    word ("in" in "nine") can outvote the real one; words around the phrasing teach its detectors to fire on
    whole number words only.
    """
    u = torch.rand(3, generator=generator).tolist()  # fillers?, how many, punctuation?
    words = text.split(" ")
    for _ in range(1 + int(u[1] * 3) if u[0] < P_FILLER else 0):
        filler, at = _filler(generator), int(torch.randint(len(words) + 1, (1,), generator=generator))
        if len(text) + len(filler) + 1 <= max_length:
            words.insert(at, filler)
            text = " ".join(words)
    if u[2] < P_PUNCTUATION and text[-1] not in "?!.":
        mark = PUNCTUATION[int(torch.randint(len(PUNCTUATION), (1,), generator=generator))]
        text = text + mark if len(text) + len(mark) <= max_length else text
    return text


def caption(label: int, template: str, generator: torch.Generator, fillers: bool = False) -> str:
    """Fill ``template`` for the digit ``label``: the number word misspelled with probability :data:`P_MISSPELL`,
    filler words if ``fillers`` (:func:`add_fillers`), then a random case style; all draws from ``generator``.
    E.g. (3, "a handwritten {w}") -> "a handwritten thre".
    """
    label = _check_label(label)
    u = torch.rand(3, generator=generator).tolist()  # misspell?, which misspelling, case style
    word = NUMBER_WORDS[label]
    if u[0] < P_MISSPELL:
        slips = MISSPELLINGS[label]
        word = slips[min(int(u[1] * len(slips)), len(slips) - 1)]
    number = word if "{w}" in template else str(label)
    article = "an" if number.startswith(("ei", "8")) else "a"
    text = template.format(w=word, d=label, a=article)
    return _case(add_fillers(text, generator) if fillers else text, u[2], generator)


def random_caption(label: int, generator: torch.Generator, split: str = "train", fillers: bool | None = None) -> str:
    """A caption of ``label`` from a template drawn uniformly from ``TEMPLATES[split]`` ("train" or "held_out");
    ``fillers`` (default: for "train" only) adds filler words and punctuation (:func:`add_fillers`)."""
    if split not in TEMPLATES:
        raise UsageError(f"unknown template split {split!r}; choose train or held_out")
    templates = TEMPLATES[split]
    template = templates[int(torch.randint(len(templates), (1,), generator=generator))]
    return caption(label, template, generator, split == "train" if fillers is None else fillers)


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
