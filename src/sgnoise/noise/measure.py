"""Stochastic gradient noise at a checkpoint: U_B(w) = g_B(w) − ∇f(w) (docs/science.md §2).

The evaluation set is split into K = ⌊n/b⌋ disjoint mini-batches in a fixed order (the
trailing n mod b points are not used); ∇f is the mean of the K mini-batch gradients, so the
rows of the noise matrix average to zero. Each mini-batch's backward pass accumulates
straight into its row of a preallocated K × P matrix (no per-batch copies or host syncs).
The model is put in eval mode for the pass (dropout off, batch norm on running statistics).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import torch


@contextlib.contextmanager
def _grads_into_rows(model, matrix):
    """Point each parameter's .grad at its slice of a row of ``matrix``; restore afterwards."""
    parameters = [p for p in model.parameters() if p.requires_grad]
    saved = [p.grad for p in parameters]
    was_training = model.training
    model.eval()
    try:
        def bind(row):
            offset = 0
            for p in parameters:
                n = p.numel()
                p.grad = matrix[row, offset:offset + n].view_as(p)
                offset += n
        yield bind
    finally:
        for p, grad in zip(parameters, saved):
            p.grad = grad
        model.train(was_training)


def minibatch_gradients(model, loss_fn, inputs, targets, batches) -> torch.Tensor:
    """Matrix (len(batches), P) of mini-batch gradients, one row per index tensor in ``batches``."""
    n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    device = next(model.parameters()).device
    matrix = torch.zeros(len(batches), n_params, dtype=torch.float32, device=device)
    with _grads_into_rows(model, matrix) as bind:
        for row, index in enumerate(batches):
            bind(row)
            loss_fn(model(inputs[index]), targets[index]).backward()
    return matrix


def partition_batches(n: int, batch_size: int, device="cpu") -> list[torch.Tensor]:
    """Index tensors of the P = ⌊n / b⌋ disjoint mini-batches of the evaluation set, in order (the reference
    code's fixed partition; the last n − P·b points are left out)."""
    if not 1 <= batch_size <= n:
        raise ValueError(f"batch_size must be in [1, {n}] (the evaluation set size), got {batch_size}")
    k = n // batch_size
    return list(torch.arange(k * batch_size, device=device).view(k, batch_size))


def mean_of_rows(rows, n_params: int, device) -> torch.Tensor:
    """∇f = the mean of the mini-batch gradient rows, accumulated in float64 in row order, as float32;
    the same value whether the rows are held or produced one at a time."""
    total = torch.zeros(n_params, dtype=torch.float64, device=device)
    count = 0
    for row in rows:
        total += row
        count += 1
    return (total / count).to(torch.float32)


def gradient_noise(model, loss_fn, inputs, targets, batch_size) -> tuple[torch.Tensor, torch.Tensor]:
    """Noise matrix (K, P) and full gradient (P,), float32, rows in evaluation order.

    Columns follow ``torch.nn.utils.parameters_to_vector`` order.
    """
    matrix = minibatch_gradients(model, loss_fn, inputs, targets, partition_batches(len(inputs), batch_size, inputs.device))
    full_gradient = mean_of_rows(matrix, matrix.shape[1], matrix.device)
    matrix -= full_gradient
    return matrix, full_gradient


@dataclass
class CheckpointNoise:
    """One noise pass: the stored columns of the partition noise (K, M), the full gradient (P,), whether
    every noise entry was finite, and the pooled statistics over all P coordinates (sgnoise.tail.pooled)."""

    stored: torch.Tensor
    full_gradient: torch.Tensor
    finite: bool
    pooled: dict | None = None
    held: bool = True


def measure_noise(model, loss_fn, inputs, targets, batch_size, columns, *, pooled=None, matrix_memory_mb=1024.0):
    """The noise pass of one checkpoint with the paper's pooled estimate streamed over all P coordinates.

    ``columns``: indices (tensor) of the stored coordinates. ``pooled``: None (no pooled statistics) or
    {"k1_grid": [...], "zeros": "exclude"|"eps"} (:func:`sgnoise.tail.pooled.pooled_statistics`). When
    the K × P gradient matrix fits ``matrix_memory_mb`` it is held and streamed from memory (one
    backward pass per mini-batch); otherwise each mini-batch gradient is computed twice — once for
    ∇f, the stored columns and the zero pattern, once more to stream its noise row — and no K × P
    matrix exists. Both give bit-identical results on CPU.
    """
    from sgnoise.tail.pooled import pooled_statistics

    n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    batches = partition_batches(len(inputs), batch_size, inputs.device)
    k, device = len(batches), inputs.device
    if pooled is None or k * n_params * 4 <= matrix_memory_mb * 2**20:
        noise, full_gradient = gradient_noise(model, loss_fn, inputs, targets, batch_size)
        finite = bool(torch.isfinite(noise).all())
        statistics = None
        if pooled is not None and finite:
            used = int(torch.count_nonzero(noise)) if pooled["zeros"] == "exclude" else noise.numel()
            statistics = pooled_statistics(lambda: iter(noise), k, pooled["k1_grid"], pooled["zeros"], used, device)
        return CheckpointNoise(noise[:, columns], full_gradient, finite, statistics, held=True)
    buffer = torch.zeros(1, n_params, dtype=torch.float32, device=device)

    def gradients():
        with _grads_into_rows(model, buffer) as bind:
            for index in batches:
                buffer.zero_()
                bind(0)
                loss_fn(model(inputs[index]), targets[index]).backward()
                yield buffer[0]

    stored = torch.empty(k, len(columns), dtype=torch.float32, device=device)
    nonzero = torch.zeros(n_params, dtype=torch.bool, device=device)
    total = torch.zeros(n_params, dtype=torch.float64, device=device)
    finite = True
    for row, gradient in enumerate(gradients()):
        finite = finite and bool(torch.isfinite(gradient).all())
        stored[row] = gradient[columns]
        nonzero |= gradient != 0
        total += gradient
    full_gradient = (total / k).to(torch.float32)
    stored -= full_gradient[columns]
    if not finite:
        return CheckpointNoise(stored, full_gradient, False, None, held=False)

    def noise_rows():
        for gradient in gradients():
            yield gradient - full_gradient

    used = k * int(nonzero.sum()) if pooled["zeros"] == "exclude" else k * n_params
    statistics = pooled_statistics(noise_rows, k, pooled["k1_grid"], pooled["zeros"], used, device)
    return CheckpointNoise(stored, full_gradient, True, statistics, held=False)


def random_minibatch_noise(model, loss_fn, inputs, targets, batch_size, n_batches, full_gradient, generator) -> torch.Tensor:
    """(R, P) noise of R independently drawn mini-batches (each without replacement) about ``full_gradient``."""
    n = len(inputs)
    batches = [torch.randperm(n, generator=generator)[:batch_size].to(inputs.device) for _ in range(n_batches)]
    matrix = minibatch_gradients(model, loss_fn, inputs, targets, batches)
    matrix -= full_gradient
    return matrix


def select_columns(n_params: int, max_coords: int | None, seed: int) -> np.ndarray:
    """Sorted indices of the stored coordinates: all of them, or a seeded uniform subset of max_coords."""
    if max_coords is None or max_coords >= n_params:
        return np.arange(n_params, dtype=np.int64)
    if max_coords < 1:
        raise ValueError(f"noise.max_coords must be >= 1, got {max_coords}")
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_params, size=max_coords, replace=False)).astype(np.int64)
