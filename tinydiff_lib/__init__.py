"""TinyDiff: denoising diffusion (DDPM/DDIM) from scratch on MNIST.

Symbols used across the package (our t runs over 0 … T−1; the paper's t is ours + 1):

=============  ======================  =================================================
symbol         code name               meaning
=============  ======================  =================================================
x_0            ``x0``                  a clean image in [-1, 1], shape (B, 1, 28, 28)
x_t            ``xt``                  the image after t + 1 noising steps
ε              ``eps``                 standard normal noise, shape like x_0
ε_θ(x_t, t)    ``eps_pred``            the model's prediction of ε
x̂_0            ``x0_pred``             the clean image implied by x_t and ε_θ (Eq. 15)
T              ``num_steps``           number of diffusion steps (1000 by default)
β_t            ``betas``               variance added at step t
α_t            ``alphas``              1 − β_t
ᾱ_t            ``alpha_bar``           ∏_{s≤t} α_s, the signal kept after t + 1 steps
β̃_t            ``posterior_variance``  β_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t)
SNR(t)         ``snr``                 ᾱ_t / (1 − ᾱ_t)
η              ``eta``                 DDIM stochasticity (0: deterministic, 1: DDPM-like)
=============  ======================  =================================================
"""

__version__ = "0.1.0"

from . import (
    captions,  # the templates and captions the text model of notebook 09 trains on
    sigma_view,  # the σ-view helpers of notebook 07, used as tinydiff_lib.sigma_view
    text,  # prompts, captions and the text encoder of notebook 09, used as tinydiff_lib.text
)
from .autoguidance import AutoGuided, autoguided, limited_guidance, noise_input
from .checkpoint import CheckpointError, export_checkpoint, load_checkpoint, load_model, save_checkpoint
from .conditioning import NULL_LABEL, Guided, guide, null_like
from .data import DataNotFoundError, data_root, from_uint8, load_mnist, make_loader, mnist_tensor, to_uint8, to_unit
from .diffusion import diffusion_loss, predict_eps, predict_x0, q_posterior, q_sample, sample_timesteps
from .edm import (
    MNIST_SIGMA_DATA,
    SIGMA_DISTRIBUTIONS,
    DDPMDenoiser,
    EDMPrecond,
    SigmaDistribution,
    ddim_sigmas,
    edm_loss,
    edm_weight,
    karras_sigmas,
    measure_sigma_data,
    schedule_sigmas,
)
from .errors import MissingDependencyError, MissingFileError, TinyDiffError, UsageError
from .evaluation import UNSURE_BELOW, evaluate_checkpoint, evaluate_images, real_data_floor, reference_stats
from .features import FeatureNet, as_model_input, extract_features, load_feature_net, train_feature_net
from .figures import animate_trajectory, image_panels, image_rows, show_receptive_field
from .hub import REPO_URL, checkpoint_path
from .metrics import (
    frechet_distance,
    gaussian_stats,
    kernel_inception_distance,
    knn_radii,
    mmd2_unbiased,
    polynomial_kernel,
    precision_recall,
)
from .models import (
    MODELS,
    AttentionBlock,
    BatchNormUNet,
    DilatedConvNet,
    Downsample,
    FiLM,
    FiLMUNet,
    MiniUNet,
    MiniUNetV2,
    MLPDenoiser,
    ResBlock,
    TimeMLP,
    TinyConv,
    Upsample,
    build_model,
    sinusoidal_embedding,
)
from .notebook import LoadedModel, StageShape, glue, load_or_train, lowest_share, read_results, trace_shapes
from .ode_samplers import (
    ODE_SAMPLERS,
    churn_step,
    dpmpp_2m_sample,
    dpmpp_2m_step,
    euler_sample,
    euler_step,
    heun_sample,
    heun_step,
    network_passes,
    ode_derivative,
    sample_x_T,
    stochastic_sample,
)
from .optim import lr_factor
from .plotting import forward_grid, plot_loss, plot_schedules, scatter_2d, show_images
from .receptive_field import frozen_norm_statistics, receptive_field
from .samplers import Trajectory, ddim_sample, ddim_step, ddim_timesteps, ddpm_sample, ddpm_step
from .sampling_io import generate, save_samples
from .schedule import SCHEDULES, NoiseSchedule, cosine_betas, linear_betas, make_betas, sigmoid_betas
from .text import HELD_OUT_TEMPLATES, TRAIN_TEMPLATES, TextEncoder, caption, captions_for, tokenize
from .toy import two_moons
from .training import NonFiniteLossError, TrainConfig, TrainResult, make_ema, make_optimizer, train
from .utils import atomic_torch_save, count_parameters, file_sha256, get_device, native_bf16, seed_everything

