"""The vectorised FCN of bundled training: B bias-free ReLU FCNs of one architecture as stacked weights
W_l (B, out, in), with forward pass, backpropagated deltas, in-place SGD step, per-member losses in closed
form, metrics and per-(member, mini-batch) gradients, all by batched matrix products (docs/bundle.md)."""

from __future__ import annotations

import torch

from sgnoise.models.losses import LOSS_AND_DELTA, get_loss
from sgnoise.training.bundle.plan import EVALUATION_CHUNK, MAX_NOISE_CHUNK_BYTES


def fcn_forward(weights, inputs) -> tuple[torch.Tensor, list]:
    """Outputs (B, n, C) of B bias-free ReLU FCNs with weights[l] of shape (B, out_l, in_l), and
    each layer's (input a_{l−1}, pre-activation z_l = a_{l−1} W_lᵀ), a_l = relu(z_l).

    ``inputs`` is (B, n, d) (each member its own points) or (n, d) (the same points for all
    members: the first layer is then one GEMM and its z_1 a (B, n, out) view of an (n, B·out) product).
    """
    count, hidden, record = weights[0].shape[0], inputs, []
    for index, weight in enumerate(weights):
        if hidden.dim() == 2:
            z = (hidden @ weight.reshape(-1, weight.shape[-1]).T).view(len(hidden), count, -1).transpose(0, 1)
        else:
            z = torch.bmm(hidden, weight.transpose(1, 2))
        record.append((hidden, z))
        hidden = torch.relu(z) if index < len(weights) - 1 else z
    return hidden, record


def fcn_outputs(weights, inputs) -> torch.Tensor:
    """Outputs (B, n, C) of :func:`fcn_forward`."""
    return fcn_forward(weights, inputs)[0]


def fcn_deltas(weights, record, output_delta) -> list[torch.Tensor]:
    """∂f/∂z_l of every layer from ∂f/∂out (B, n, C):
    δ_L = ∂f/∂out, δ_{l−1} = (δ_l W_l) ⊙ 1[z_{l−1} > 0] (ReLU; 0 where z ≤ 0, as torch's relu backward)."""
    deltas = [output_delta]
    for index in range(len(weights) - 1, 0, -1):
        deltas.append(torch.ops.aten.threshold_backward(torch.bmm(deltas[-1], weights[index]), record[index - 1][1], 0.0))
    return deltas[::-1]


def sgd_update(weights, record, output_delta, step_sizes) -> None:
    """One SGD step of every member, in place: W_l[m] ← W_l[m] − η_m δ_l[m]ᵀ a_{l−1}[m], from the
    record of :func:`fcn_forward` (own inputs (B, b, d) or shared (b, d)), ∂f/∂out (B, b, C) and
    step sizes η (B,). η_m is folded into δ_L, so each layer's update is one fused product."""
    delta = output_delta * step_sizes.view(-1, 1, 1)
    for (layer_in, _), layer_delta, weight in zip(record, fcn_deltas(weights, record, delta), weights):
        if layer_in.dim() == 2:  # shared input: (B·out × b)(b × in), one GEMM for all members
            flat_delta = layer_delta.transpose(1, 2).reshape(-1, layer_in.shape[0])
            weight.view(-1, weight.shape[-1]).addmm_(flat_delta, layer_in, alpha=-1.0)
        else:
            weight.baddbmm_(layer_delta.transpose(1, 2), layer_in, alpha=-1.0)


