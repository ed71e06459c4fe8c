"""The MNIST feature network: inputs, the checkpoint format, training, and the shipped network."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tinydiff_lib.features import (
    DEFAULT_FEATURE_NET,
    FeatureNet,
    as_model_input,
    extract_features,
    load_feature_net,
    random_affine,
    train_feature_net,
    weights_hash,
)

from .conftest import needs_mnist

needs_feature_net = pytest.mark.skipif(not DEFAULT_FEATURE_NET.is_file(), reason="run scripts/train_feature_net.py")


def test_as_model_input_accepts_uint8_and_float_images():
    x = torch.rand(5, 1, 28, 28) * 2 - 1
    x_uint8 = ((x + 1) / 2 * 255).round().to(torch.uint8).squeeze(1).numpy()  # (5, 28, 28) MNIST polarity
    torch.testing.assert_close(as_model_input(x_uint8), x, atol=1 / 127.5, rtol=0)
    assert as_model_input(x).shape == (5, 1, 28, 28)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        as_model_input(x_uint8.astype(np.float32))  # 0..255 floats
    with pytest.raises(ValueError, match="shape"):
        as_model_input(torch.zeros(5, 3, 28, 28))


def test_random_affine_with_zero_ranges_is_the_identity_and_keeps_the_background():
    """rotation 0, zoom 1, shift 0 is the identity grid; any transform of a blank (−1) image stays blank."""
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(4, 1, 28, 28, generator=gen) * 2 - 1
    torch.testing.assert_close(random_affine(x, gen, degrees=0, scale=0, shift=0), x, atol=1e-5, rtol=0)
    blank = -torch.ones(4, 1, 28, 28)
    torch.testing.assert_close(random_affine(blank, gen), blank)
    assert random_affine(x, gen).shape == x.shape


def test_extract_features_shapes_and_probabilities():
    net = FeatureNet(channels=4, feature_dim=8).eval()
    phi, probs = extract_features(net, torch.rand(7, 1, 28, 28) * 2 - 1, batch_size=3)  # 3 + 3 + 1
    assert phi.shape == (7, 8) and probs.shape == (7, 10) and (phi >= 0).all()  # post-ReLU features
    torch.testing.assert_close(probs.sum(1), torch.ones(7))


def test_missing_feature_net_names_the_command(tmp_path):
    with pytest.raises(FileNotFoundError, match="scripts/train_feature_net.py"):
        load_feature_net(tmp_path / "missing.pt")


def test_train_feature_net_writes_a_loadable_checkpoint_and_card(tmp_path):
    """A one-epoch run on 128 synthetic images (class c = a bright row at height 2c + 4) writes a file that
    load_feature_net reads back (also with device="auto") with the weights its card's hash names."""
    gen = torch.Generator().manual_seed(0)
    y = torch.arange(128) % 10
    x = -torch.ones(128, 1, 28, 28)
    x[torch.arange(128), 0, 2 * y + 4, 4:24] = 1.0
    x += 0.1 * torch.randn(x.shape, generator=gen)
    out = tmp_path / "features.pt"
    card = train_feature_net(out, epochs=1, batch_size=32, data=(x, y), test_data=(x[:40], y[:40]), progress=False,
                             command="probe")  # fmt: skip
    assert out.is_file() and json.loads(out.with_suffix(".json").read_text()) == card
    assert card["training"]["command"] == "probe" and len(card["training"]["log"]) == 1
    assert 0 <= card["test_accuracy"] <= 1 and card["file_size_bytes"] == out.stat().st_size
    net = load_feature_net(out, device="auto")
    assert not net.training and weights_hash(net.cpu()) == card["weights_sha256"]
    assert torch.load(out, weights_only=True)["format"] == "tinydiff-features"  # plain types + tensors only


@needs_mnist
@needs_feature_net
def test_shipped_feature_net_is_accurate():
    from tinydiff_lib.data import mnist_tensor

    ckpt = torch.load(DEFAULT_FEATURE_NET, map_location="cpu", weights_only=True)  # plain types + tensors only
    assert ckpt["test_accuracy"] >= 0.99 and isinstance(ckpt["torch_version"], str)
    assert DEFAULT_FEATURE_NET.stat().st_size <= 1_000_000
    net = load_feature_net()
    x, y = mnist_tensor(train=False)
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[:2000]
    with torch.no_grad():
        accuracy = (net(x[idx]).argmax(1) == y[idx]).double().mean().item()
    assert accuracy >= 0.985