__all__ = [
    "__version__",
    # data
    "data_root", "load_mnist", "mnist_tensor", "make_loader", "to_unit", "to_uint8", "from_uint8",
    "DataNotFoundError",
    # schedule
    "NoiseSchedule", "linear_betas", "cosine_betas", "sigmoid_betas", "make_betas", "SCHEDULES",
    # diffusion
    "q_sample", "predict_x0", "predict_eps", "q_posterior", "sample_timesteps", "diffusion_loss",
    # samplers
    "ddpm_step", "ddim_step", "ddpm_sample", "ddim_sample", "ddim_timesteps", "Trajectory",
    # the σ view (EDM) and its samplers
    "EDMPrecond", "DDPMDenoiser", "SigmaDistribution", "SIGMA_DISTRIBUTIONS", "MNIST_SIGMA_DATA", "measure_sigma_data",
    "edm_loss", "edm_weight", "karras_sigmas", "schedule_sigmas", "ddim_sigmas", "ode_derivative", "euler_step",
    "heun_step", "churn_step", "dpmpp_2m_step", "sample_x_T", "euler_sample", "heun_sample", "stochastic_sample",
    "dpmpp_2m_sample", "network_passes", "ODE_SAMPLERS", "sigma_view", "text", "captions",
    # models
    "MODELS", "build_model", "TinyConv", "MiniUNet", "MiniUNetV2", "FiLMUNet", "BatchNormUNet", "DilatedConvNet",
    "MLPDenoiser", "TimeMLP", "sinusoidal_embedding", "receptive_field", "frozen_norm_statistics",
    "FiLM", "ResBlock", "AttentionBlock", "Downsample", "Upsample",
    # conditioning: labels, prompts, classifier-free guidance
    "Guided", "guide", "null_like", "NULL_LABEL", "TextEncoder", "tokenize", "caption", "captions_for",
    "AutoGuided", "autoguided", "limited_guidance", "noise_input",
    "TRAIN_TEMPLATES", "HELD_OUT_TEMPLATES", "generate", "save_samples",
    # training and checkpoints
    "TrainConfig", "TrainResult", "NonFiniteLossError", "train", "make_ema", "make_optimizer", "lr_factor",
    "CheckpointError", "save_checkpoint", "load_checkpoint", "load_model", "export_checkpoint",
    "checkpoint_path", "REPO_URL",
    # features, metrics and evaluation
    "FeatureNet", "load_feature_net", "train_feature_net", "as_model_input", "extract_features",
    "gaussian_stats", "frechet_distance", "polynomial_kernel", "mmd2_unbiased", "kernel_inception_distance",
    "knn_radii", "precision_recall", "reference_stats", "real_data_floor", "evaluate_images", "evaluate_checkpoint",
    "UNSURE_BELOW",
    # toy data
    "two_moons",
    # plotting
    "show_images", "plot_schedules", "forward_grid", "plot_loss", "scatter_2d", "animate_trajectory",
    "image_rows", "image_panels", "show_receptive_field",
    # notebook helpers
    "load_or_train", "LoadedModel", "trace_shapes", "StageShape", "glue", "read_results", "lowest_share",
    # errors
    "TinyDiffError", "UsageError", "MissingFileError", "MissingDependencyError",
    # utils
    "seed_everything", "get_device", "native_bf16", "atomic_torch_save", "count_parameters", "file_sha256",
]  # fmt: skip
