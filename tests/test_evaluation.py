"""Evaluation: the statistics cache, the report keys and their two kinds of spread, and the evaluate command."""

from __future__ import annotations

import json
import math

import pytest
import torch

from tinydiff_lib import evaluation
from tinydiff_lib.cli import main
from tinydiff_lib.features import DEFAULT_FEATURE_NET, FEATURES_FORMAT, FeatureNet

from .conftest import needs_mnist

needs_feature_net = pytest.mark.skipif(not DEFAULT_FEATURE_NET.is_file(), reason="run scripts/train_feature_net.py")


@pytest.fixture
def small_feature_net(tmp_path, monkeypatch):
    """A random 8-d FeatureNet saved as a checkpoint, and 200 random images standing in for MNIST (both splits)."""
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(200, 1, 28, 28, generator=gen) * 2 - 1
    monkeypatch.setattr(evaluation, "mnist_tensor", lambda train=True, root=None: (images, torch.zeros(200).long()))
    kwargs = {"channels": 4, "feature_dim": 8}
    path = tmp_path / "features.pt"
    torch.save({"format": FEATURES_FORMAT, "kwargs": kwargs, "state_dict": FeatureNet(**kwargs).state_dict()}, path)
    return path, images


def test_stats_cache_is_keyed_by_the_weights(tmp_path):
    net = FeatureNet()
    net.source_path = tmp_path / "net.pt"
    cache = evaluation._load_cache(net)
    cache["floors"]["probe"] = {"fid": 1.0}
    evaluation._save_cache(net, cache)
    assert (tmp_path / "net.stats.pt").is_file()
    assert evaluation._load_cache(net)["floors"] == {"probe": {"fid": 1.0}}
    with torch.no_grad():
        net.classifier.bias += 1  # a changed network invalidates the cache
    assert evaluation._load_cache(net)["floors"] == {}


def test_evaluate_images_resolves_device_auto(small_feature_net):
    """``device="auto"`` used to reach ``net.to("auto")`` unresolved (RuntimeError: Expected one of cpu, cuda,
    ... device type at start of device string: auto); it must pick a device like every other entry point."""
    path, images = small_feature_net
    result = evaluation.evaluate_images(images[:20], feature_net=str(path), device="auto", kid_subsets=3,
                                        kid_subset_size=10)  # fmt: skip
    assert result["num_samples"] == 20 and result["num_reference"] == 200 and result["num_floor"] == 20
    assert sum(result["class_histogram"]) == 20 and math.isfinite(result["fid"])
    assert {"kid_std", "kid_floor_std"} <= set(result) and not any(key.endswith("_seed_std") for key in result)


def test_real_images_score_like_their_floor(small_feature_net):
    """Scored against themselves (reference = the same 200 images), a set has FID ≈ 0 and precision = recall = 1."""
    path, images = small_feature_net
    result = evaluation.evaluate_images(images, feature_net=str(path), kid_subsets=5, kid_subset_size=50)
    assert abs(result["fid"]) < 1e-6 and result["precision"] == 1.0 and result["recall"] == 1.0
    assert result["fid_floor"] == pytest.approx(result["fid"], abs=1e-6)  # the floor draws the same 200 images


def test_unsure_is_the_share_below_the_confidence_threshold():
    """``unsure`` counts the images whose top class probability is under UNSURE_BELOW, and no others."""
    below, above = evaluation.UNSURE_BELOW - 0.05, evaluation.UNSURE_BELOW + 0.05
    rest = lambda top: [top] + [(1 - top) / 9] * 9  # noqa: E731  (a row of 10 probabilities summing to 1)
    probs = torch.tensor([rest(below), rest(above), rest(above), rest(1.0)])  # (4, 10): one hesitant image of 4
    phi = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    reference = {"phi": phi, "mu": phi.mean(0), "sigma": torch.cov(phi.T), "rms": phi.pow(2).mean().sqrt(),
                 "radii": evaluation.knn_radii(phi, 1)}  # fmt: skip
    result = evaluation.score_features(phi, probs, reference, k=1, kid_subsets=2, kid_subset_size=2)
    assert result["unsure"] == 0.25 and result["mean_confidence"] == pytest.approx((below + 2 * above + 1) / 4)


def test_a_floor_cached_before_a_metric_existed_is_recomputed(small_feature_net):
    """A cache written before ``unsure`` was a metric has floors without it: they are scored again, not read."""
    path, images = small_feature_net
    options = dict(feature_net=str(path), kid_subsets=3, kid_subset_size=10)
    first = evaluation.evaluate_images(images[:20], **options)
    net = evaluation.load_feature_net(str(path))
    cache = evaluation._load_cache(net)
    (key,) = cache["floors"]
    cache["floors"][key] = {name: value for name, value in cache["floors"][key].items() if name != "unsure"}
    evaluation._save_cache(net, cache)
    again = evaluation.evaluate_images(images[:20], **options)
    assert again["unsure_floor"] == first["unsure_floor"] and "unsure" in evaluation._load_cache(net)["floors"][key]


