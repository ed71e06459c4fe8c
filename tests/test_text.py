"""Captions from templates, their tokens, and the tiny text encoder: expectations from how they are built."""

import re

import pytest
import torch

from tinydiff_lib.errors import UsageError
from tinydiff_lib.text import (
    FILLER_WORDS,
    HELD_OUT_TEMPLATES,
    HELD_OUT_WORDS,
    MAX_PROMPT_LENGTH,
    MISSPELLINGS,
    NUMBER_WORDS,
    P_FILLER,
    P_MISSPELL,
    PAD,
    TRAIN_TEMPLATES,
    UNK,
    TextEncoder,
    caption,
    captions_for,
    made_up_word,
    normalise,
    random_caption,
    template_pattern,
    tokenize,
)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def many(split, n=3000, seed=0):
    labels = torch.arange(n) % 10
    return labels, [normalise(c) for c in captions_for(labels, gen(seed), split)]


def plain(split, n=3000, seed=0):
    """Captions without filler words: what the templates alone give."""
    g = gen(seed)
    return [normalise(random_caption(d % 10, g, split, fillers=False)) for d in range(n)]


def test_captions_are_a_pure_function_of_the_seed():
    labels = torch.arange(50) % 10
    assert captions_for(labels, gen(3)) == captions_for(labels, gen(3))
    assert captions_for(labels, gen(3)) != captions_for(labels, gen(4))
    assert caption(7, "draw {a} {w}", gen(1)) == caption(7, "draw {a} {w}", gen(1))


def test_held_out_phrasings_never_appear_in_training_captions():
    held_out = [template_pattern(t) for t in HELD_OUT_TEMPLATES]
    train = [template_pattern(t) for t in TRAIN_TEMPLATES]
    captions = plain("train")
    assert not [c for c in captions if any(p.fullmatch(c) for p in held_out)]
    assert all(any(p.fullmatch(c) for p in train) for c in captions)  # every caption is one of the templates
    captions = many("held_out", 500)[1]  # held-out captions never get fillers
    assert all(any(p.fullmatch(c) for p in held_out) for c in captions)
    assert not [c for c in captions if any(p.fullmatch(c) for p in train)]
    used = {t for t, p in zip(TRAIN_TEMPLATES, train) if any(p.fullmatch(c) for c in plain("train", 2000))}
    assert len(used) == len(TRAIN_TEMPLATES) and 4 <= len(HELD_OUT_TEMPLATES) <= 6


def test_no_training_caption_holds_a_word_only_the_held_out_phrasings_use():
    """Fillers and made-up words included: the held-out phrasings stay new wording, not just a new order."""
    assert {"show", "scribbled", "favourite", "ink", "in", "me"} <= HELD_OUT_WORDS
    for c in many("train", 4000)[1]:
        assert not set(re.split(r"[^a-z']+", c)) & HELD_OUT_WORDS, c


def test_fillers_name_no_number():
    """A filler holding "one" ("phone") or a misspelling ("size" holds "siz") would teach the wrong digit."""
    names = [*NUMBER_WORDS, *(s for slips in MISSPELLINGS.values() for s in slips)]
    made_up = [made_up_word(gen(s)) for s in range(3000)]
    for word in [*FILLER_WORDS, *made_up]:
        assert not any(name in word for name in names) and not any(c.isdigit() for c in word), word
        assert word not in HELD_OUT_WORDS, word
    assert all(2 <= len(w) <= 7 and w.isalpha() for w in made_up) and len(set(made_up)) > 2500


def test_fillers_come_at_their_rate_and_only_in_training():
    """P(a training caption of "{w}" gets filler words) = P_FILLER, within 4 standard errors over n = 4000."""
    words = [normalise(caption(3, "{w}", gen(s), fillers=True)).rstrip(".!?").split() for s in range(4000)]
    rate = sum(len(w) > 1 for w in words) / len(words)
    assert abs(rate - P_FILLER) < 4 * (P_FILLER * (1 - P_FILLER) / len(words)) ** 0.5, rate
    assert {len(w) for w in words} == {1, 2, 3, 4}  # 1 to 3 fillers
    assert all(len(normalise(caption(3, "{w}", gen(s)))) <= len("threee") for s in range(200))  # off by default