class MemberLosses:
    """Per-member losses of a bundle whose members may use different losses (sgnoise.models.losses): their
    values and output gradients in closed form for training and the noise pass, and each member's own
    loss function (as train_run calls it) for metrics.
    """

    def __init__(self, names):
        self.names = list(names)
        self.functions = {name: get_loss(name) for name in dict.fromkeys(self.names)}
        self.groups = {name: [m for m, other in enumerate(self.names) if other == name] for name in self.functions}

    def output_delta(self, outputs, targets) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-member losses (B, ...) (the mean over each mini-batch of b points) and the gradient
        ∂(Σ losses)/∂outputs (B, ..., b, C), in closed form (sgnoise.models.losses.LOSS_AND_DELTA; no autograd).
        outputs (B, ..., b, C), targets (B, ..., b)."""
        lead, classes = outputs.shape[:-2], outputs.shape[-1]
        if len(self.groups) == 1:
            losses, delta = LOSS_AND_DELTA[self.names[0]](outputs.reshape(-1, outputs.shape[-2], classes),
                                                          targets.reshape(-1, targets.shape[-1]))
            return losses.view(lead), delta.view(outputs.shape)
        losses = outputs.new_empty(lead)
        delta = torch.empty_like(outputs)
        for name, members in self.groups.items():
            index = torch.tensor(members, device=outputs.device)
            out, target = outputs.index_select(0, index), targets.index_select(0, index)
            part, part_delta = LOSS_AND_DELTA[name](out.reshape(-1, out.shape[-2], classes),
                                                    target.reshape(-1, target.shape[-1]))
            losses.index_copy_(0, index, part.view(out.shape[:-2]))
            delta.index_copy_(0, index, part_delta.view(out.shape))
        return losses, delta

    def each(self, outputs, targets) -> list[float]:
        """[f_m(outputs[m], targets[m])] as python floats (the member's own loss function, one call each)."""
        shared = targets.dim() == outputs.dim() - 2
        return [float(self.functions[name](outputs[m], targets if shared else targets[m]))
                for m, name in enumerate(self.names)]


@torch.no_grad()
def evaluate_members(weights, losses: MemberLosses, inputs, targets, chunk=EVALUATION_CHUNK):
    """Per-member (mean loss, accuracy) lists over a whole set, in the chunks of sgnoise.training.outputs.evaluate."""
    count = weights[0].shape[0]
    total_loss, correct = [0.0] * count, torch.zeros(count, dtype=torch.long, device=inputs.device)
    for start in range(0, len(inputs), chunk):
        target = targets[start:start + chunk]
        out = fcn_outputs(weights, inputs[start:start + chunk])
        for m, value in enumerate(losses.each(out, target)):
            total_loss[m] += value * len(target)
        correct += (out.argmax(dim=2) == target).sum(dim=1)
    return [value / len(inputs) for value in total_loss], [c / len(inputs) for c in correct.tolist()]


@torch.no_grad()
def minibatch_gradients(weights, losses: MemberLosses, inputs, targets, batch_size: int, columns=None, batches=None,
                        chunk_batches=None, consume=None):
    """Per-member gradients ∇f_m(B_k) of K mini-batches shared by all members.

    ``batches`` (K, b) indexes ``inputs``; None takes the K = ⌊n/b⌋ consecutive mini-batches
    of the evaluation order (as sgnoise.noise.measure.gradient_noise). Returns (rows, total): rows
    (B, K, M) the gradients at ``columns`` (parameters_to_vector order; None = all P), total
    (B, P) their sum over the K mini-batches. Works ``chunk_batches`` mini-batches at a time
    (default: as many as fit MAX_NOISE_CHUNK_BYTES); ``consume(gradient)``, when given, sees each
    chunk's full gradients (B, k, P) in order.
    """
    count, device = weights[0].shape[0], inputs.device
    n_batches = len(inputs) // batch_size if batches is None else len(batches)
    if batches is not None and batches.shape[1] != batch_size:
        raise ValueError(f"batches must have batch_size={batch_size} columns, got shape {tuple(batches.shape)}")
    sizes = [w[0].numel() for w in weights]
    n_params = sum(sizes)
    if chunk_batches is None:
        chunk_batches = max(1, min(n_batches, MAX_NOISE_CHUNK_BYTES // (4 * count * n_params)))
    rows = torch.empty(count, n_batches, n_params if columns is None else len(columns), device=device)
    total = torch.zeros(count, n_params, device=device)
    weights = [w.detach() for w in weights]
    for start in range(0, n_batches, chunk_batches):
        k = min(chunk_batches, n_batches - start)
        if batches is None:
            x = inputs[start * batch_size:(start + k) * batch_size]
            y = targets[start * batch_size:(start + k) * batch_size]
        else:
            index = batches[start:start + k].reshape(-1)
            x, y = inputs.index_select(0, index), targets.index_select(0, index)
        out, record = fcn_forward(weights, x)
        targets_k = y.view(1, k, batch_size).expand(count, -1, -1)
        _, delta = losses.output_delta(out.view(count, k, batch_size, -1), targets_k)
        deltas = fcn_deltas(weights, record, delta.view(count, k * batch_size, -1))
        gradient = rows[:, start:start + k] if columns is None else torch.empty(count, k, n_params, device=device)
        offset = 0
        for (layer_in, _), delta, weight, size in zip(record, deltas, weights, sizes):
            out_dim, in_dim = weight.shape[1:]
            if layer_in.dim() == 2:  # shared input (k·b, d): one (B·out × b)(b × d) product per mini-batch
                delta = delta.transpose(0, 1).reshape(k, batch_size, count * out_dim)
                block = torch.bmm(delta.transpose(1, 2), layer_in.view(k, batch_size, in_dim))
                block = block.view(k, count, size).transpose(0, 1)
            else:  # each member's input (B, k·b, in): one (out × b)(b × in) product per member and mini-batch
                block = torch.bmm(delta.reshape(count * k, batch_size, out_dim).transpose(1, 2),
                                  layer_in.reshape(count * k, batch_size, in_dim)).view(count, k, size)
            gradient[:, :, offset:offset + size] = block
            offset += size
        total += gradient.sum(dim=1)
        if consume is not None:
            consume(gradient)
        if columns is not None:
            rows[:, start:start + k] = gradient.index_select(2, columns)
    return rows, total
