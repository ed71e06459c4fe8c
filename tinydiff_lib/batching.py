"""Training batches: which images step k trains on, and how they reach the device.

Epoch e visits the images in the order of ``randperm(N)`` drawn from a CPU generator seeded by
(seed, e), ``N // B`` batches of B per epoch (the rest is dropped), so batch k is a pure function of
(seed, k): a resumed run, or N processes under torchrun, see the same batches as one uninterrupted run.

On CUDA the whole training set is moved to the GPU once when it fits (MNIST as float32 is 188 MB) and each
epoch's permutation is moved once per epoch, so a step costs no host-to-device copy. A set that does not
fit stays on the host; its batches are gathered into two pinned buffers used in turn, so the copy of
batch k + 1 overlaps the step on batch k. The class labels of the same rows (``source.labels(step)``, for a
conditional run) stay on the CPU, where the conditioning draws its captions and dropout.
"""

from __future__ import annotations

import torch

from .errors import UsageError

__all__ = ["batch_indices", "BatchSource"]

#: keep the data on the GPU when it takes at most this share of the free GPU memory
GPU_SHARE = 0.25


def batch_indices(step: int, n: int, batch_size: int, seed: int) -> torch.Tensor:
    """Indices (B,) of the global batch used at ``step``: epoch e shuffles with a generator seeded by (seed, e)."""
    per_epoch = n // batch_size
    if per_epoch == 0:
        raise UsageError(f"batch size {batch_size} is larger than the data ({n} images)")
    epoch, i = divmod(step, per_epoch)
    return _permutation(n, seed, epoch)[i * batch_size : (i + 1) * batch_size]


def _permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))


class BatchSource:
    """``source[step]`` is this process's rows ``rows`` of the global batch at ``step``, on ``device``.

    ``data``: (N, C, H, W) on the CPU. ``rows``: the slice of the global batch this rank trains on.
    ``labels``: (N,) int64 class labels of ``data`` (optional), read with :meth:`labels`.
    """

    def __init__(self, data: torch.Tensor, batch_size: int, seed: int, device: torch.device, rows=slice(None),
                 labels: torch.Tensor | None = None):  # fmt: skip
        self.n, self.batch_size, self.seed, self.device, self.rows = len(data), batch_size, seed, device, rows
        batch_indices(0, self.n, batch_size, seed)  # checks the batch size once
        if labels is not None and len(labels) != self.n:
            raise UsageError(f"got {len(labels)} labels for {self.n} images")
        self.label_data = labels.long().cpu() if labels is not None else None
        self.on_device = device.type != "cuda" or _fits_on_gpu(data, device)
        self.data = data.to(device) if self.on_device else data
        self._epoch, self._perm = None, None
        if not self.on_device:
            shape = (len(range(batch_size)[rows]), *data.shape[1:])
            self._buffers = [torch.empty(shape, dtype=data.dtype).pin_memory() for _ in range(2)]
            self._copied = [None, None]  # CUDA events: the copy out of each buffer has finished

    def _indices(self, step: int, on_cpu: bool = False) -> torch.Tensor:
        """This process's rows of the global batch at ``step``: (B_local,) on the data's device (or the CPU)."""
        per_epoch = self.n // self.batch_size
        epoch, i = divmod(step, per_epoch)
        if epoch != self._epoch:  # one permutation (and on CUDA one copy) per epoch
            perm = _permutation(self.n, self.seed, epoch)
            self._epoch, self._perm_cpu = epoch, perm
            self._perm = perm.to(self.device) if self.on_device else perm
        perm = self._perm_cpu if on_cpu else self._perm
        return perm[i * self.batch_size : (i + 1) * self.batch_size][self.rows]

    def labels(self, step: int) -> torch.Tensor:
        """The labels (B_local,) int64, on the CPU, of the images ``self[step]`` returns."""
        if self.label_data is None:
            raise UsageError("this batch source was made without labels")
        return self.label_data[self._indices(step, on_cpu=True)]

    def __getitem__(self, step: int) -> torch.Tensor:
        idx = self._indices(step)
        if self.on_device:
            return self.data[idx]  # (B_local, C, H, W), no host round trip
        return self._pinned_copy(step % 2, idx)

    def _pinned_copy(self, k: int, idx: torch.Tensor) -> torch.Tensor:
        if self._copied[k] is not None:
            self._copied[k].synchronize()  # the earlier copy out of this buffer is done
        torch.index_select(self.data, 0, idx, out=self._buffers[k])
        batch = self._buffers[k].to(self.device, non_blocking=True)
        self._copied[k] = torch.cuda.Event()
        self._copied[k].record()
        return batch


def _fits_on_gpu(data: torch.Tensor, device: torch.device) -> bool:
    free, _ = torch.cuda.mem_get_info(device)
    return data.numel() * data.element_size() <= GPU_SHARE * free
