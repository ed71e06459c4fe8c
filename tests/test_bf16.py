"""bfloat16 only where the hardware has it: detection, the sampling fallback to float32, the training warning."""

import re
import warnings
from pathlib import Path

import pytest
import torch

import tinydiff_lib as td
from tinydiff_lib import evaluation, sampling_io, training

CPUINFO = Path("/proc/cpuinfo")


@pytest.mark.skipif(not CPUINFO.exists(), reason="needs Linux's /proc/cpuinfo")
def test_cpu_detection_agrees_with_the_kernels_cpu_flags():
    """The CPU has bf16 units exactly when the kernel lists AVX-512 BF16 or AMX-BF16 among its flags."""
    flags = set(re.findall(r"\S+", " ".join(re.findall(r"^flags\s*:(.*)$", CPUINFO.read_text(), re.M))))
    if not flags:
        pytest.skip("no x86 flags line in /proc/cpuinfo")
    assert td.native_bf16("cpu") == bool({"avx512_bf16", "amx_bf16"} & flags)


def test_devices_without_bf16_units_say_so():
    assert td.native_bf16("mps") is False
    if not torch.cuda.is_available():
        assert td.native_bf16("cuda") is False


def _model():
    torch.manual_seed(0)
    return td.build_model("tiny_conv", channels=8).eval(), td.NoiseSchedule(name="linear", num_steps=50)


@pytest.mark.parametrize("native", [False, True])
def test_sampling_falls_back_to_float32_only_without_bf16_units(monkeypatch, native):
    monkeypatch.setattr(sampling_io, "native_bf16", lambda device: native)
    model, schedule = _model()
    args = dict(num_samples=4, sampler="ddim", steps=3, seed=0, progress=False)
    fp32 = td.generate(model, schedule, **args)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        asked = td.generate(model, schedule, bf16=True, **args)
    fell_back = [w for w in caught if issubclass(w.category, RuntimeWarning) and "float32" in str(w.message)]
    if native:  # bf16 ran: rounding to 8 significant bits moves the samples, and nothing was said
        assert not fell_back and not torch.equal(asked, fp32)
    else:  # float32 ran, bit for bit, and one warning said so
        assert len(fell_back) == 1 and torch.equal(asked, fp32)


def test_sampling_bf16_is_off_when_not_asked(monkeypatch):
    monkeypatch.setattr(sampling_io, "native_bf16", lambda device: pytest.fail("asked the hardware needlessly"))
    assert sampling_io.sampling_bf16(False, torch.device("cpu")) is False


def test_evaluation_records_the_dtype_it_sampled_in(monkeypatch, tmp_path):
    """The card's ``sampling_dtype`` is what ran: float32 when bf16 was asked for on a CPU without bf16 units."""
    monkeypatch.setattr(sampling_io, "native_bf16", lambda device: False)
    cfg = td.TrainConfig(model="tiny_conv", model_kwargs={"channels": 8}, num_diffusion_steps=50, steps=2,
                         batch_size=8, checkpoint_every=2)  # fmt: skip
    out = tmp_path / "t.pt"
    td.train(cfg, data=torch.rand(16, 1, 28, 28) * 2 - 1, out=out, device="cpu", progress=False)
    images = torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(1)) * 2 - 1
    monkeypatch.setattr(evaluation, "mnist_tensor", lambda train=True, root=None: (images, torch.zeros(64).long()))
    net = td.FeatureNet(channels=4, feature_dim=8)
    with pytest.warns(RuntimeWarning, match="float32"):
        result = td.evaluate_checkpoint(out, num_samples=8, sampler="ddim", steps=2, device="cpu",
                                        feature_net=net, progress=False, bf16=True)  # fmt: skip
    assert result["sampling_dtype"] == "float32"


@pytest.mark.parametrize("native", [False, True])
def test_training_warns_about_emulated_bf16_but_keeps_the_run_as_asked(monkeypatch, native, tmp_path):
    monkeypatch.setattr(training, "native_bf16", lambda device: native)
    cfg = td.TrainConfig(model="tiny_conv", model_kwargs={"channels": 8}, num_diffusion_steps=50, steps=1,
                         batch_size=8, cpu_amp=True)  # fmt: skip
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        td.train(cfg, data=torch.rand(16, 1, 28, 28) * 2 - 1, out=tmp_path / "t.pt", device="cpu", progress=False)
    said = [w for w in caught if "--cpu-bf16" in str(w.message)]
    assert len(said) == (0 if native else 1)
    ckpt = td.load_checkpoint(tmp_path / "t.pt")  # the run is the one asked for, and says what ran
    assert ckpt["config"]["cpu_amp"] is True and ckpt["runtime"]["amp"] is True
