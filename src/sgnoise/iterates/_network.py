"""The network study: several FCNs, one per step size, trained by plain SGD as one batched model; their
weights over the last iterations recorded and the α̂ of their fluctuations per layer (docs/iterates.md)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sgnoise.iterates._seeds import setting_seed
from sgnoise.iterates._estimates import fluctuation_alpha_rows

if TYPE_CHECKING:
    import pandas as pd

# torch, pandas and sgnoise.models are imported where used (see the package docstring).


def stacked_fcn_weights(models) -> list:
    """The Linear weights of several FCNs of one architecture (:class:`sgnoise.models.FCN`), stacked
    layer by layer into (G, out, in) tensors (copies, float32, requiring grad)."""
    import torch

    layers = [list(model.layers) for model in models]
    if len({tuple(tuple(layer.weight.shape) for layer in net) for net in layers}) != 1:
        raise ValueError("the FCNs to stack must all have the same architecture")
    return [torch.stack([net[i].weight.detach() for net in layers]).clone().requires_grad_(True)
            for i in range(len(layers[0]))]


def stacked_fcn_forward(weights, inputs):
    """Outputs (G, B, C) of G stacked FCNs on inputs (G, B, ...): Linear (no bias), ReLU between, as
    :class:`sgnoise.models.FCN`."""
    import torch

    x = inputs.flatten(2)
    for weight in weights[:-1]:
        x = torch.relu(torch.bmm(x, weight.transpose(1, 2)))
    return torch.bmm(x, weights[-1].transpose(1, 2))


def coordinate_subset(size: int, max_coords, rng) -> np.ndarray:
    """Sorted seeded subset of at most ``max_coords`` of ``size`` flat indices (all if None or ≥ size)."""
    if max_coords is None or max_coords >= size:
        return np.arange(size)
    return np.sort(np.random.default_rng(rng).choice(size, int(max_coords), replace=False))


@dataclass
class NetworkIterates:
    """What :func:`train_fcn_iterates` returns for G networks (one per step size)."""

    etas: list
    layer_names: list          # "layers.0.weight", …
    layer_sizes: list          # parameters per layer
    coordinates: list          # per layer: the recorded flat indices
    recorded: list             # per layer: (record, G, m) float32 weights over the last iterations
    diverged: list             # per network: bool
    final_train_loss: list
    final_train_accuracy: list


def stacked_sgd_step(weights, train_x, train_y, batch, step_sizes, loss: str = "nll"):
    """One SGD step of G stacked FCNs in place: network g on the rows ``batch[g]`` (a (G, b) index tensor)
    with step ``step_sizes[g]`` (a (G,) tensor; 0 freezes a network). The loss and its gradient with
    respect to the outputs come from :data:`sgnoise.models.losses.LOSS_AND_DELTA` (per network), autograd does
    the rest. Returns the (G,) mini-batch losses before the step."""
    import torch

    from sgnoise.models.losses import LOSS_AND_DELTA

    try:
        loss_and_delta = LOSS_AND_DELTA[loss]
    except KeyError:
        raise ValueError(f"unknown loss {loss!r}; expected one of {', '.join(LOSS_AND_DELTA)}") from None
    outputs = stacked_fcn_forward(weights, train_x[batch])
    losses, delta = loss_and_delta(outputs.detach(), train_y[batch])
    gradients = torch.autograd.grad(outputs, weights, grad_outputs=delta)
    with torch.no_grad():
        scale = step_sizes.view(-1, 1, 1)
        for weight, gradient in zip(weights, gradients):
            weight.sub_(scale * gradient)
    return losses


def train_fcn_iterates(data: dict, model: dict, batch_size: int, etas, *, loss: str = "nll", iterations: int,
                       record: int, max_coords, seed=0, device="cpu") -> "NetworkIterates":
    """Plain SGD on G = len(etas) FCNs at once, network g with step etas[g], all from the same
    initialisation (:func:`sgnoise.models.build_model` after ``torch.manual_seed`` from ``seed``): one
    batched model (:func:`stacked_sgd_step`), each network drawing its own mini-batch of ``batch_size``
    training points at every step (uniformly and independently, with replacement). The weights of the
    last ``record`` iterations are kept, at most ``max_coords`` seeded coordinates per layer. A network
    whose loss becomes non-finite is frozen and flagged ``diverged``. Same seed → the same numbers (CPU)."""
    import torch

    from sgnoise.models.losses import get_loss
    from sgnoise.models import build_model

    if not 1 <= record <= iterations:
        raise ValueError(f"record must be in [1, iterations={iterations}], got {record}")
    loss_fn = get_loss(loss)
    train_x, train_y = data["train_x"].to(device), data["train_y"].to(device)
    n = train_x.shape[0]
    if batch_size > n:
        raise ValueError(f"batch size {batch_size} exceeds the {n} training points")
    sequence = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    init_seed, batch_seed, coordinate_seed = (int(s) for s in sequence.generate_state(3, np.uint32))
    torch.manual_seed(init_seed)
    template = build_model(model, tuple(train_x.shape[1:]), data["num_classes"])
    names = [name for name, _ in template.named_parameters()]
    weights = [w.to(device).detach().requires_grad_(True) for w in stacked_fcn_weights([template] * len(etas))]
    g = len(etas)
    steps = torch.tensor([float(e) for e in etas], device=device)
    active = torch.ones(g, dtype=torch.bool, device=device)
    generator = torch.Generator(device=device).manual_seed(batch_seed)
    coordinate_rng = np.random.default_rng(coordinate_seed)
    coordinates = [coordinate_subset(w[0].numel(), max_coords, coordinate_rng) for w in weights]
    index_tensors = [torch.as_tensor(c, device=device) for c in coordinates]
    recorded = [np.empty((record, g, c.size), dtype=np.float32) for c in coordinates]
    first_recorded = iterations - record
    for iteration in range(iterations):
        batch = torch.randint(0, n, (g, batch_size), generator=generator, device=device)
        losses = stacked_sgd_step(weights, train_x, train_y, batch, steps * active, loss)
        finite = torch.isfinite(losses)
        if not bool(finite.all()):
            active &= finite
            with torch.no_grad():
                for weight in weights:
                    weight.nan_to_num_(0.0)  # a frozen network's weights are never used again
        if iteration >= first_recorded:
            with torch.no_grad():
                for layer, (weight, index) in enumerate(zip(weights, index_tensors)):
                    recorded[layer][iteration - first_recorded] = weight.reshape(g, -1)[:, index].cpu().numpy()
    with torch.no_grad():
        train_loss, train_accuracy = [], []
        for k in range(g):
            out = stacked_fcn_forward([w[k:k + 1] for w in weights], train_x.unsqueeze(0))[0]
            train_loss.append(float(loss_fn(out, train_y)))
            train_accuracy.append(float((out.argmax(dim=1) == train_y).float().mean()))
    diverged = [not bool(a) or not math.isfinite(l) for a, l in zip(active.tolist(), train_loss)]
    return NetworkIterates(list(map(float, etas)), names, [w[0].numel() for w in weights], coordinates, recorded,
                           diverged, train_loss, train_accuracy)


def network_study(data: dict, model: dict, settings: dict, seed: int = 0, log=None) -> pd.DataFrame:
    """The network part of ``iterates:`` for one FCN (``settings`` = the ``networks`` block): for every
    batch size, the step sizes trained together (:func:`train_fcn_iterates`), α̂ of the fluctuations per
    layer (:func:`fluctuation_alpha_rows`), with each network's final training loss and accuracy and the
    chance accuracy (1/classes), from which the figure decides which networks learned."""
    import pandas as pd

    from sgnoise.study.naming import model_tag

    tag = model_tag(model)
    frames = []
    for b in settings["batch_sizes"]:
        sequence = setting_seed(seed, "network", model=tag, batch_size=int(b))
        iterates = train_fcn_iterates(data, model, int(b), settings["etas"], loss=settings["loss"],
                                      iterations=settings["iterations"], record=settings["record"],
                                      max_coords=settings["max_coords"], seed=sequence, device=settings["device"])
        rows = fluctuation_alpha_rows(iterates, window=settings["running_mean"], methods=settings["methods"],
                                      normalise=settings["normalise"], ci=settings["ci"], ci_batches=settings["ci_batches"],
                                      level=settings["level"], seed=int(sequence.generate_state(1)[0]))
        frame = pd.DataFrame(rows)
        frame.insert(0, "batch_size", int(b))
        frame.insert(0, "model", tag)
        frame.insert(2, "eta_over_b", frame["eta"] / int(b))
        frame["chance_accuracy"] = 1.0 / data["num_classes"]
        frames.append(frame)
        if log:
            for k, eta in enumerate(iterates.etas):
                print(f"{tag} b={b} eta={eta:g}: final train accuracy {iterates.final_train_accuracy[k]:.3f}"
                      f"{' (diverged)' if iterates.diverged[k] else ''}", file=log, flush=True)
    table = pd.concat(frames, ignore_index=True)
    for key in ("depth", "width"):
        table[key] = model.get(key)
    table["loss"] = settings["loss"]
    table["iterations"] = settings["iterations"]
    return table


def network_inputs(dataset_path, settings: dict, threads: int) -> tuple[dict, dict]:
    """What the ``iterates_network`` rule needs before :func:`network_study`: ``settings`` with the device
    resolved (:func:`sgnoise.training.resolve_device`), torch set up for reproducible numbers on it (``threads`` CPU threads;
    deterministic CUDA algorithms), and the prepared dataset as tensors. Returns (data, settings); a damaged
    dataset raises ValueError naming the file. Uses :func:`sgnoise.training.configure_determinism`
    and :func:`~sgnoise.training.load_run_data`."""
    from sgnoise.training.runtime import configure_determinism, load_run_data, resolve_device

    settings = dict(settings, device=resolve_device(settings["device"]))
    configure_determinism(settings["device"], threads)
    return load_run_data(dataset_path), settings