def test_mean_std_over_seeds_names_the_two_spreads_apart():
    """``<name>_seed_std`` is the spread over seeds; ``kid_std`` stays a subset standard error (of the mean)."""

    def run(fid, kid, kid_std):
        metrics = {name: 0.5 for name in evaluation.SEED_METRICS}
        return {**metrics, "fid": fid, "kid": kid, "kid_std": kid_std, "kid_floor_std": 0.0, "class_histogram": [1, 2]}

    result = evaluation.mean_std_over_seeds([run(10.0, 0.1, 0.03), run(14.0, 0.3, 0.04)])
    assert result["fid"] == 12.0 and result["fid_seed_std"] == pytest.approx(math.sqrt(8))  # std of 10, 14
    assert result["kid"] == pytest.approx(0.2) and result["kid_seed_std"] == pytest.approx(math.sqrt(0.02))
    assert result["kid_std"] == pytest.approx(math.sqrt(0.03**2 + 0.04**2) / 2)  # se of the mean of two estimates
    assert result["class_histogram"] == [2, 4] and len(result["per_seed"]) == 2
    assert {f"{name}_seed_std" for name in evaluation.SEED_METRICS} <= set(result)


# --- the evaluate command -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    from tinydiff_lib import TrainConfig, train

    out = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    data = torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    config = TrainConfig(model="tiny_conv", model_kwargs={"channels": 16}, steps=5, batch_size=16, checkpoint_every=5)
    train(config, data=data, out=out, device="cpu", progress=False)
    return out


KEYS = {"fid", "kid", "kid_std", "precision", "recall", "fid_floor", "kid_floor", "kid_floor_std", "precision_floor",
        "recall_floor", "class_histogram", "mean_confidence", "unsure", "unsure_floor", "num_samples", "sampler",
        "steps", "seconds"}  # fmt: skip


@needs_mnist
@needs_feature_net
def test_evaluate_prints_one_json_object(tiny_checkpoint, capsys):
    argv = ["evaluate", "--checkpoint", str(tiny_checkpoint), "--num-samples", "16", "--sampler", "ddim",
            "--steps", "2", "--device", "cpu", "--quiet"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    result = json.loads(out[0])
    assert KEYS <= set(result)
    assert result["num_samples"] == 16 and result["sampler"] == "ddim" and result["steps"] == 2
    assert sum(result["class_histogram"]) == 16 and len(result["class_histogram"]) == 10
    assert 0 <= result["precision"] <= 1 and 0 <= result["recall"] <= 1
    assert result["fid"] > result["fid_floor"]  # five training steps are far from real digits

    assert main([*argv, "--seeds", "0,1"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["seeds"] == [0, 1] and {"fid_seed_std", "fid_floor_seed_std", "kid_seed_std"} <= set(result)
    assert KEYS <= set(result) and sum(result["class_histogram"]) == 32
    assert result["sampling_dtype"] == "float32"


def test_evaluate_bf16_asks_for_bfloat16_sampling(monkeypatch, capsys):
    """``evaluate --bf16`` hands bf16=True to evaluate_checkpoint (the cards' and studies' sampling dtype)."""
    import tinydiff_lib.evaluation as evaluation

    seen = []
    monkeypatch.setattr(evaluation, "evaluate_checkpoint", lambda *a, **kw: seen.append(kw["bf16"]) or {"fid": 1.0})
    for extra in ([], ["--bf16"]):
        assert main(["evaluate", "--checkpoint", "x.pt", "--quiet", *extra]) == 0
    assert seen == [False, True] and json.loads(capsys.readouterr().out.splitlines()[-1]) == {"fid": 1.0}


@pytest.mark.parametrize(
    "argv",
    [
        ["evaluate", "--checkpoint", "no/such/file.pt"],
        ["evaluate", "--checkpoint", "x.pt", "--num-samples", "0"],
        ["evaluate", "--checkpoint", "x.pt", "--num-samples", "3"],  # k-NN with k = 3 needs more than 3
        ["evaluate", "--checkpoint", "x.pt", "--seeds", "1,two"],
        ["evaluate", "--checkpoint", "x.pt", "--sampler", "euler"],
        ["evaluate", "--checkpoint", "x.pt", "--features", "no/such/features.pt"],
    ],
)
def test_evaluate_bad_arguments_give_one_error_line(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:")
