"""The bundled noise pass at a checkpoint: every member's noise rows at the stored coordinates, its full
gradient and its streamed pooled statistics over all P coordinates, from the K shared mini-batches."""

from __future__ import annotations

import torch

from sgnoise.tail.pooled import pooled_statistics, pooled_statistics_many
from sgnoise.training.bundle.vectorised import MemberLosses, minibatch_gradients
from sgnoise.training.outputs import pooled_options


def pooled_noise_pass(weights, losses: MemberLosses, inputs, targets, batch_size: int, stored, specs,
                      matrix_memory_mb: float = 1024.0):
    """The bundled noise pass with each member's pooled statistics over all P coordinates (as
    sgnoise.noise.measure.measure_noise for one run): (stored noise (B, K, M), full gradients (B, P),
    statistics per member). The (B, K, P) gradients are held when they fit ``matrix_memory_mb``;
    otherwise a second pass recomputes them chunk by chunk to stream the noise rows."""
    count, n_params = weights[0].shape[0], sum(w[0].numel() for w in weights)
    k = len(inputs) // batch_size
    options = [pooled_options(spec) for spec in specs]
    device = inputs.device
    if count * k * n_params * 4 <= matrix_memory_mb * 2**20:
        noise, total = minibatch_gradients(weights, losses, inputs, targets, batch_size)
        full_gradient = total / k
        noise -= full_gradient[:, None]
        statistics = []
        for m in range(count):
            used = int(torch.count_nonzero(noise[m])) if options[m]["zeros"] == "exclude" else k * n_params
            statistics.append(pooled_statistics(lambda m=m: iter(noise[m]), k, options[m]["k1_grid"], options[m]["zeros"],
                                                used, device))
        return (noise if stored is None else noise[:, :, stored]), full_gradient, statistics
    nonzero = torch.zeros(count, n_params, dtype=torch.bool, device=device)

    def mark(gradient):
        nonzero.__ior__((gradient != 0).any(dim=1))

    noise, total = minibatch_gradients(weights, losses, inputs, targets, batch_size, stored, consume=mark)
    full_gradient = total / k
    noise -= (full_gradient if stored is None else full_gradient[:, stored])[:, None]

    def run_pass(feed):  # recompute the gradients chunk by chunk; each member's noise rows in order
        def consume(gradient):
            for m in range(count):
                for row in gradient[m]:
                    feed(m, row - full_gradient[m])
        minibatch_gradients(weights, losses, inputs, targets, batch_size, torch.empty(0, dtype=torch.long, device=device),
                            consume=consume)

    used = [k * int(nonzero[m].sum()) if options[m]["zeros"] == "exclude" else k * n_params for m in range(count)]
    return noise, full_gradient, pooled_statistics_many(run_pass, k, options, used, device)
