"""FiLMUNet: a residual U-Net (28 → 14 → 7 → 14 → 28) whose blocks are conditioned on t by FiLM.

Optionally also on a condition c, through the same path: emb = TimeMLP(t) + CondEmbed(c) feeds every FiLM. With
``condition="label"`` c is a digit (B,) int64, embedded by ``nn.Embedding(11, emb_dim)`` whose row 10
(:data:`NULL_LABEL`) is the learned "no label" entry; with ``condition="text"`` c is the prompt's characters
(B, L) int64 (:func:`~tinydiff_lib.text.tokenize`), embedded by a :class:`~tinydiff_lib.text.TextEncoder` whose
empty prompt is its learned null vector. ``cond=None`` means the null condition: the unconditional model that
conditioning dropout trains alongside (Ho & Salimans 2022).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..text import MAX_PROMPT_LENGTH, PAD, TextEncoder
from .blocks import AttentionBlock, Downsample, ResBlock, TimeMLP, Upsample, group_norm

__all__ = ["FiLMUNet", "FILM_UNET_PRESETS", "CONDITIONS", "NUM_CLASSES", "NULL_LABEL"]

CONDITIONS = ("none", "label", "text")
NUM_CLASSES = 10
NULL_LABEL = NUM_CLASSES  # the row of the label embedding that means "no label"


class FiLMUNet(nn.Module):
    """U-Net with residual FiLM blocks (Ronneberger et al. 2015; Ho et al. 2020; Perez et al. 2018).

    Level i works at 28 / 2^i pixels with ``base_channels · channel_mults[i]`` channels and
    ``num_res_blocks`` ResBlocks; the decoder mirrors it with one extra block per level, each
    concatenating a skip from the encoder. Optional self-attention at the lowest resolution (7×7) and
    in the middle. The time MLP is shared by every block. (B, 1, 28, 28), t (B,) -> (B, 1, 28, 28).
    ``time_conditioning``: ``"film"`` (scale and shift), ``"shift"`` (an additive time bias) or ``"none"``
    (the network never sees t): the last two are the ablations of the results page.
    ``condition``: ``"none"``, ``"label"`` or ``"text"`` (see the module docstring); ``forward(x, t, cond=None)``.
    An unconditional model has exactly the parameters (and state-dict keys) it had before conditioning existed.
    """

    def __init__(
        self,
        in_channels: int = 1,
        base_channels: int = 32,
        channel_mults: tuple[int, ...] = (1, 2, 2),
        num_res_blocks: int = 1,
        dropout: float = 0.1,
        attention: bool = True,
        num_heads: int = 4,
        time_conditioning: str = "film",
        condition: str = "none",
    ):
        super().__init__()
        if condition not in CONDITIONS:
            raise ValueError(f"condition must be one of {CONDITIONS}, got {condition!r}")
        channel_mults = tuple(channel_mults)
        emb_dim = 4 * base_channels
        self.emb_dim, self.condition = emb_dim, condition
        self.time_mlp = TimeMLP(base_channels, emb_dim) if time_conditioning != "none" else None
        if condition == "label":
            self.label_emb = nn.Embedding(NUM_CLASSES + 1, emb_dim)  # row NULL_LABEL: "no label"
        elif condition == "text":
            self.text_encoder = TextEncoder(emb_dim, max_length=MAX_PROMPT_LENGTH)
        film = time_conditioning
        self.stem = nn.Conv2d(in_channels, base_channels, 3, padding=1)
        last = len(channel_mults) - 1

        def attn(level: int, ch: int) -> nn.Module:
            return AttentionBlock(ch, num_heads) if attention and level == last else nn.Identity()

        # encoder: remember the channel count of every tensor pushed as a skip
        self.down = nn.ModuleList()
        skips, ch = [base_channels], base_channels
        for level, mult in enumerate(channel_mults):
            for _ in range(num_res_blocks):
                self.down.append(nn.ModuleList([ResBlock(ch, base_channels * mult, emb_dim, dropout, film),
                                                attn(level, base_channels * mult)]))  # fmt: skip
                ch = base_channels * mult
                skips.append(ch)
            if level != last:
                self.down.append(Downsample(ch))
                skips.append(ch)
        self.mid1 = ResBlock(ch, ch, emb_dim, dropout, film)
        self.mid_attn = AttentionBlock(ch, num_heads) if attention else nn.Identity()
        self.mid2 = ResBlock(ch, ch, emb_dim, dropout, film)
        # decoder: one more block per level than the encoder, each eating one skip
        self.up = nn.ModuleList()
        for level, mult in reversed(list(enumerate(channel_mults))):
            for _ in range(num_res_blocks + 1):
                self.up.append(nn.ModuleList([ResBlock(ch + skips.pop(), base_channels * mult, emb_dim, dropout, film),
                                              attn(level, base_channels * mult)]))  # fmt: skip
                ch = base_channels * mult
            if level != 0:
                self.up.append(Upsample(ch))
        self.out_norm = group_norm(ch)
        self.out_conv = nn.Conv2d(ch, in_channels, 3, padding=1)
        nn.init.zeros_(self.out_conv.weight)  # start by predicting ε = 0
        nn.init.zeros_(self.out_conv.bias)

    def null_condition(self, batch: int, device=None) -> torch.Tensor | None:
        """The unconditional c for ``batch`` images: labels (B,) all NULL_LABEL, or empty prompts (B, L) all PAD."""
        if self.condition == "label":
            return torch.full((batch,), NULL_LABEL, dtype=torch.long, device=device)
        if self.condition == "text":
            return torch.full((batch, self.text_encoder.max_length), PAD, dtype=torch.long, device=device)
        return None

    def embed_condition(self, cond: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor:
        """CondEmbed(c): (B, 4·base); ``cond=None`` is the null condition."""
        cond = self.null_condition(len(x), x.device) if cond is None else cond
        return self.label_emb(cond) if self.condition == "label" else self.text_encoder(cond)

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        emb = self.time_mlp(t) if self.time_mlp is not None else x.new_zeros(len(x), self.emb_dim)  # (B, 4·base)
        if self.condition != "none":
            emb = emb + self.embed_condition(cond, x)  # the condition joins t on the FiLM path
        elif cond is not None:
            raise ValueError("this FiLMUNet is unconditional (condition='none'); call it without cond")
        h = self.stem(x)  # (B, base, 28, 28)
        skips = [h]
        for layer in self.down:  # 28 -> 14 -> 7
            if isinstance(layer, Downsample):
                h = layer(h)
            else:
                block, attn = layer
                h = attn(block(h, emb))
            skips.append(h)
        h = self.mid2(self.mid_attn(self.mid1(h, emb)), emb)  # (B, C_last, 7, 7)
        for layer in self.up:  # 7 -> 14 -> 28
            if isinstance(layer, Upsample):
                h = layer(h)
            else:
                block, attn = layer
                h = attn(block(torch.cat([h, skips.pop()], dim=1), emb))  # concat skip on channels
        return self.out_conv(F.silu(self.out_norm(h)))  # (B, 1, 28, 28)


#: named configurations: a CPU-friendly default and the seed-001 walkthrough's width (base 64)
_CPU_PRESET = dict(base_channels=24, channel_mults=(1, 2, 2), num_res_blocks=1, dropout=0.0, attention=True)
FILM_UNET_PRESETS = {
    "film_unet": _CPU_PRESET,
    "film_unet_shift": dict(_CPU_PRESET, time_conditioning="shift"),  # ablation: additive time bias only
    "film_unet_no_time": dict(_CPU_PRESET, time_conditioning="none"),  # ablation: no time input
    "film_unet_base64": dict(_CPU_PRESET, base_channels=64, dropout=0.1),
    "film_unet_class": dict(_CPU_PRESET, condition="label"),  # class-conditional (issue 12)
    "film_unet_text": dict(_CPU_PRESET, condition="text"),  # prompt-conditional, tiny text encoder
    # the capacity study (issue 11): the CPU preset changed in one dimension each
    "film_unet_w16": dict(_CPU_PRESET, base_channels=16),  # narrower
    "film_unet_w32": dict(_CPU_PRESET, base_channels=32),  # wider
    "film_unet_rb2": dict(_CPU_PRESET, num_res_blocks=2),  # two ResBlocks per level
    "film_unet_noattn": dict(_CPU_PRESET, attention=False),  # no self-attention at 7×7
}