def test_every_caption_names_its_digit():
    """The number appears as its digit, its word, or one of the word's misspellings, never as another number."""
    for split in ("train", "held_out"):
        labels, captions = many(split, 1000)
        for y, c in zip(labels.tolist(), captions):
            names = {str(y), NUMBER_WORDS[y], *MISSPELLINGS[y]}
            words = set(re.split(r"[^a-z0-9]+", c))
            assert words & names, c
            others = {str(d) for d in range(10) if d != y} | {w for d, w in enumerate(NUMBER_WORDS) if d != y}
            assert not words & others, c


def test_misspellings_come_at_their_rate_and_case_is_random():
    """P(misspelled) = P_MISSPELL: over n = 4000 draws the rate lies within 4 standard errors (about 0.023)."""
    words = [normalise(caption(3, "{w}", gen(s))) for s in range(4000)]
    assert set(words) == {"three", *MISSPELLINGS[3]}
    rate = sum(w != "three" for w in words) / len(words)
    assert abs(rate - P_MISSPELL) < 4 * (P_MISSPELL * (1 - P_MISSPELL) / len(words)) ** 0.5, rate
    raw = captions_for(torch.arange(400) % 10, gen(5))
    assert any(c.isupper() for c in raw) and any(c.islower() for c in raw) and any(c[0].isupper() for c in raw)


def test_articles_agree_with_the_number():
    assert {normalise(caption(8, "{a} {w}", gen(s))).split()[0] for s in range(40)} == {"an"}
    assert {normalise(caption(7, "{a} {d}", gen(s))) for s in range(10)} == {"a 7"}
    assert normalise(caption(8, "draw {a} {d}", gen(0))) == "draw an 8"


def test_every_caption_fits_the_encoder():
    """The longest fill of every template (longest spelling of every number) is within MAX_PROMPT_LENGTH, and
    filler words never take a caption past it."""
    fills = [(w, str(d)) for d in range(10) for w in (NUMBER_WORDS[d], *MISSPELLINGS[d])]
    longest = max(len(t.format(w=w, d=d, a="an")) for t in TRAIN_TEMPLATES + HELD_OUT_TEMPLATES for w, d in fills)
    assert longest <= MAX_PROMPT_LENGTH
    long = "white digit {d} on a dark background"
    filled = [len(caption(8, long, gen(s), fillers=True)) for s in range(500)]
    assert max(filled) <= MAX_PROMPT_LENGTH and max(filled) > len(long.format(d=8)) + 4


def test_tokens_fold_case_and_white_space():
    same = tokenize(["Three", "THREE", "  three ", "tHrEe"])
    assert (same == same[0]).all()
    assert tokenize(["a  handwritten\tthree"]).equal(tokenize(["a handwritten three"]))
    assert tokenize([""]).eq(PAD).all() and tokenize(["   "]).eq(PAD).all()
    assert tokenize(["3€"])[0, 1] == UNK and tokenize(["3€"]).shape == (1, MAX_PROMPT_LENGTH)


def test_a_prompt_longer_than_the_encoder_takes_is_an_error():
    assert tokenize(["x" * MAX_PROMPT_LENGTH]).ne(PAD).all()
    with pytest.raises(UsageError, match=f"takes at most {MAX_PROMPT_LENGTH}: shorten it"):
        tokenize(["x" * (MAX_PROMPT_LENGTH + 1)])
    with pytest.raises(UsageError, match="not a digit"):
        caption(10, "{w}", gen())


def test_the_empty_prompt_is_the_null_embedding():
    torch.manual_seed(0)
    enc = TextEncoder(16)
    out = enc(tokenize(["", "three", "", "the digit 3"]))
    assert torch.equal(out[0], enc.null) and torch.equal(out[2], enc.null)
    assert not torch.allclose(out[1], enc.null) and not torch.allclose(out[1], out[3])


def test_the_encoding_does_not_depend_on_the_padding_length():
    torch.manual_seed(0)
    enc = TextEncoder(16)
    tokens = tokenize(["a handwritten number three", "7"])
    longer = torch.cat([tokens, torch.full((2, 20), PAD)], dim=1)  # (2, 68)
    torch.testing.assert_close(enc(tokens), enc(longer))
    assert enc(tokens).shape == (2, 16)
