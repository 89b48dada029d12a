"""Bundled training: B runs of one FCN architecture trained together as one vectorised model.

Member m has its own weights W_l[m], data order and step size η_m; one bundled SGD step is
h_0 = X[m], h_l = relu(h_{l−1} W_l[m]ᵀ), out = h_{L−1} W_L[m]ᵀ, W_l[m] ← W_l[m] − η_m δ_l[m]ᵀ h_{l−1}[m]
for all m at once with batched matrix products (δ_l = ∂f_m/∂z_l by backpropagation). Members are
independent, so each follows the run :func:`sgnoise.training.single.train_run` trains alone: bit-identical
initial weights (built right after ``seed_everything(seed)``), data order (its own generator),
random noise mini-batches, step sizes, file layout and attributes; losses, accuracies, noise
matrices and parameters equal up to float rounding (another summation order). docs/bundle.md.

Bundled noise pass: at a checkpoint every member sees the same K = ⌊n/b⌋ mini-batches, so the
first layer is one GEMM for all members and points, and the per-(member, mini-batch) gradients
∇_{W_l} f_{m,k} = δ_{l,m,k}ᵀ h_{l−1,m,k} come from one backward pass and batched products.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from sgnoise.models.losses import LOSS_AND_DELTA, get_loss
from sgnoise.models import build_model, parameter_layout
from sgnoise.noise.measure import select_columns
from sgnoise.training.progress import Progress
from sgnoise.tail.pooled import pooled_statistics, pooled_statistics_many
from sgnoise.training.state import RunStateDirectory, restore_rng, rng_snapshot, temporary_state_directory
from sgnoise.study.schedule import learning_rate
from sgnoise.study.naming import SHARED_FIELDS, VARYING_FIELDS, bundle_key, bundle_name, bundle_supported  # noqa: F401
from sgnoise.training.single import (RunCheckpoints, RunSpec, clear_output_temporaries, dump_header, numerics_fingerprint,
                           seed_everything, write_run_outputs, pooled_arrays, pooled_options)

#: RunSpec fields in which the members of a bundle may differ, and those they must share. A RunSpec
#: field in neither tuple is one bundled training does not implement: check_bundle refuses it.
OUTPUT_KEYS = ("noise", "metrics", "status")
BUNDLE_STATE_DIR = "_bundles"  # <state_root>/_bundles/<bundle_name>/: a bundle's own state (members' are per run)
EVALUATION_CHUNK = 1000  # as sgnoise.training.single.evaluate
CPU_MEMORY_FRACTION = 0.25  # of the memory available, for auto bundles on CPU
CUDA_MEMORY_FRACTION = 0.8  # of the free device memory, for auto bundles on CUDA
MAX_NOISE_CHUNK_BYTES = 256 * 2**20  # per-mini-batch gradients held at once in the noise pass (CPU)


def check_bundle(specs) -> None:
    """Raise TypeError/ValueError unless ``specs`` is a non-empty list of bundleable RunSpecs."""
    if not isinstance(specs, (list, tuple)) or not specs:
        raise ValueError(f"specs must be a non-empty list of RunSpec, got {specs!r}")
    for spec in specs:
        if not isinstance(spec, RunSpec):
            raise TypeError(f"specs must hold RunSpec objects, got {type(spec).__name__}")
    unknown = [f.name for f in dataclasses.fields(RunSpec) if f.name not in SHARED_FIELDS + VARYING_FIELDS]
    if unknown:
        raise ValueError(f"RunSpec field(s) {unknown} are not implemented by bundled training (sgnoise.training.bundle); "
                         "use train.bundle_size: 1")
    first = specs[0]
    if not bundle_supported(first.model, first.optimizer):
        raise ValueError(f"bundled training supports model 'fcn' with plain SGD only, got {first.model!r}, "
                         f"optimizer {first.optimizer!r} "
                         f"(run {first.run_id}); train it alone (train.bundle_size: 1)")
    for spec in specs[1:]:
        for name in SHARED_FIELDS:
            if getattr(spec, name) != getattr(first, name):
                raise ValueError(f"runs {first.run_id} and {spec.run_id} cannot share a bundle: '{name}' differs "
                                 f"({getattr(first, name)!r} vs {getattr(spec, name)!r})")
    ids = [spec.run_id for spec in specs]
    if len(set(ids)) != len(ids):
        raise ValueError(f"specs repeat a run id: {sorted(i for i in set(ids) if ids.count(i) > 1)}")


def fcn_layer_sizes(model: dict, input_dim: int, num_classes: int) -> list[tuple[int, int]]:
    """(out, in) of every Linear layer of FCN(depth, width): input→w, (depth−2)×(w→w), w→classes."""
    sizes = [input_dim] + [model["width"]] * (model["depth"] - 1) + [num_classes]
    return [(b, a) for a, b in zip(sizes[:-1], sizes[1:])]


def member_memory_bytes(spec: RunSpec, input_dim: int, num_classes: int, n_train: int) -> int:
    """Rough float32 memory of one bundle member: weights, gradients and update (3P), the stored
    noise rows (K + R)·M, one mini-batch gradient P, and activations of a training step, a
    mini-batch of the noise pass and an evaluation chunk (the dataset itself is shared)."""
    layers = fcn_layer_sizes(spec.model, input_dim, num_classes)
    n_params = sum(o * i for o, i in layers)
    units = sum(o for o, _ in layers)
    k = n_train // spec.batch_size
    stored = min(n_params, spec.max_coords or n_params)
    floats = (4 * n_params + (k + spec.random_minibatches) * stored
              + spec.batch_size * (input_dim + 4 * units) + spec.batch_size * 4 * units + EVALUATION_CHUNK * 2 * units)
    return 4 * floats


def available_memory_bytes(device) -> int:
    """Free memory on ``device``: CUDA free memory (torch.cuda.mem_get_info), else MemAvailable of /proc/meminfo."""
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))


def choose_bundle_size(spec: RunSpec, input_dim: int, num_classes: int, n_train: int, device="cpu",
                       free_bytes: int | None = None, limit: int | None = None) -> int:
    """Members that fit at once: ⌊fraction · free / member_memory_bytes⌋, at least 1, at most ``limit``.

    The fraction is 0.8 of the free CUDA memory, 0.25 of the available RAM on CPU (where
    bundling pays through fewer, larger kernels rather than through filling the device).
    """
    if free_bytes is None:
        free_bytes = available_memory_bytes(device)
    if free_bytes < 0:
        raise ValueError(f"free_bytes must be >= 0, got {free_bytes}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1 or None, got {limit}")
    fraction = CUDA_MEMORY_FRACTION if torch.device(device).type == "cuda" else CPU_MEMORY_FRACTION
    size = max(1, int(fraction * free_bytes // member_memory_bytes(spec, input_dim, num_classes, n_train)))
    return min(size, limit) if limit is not None else size


# -- vectorised FCN ------------------------------------------------------------------------------

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
    """Per-member (mean loss, accuracy) lists over a whole set, in the chunks of sgnoise.training.single.evaluate."""
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


# -- training loop ---------------------------------------------------------------------------------

@dataclass
class _Member:
    spec: RunSpec
    paths: dict
    state_dir: RunStateDirectory  # its checkpoint files (and lock): <state_root>/<run_id>/, as train_run's
    dump: RunCheckpoints | None = None  # its checkpoints: saved to state_dir and appended to its noise dump
    rows: list = field(default_factory=list)
    status: dict = field(default_factory=lambda: {"status": "ok", "diverged_at": None, "iterations_done": 0})
    checkpoints_done: list = field(default_factory=list)
    parameters: torch.Tensor | None = None  # flat parameters (CPU) once the member left the bundle
    finished: bool = False

    def failed(self) -> bool:
        return self.status["status"] == "diverged" and self.spec.on_divergence == "fail"


def _check_paths(out_paths, count) -> None:
    if not isinstance(out_paths, (list, tuple)) or len(out_paths) != count:
        raise ValueError(f"out_paths must be a list of {count} dicts (one per spec), got {out_paths!r}")
    for paths in out_paths:
        missing = [key for key in OUTPUT_KEYS if key not in paths]
        if missing:
            raise ValueError(f"out_paths entry {paths!r} lacks key(s) {missing} (expected {list(OUTPUT_KEYS)})")
    every = [str(Path(paths[key])) for paths in out_paths for key in OUTPUT_KEYS]
    if len(set(every)) != len(every):
        raise ValueError("out_paths repeat a path; every member needs its own noise, metrics and status files")


def bundle_fingerprint(specs, device) -> str:
    """Identity of a bundle's numerics (as sgnoise.training.single.run_fingerprint for one run): a saved bundle state
    is resumed only by the same members in the same order, on the same device type and thread count."""
    return numerics_fingerprint(device, specs=[spec.to_dict() for spec in specs])


def train_bundle(specs: list[RunSpec], data: dict, out_paths: list[dict], device="cpu",
                 max_members: int | None = None, return_parameters: bool = False, *,
                 state_root=None, state_interval_s=None, log=None, matrix_memory_mb=1024.0,
                 progress_interval_s: float | None = 10.0):
    """Train the runs ``specs`` (see :func:`check_bundle`) as bundles and write, for each run,
    exactly the outputs of :func:`sgnoise.training.single.train_run`: ``out_paths[m]["noise"|"metrics"|"status"]``.

    At most ``max_members`` runs are trained at once (None: :func:`choose_bundle_size` for
    ``device``). A member whose loss becomes non-finite is recorded as diverged and leaves the
    bundle; the others go on. Members with ``on_divergence: fail`` that diverge write nothing,
    and a FloatingPointError naming them is raised once the others are written. Returns the
    members' status dicts, in the order of ``specs``; with ``return_parameters`` also a list of
    each member's final flat parameter vector (parameters_to_vector order, on CPU).

    Resumable as train_run: with ``state_root`` the bundle's state (stacked weights, every member's
    generators, epoch order, metrics rows and status) is saved to ``<state_root>/_bundles/<name>/``
    (:func:`sgnoise.study.naming.bundle_name` of the run ids) after every checkpoint and whenever ``state_interval_s`` seconds have passed,
    and each member's checkpoint files go to ``<state_root>/<run_id>/``; a later call with the same
    specs and ``max_members`` resumes (bit-identical outputs on CPU). The directories are deleted once
    the outputs are written, kept when a member failed. Without ``state_root``, throw-away directories.

    Progress goes to ``log`` as train_run's, one line for the whole bundle (the members' loss and
    accuracy ranges) every ``progress_interval_s`` seconds and at each checkpoint.
    """
    check_bundle(specs)
    _check_paths(out_paths, len(specs))
    n_train, num_classes = len(data["train_x"]), data["num_classes"]
    input_dim = math.prod(data["train_x"].shape[1:])
    if not 1 <= specs[0].batch_size <= n_train:
        raise ValueError(f"batch_size={specs[0].batch_size} must be in [1, {n_train}] "
                         f"(training set size of {specs[0].dataset})")
    if max_members is None:
        max_members = choose_bundle_size(specs[0], input_dim, num_classes, n_train, device)
    if max_members < 1:
        raise ValueError(f"max_members must be >= 1, got {max_members}")
    members = []
    for start in range(0, len(specs), max_members):
        members += _train_together(specs[start:start + max_members], data, out_paths[start:start + max_members],
                                   device, state_root, state_interval_s, log or (lambda message: None),
                                   matrix_memory_mb, progress_interval_s)
    statuses = [member.status for member in members]
    failed = [member.spec.run_id for member in members if member.failed()]
    if failed:
        raise FloatingPointError(f"run(s) {failed} diverged (loss is not finite); lower the learning rate "
                                 "or set train.on_divergence: record")
    return (statuses, [member.parameters for member in members]) if return_parameters else statuses


def _initial_state(specs, data, device):
    """Stacked initial weights (as train_run builds each model after seed_everything) and generators."""
    weights, generators, layout = [], [], None
    for spec in specs:
        generators.append(seed_everything(spec.seed))
        model = build_model(spec.model, tuple(data["train_x"].shape[1:]), data["num_classes"])
        layout = parameter_layout(model)
        weights.append([p.detach() for p in model.parameters()])
    stacked = [torch.stack(tensors).to(device) for tensors in zip(*weights)]
    return stacked, generators, layout


class _Bundle:
    """The members still training, stacked: weights[l] (B, out, in), their epoch orders and losses.

    ``active[i]`` is the index in ``members`` of the run in row i of the stacked tensors.
    """

    def __init__(self, specs, data, out_paths, state_dirs, device, matrix_memory_mb=1024.0):
        self.first, self.device, self.matrix_memory_mb = specs[0], device, matrix_memory_mb
        self.num_classes = data["num_classes"]
        self.train_x, self.train_y = data["train_x"].to(device).flatten(1), data["train_y"].to(device)
        self.test_x, self.test_y = data["test_x"].to(device).flatten(1), data["test_y"].to(device)
        self.batches_per_epoch = len(self.train_x) // self.first.batch_size
        self.weights, self.generators, layout = _initial_state(specs, data, device)
        n_params = sum(size for _, _, size in layout)
        columns = select_columns(n_params, self.first.max_coords, self.first.noise_seed)
        self.stored = None if len(columns) == n_params else torch.from_numpy(columns).to(device)  # None: all
        self.noise_generator = torch.Generator().manual_seed(self.first.noise_seed + 1)
        self.members = [_Member(spec, paths, state_dir) for spec, paths, state_dir in zip(specs, out_paths, state_dirs)]
        self.headers = [dump_header(spec, columns, layout, self.batches_per_epoch) for spec in specs]
        self.orders, self.gathered = None, torch.empty(0)
        self.active = list(range(len(self.members)))
        self.losses = MemberLosses(spec.loss for spec in specs)
        self.progress = None  # a sgnoise.training.progress.Progress, set by the loop

    # -- resumable state (sgnoise.training.state) ---------------------------------------------------------
    def generator_streams(self) -> dict:
        return {"noise": self.noise_generator, **{f"member{m}": g for m, g in enumerate(self.generators)}}

    def state(self, iteration, checkpoints_done) -> dict:
        """Everything the rest of the training depends on, after ``iteration`` SGD steps (tensors on CPU)."""
        return dict(iteration=iteration, checkpoints_done=list(checkpoints_done), active=list(self.active),
                    weights=[w.detach().cpu().clone() for w in self.weights],
                    orders=None if self.orders is None else self.orders.cpu(),
                    rng=rng_snapshot(self.generator_streams()),
                    members=[dict(rows=m.rows, status=m.status, checkpoints_done=m.checkpoints_done, finished=m.finished,
                                  parameters=m.parameters) for m in self.members])

    def restore(self, state) -> tuple[int, list]:
        """Inverse of :meth:`state`; returns (iteration, checkpoints done)."""
        self.active = list(state["active"])
        self.weights = [w.to(self.device) for w in state["weights"]]
        self.orders = None if state["orders"] is None else state["orders"].to(self.device)
        restore_rng(state["rng"], self.generator_streams())
        for member, saved in zip(self.members, state["members"]):
            member.rows, member.status = saved["rows"], saved["status"]
            member.checkpoints_done, member.finished = list(saved["checkpoints_done"]), saved["finished"]
            member.parameters = saved["parameters"]
            member.state_dir.keep_checkpoints(member.checkpoints_done)  # files written after the save
        self.losses = MemberLosses(self.members[m].spec.loss for m in self.active)
        return state["iteration"], list(state["checkpoints_done"])

    # -- training --------------------------------------------------------------------------------
    def step_sizes(self, iteration) -> list[float]:
        first = self.first
        return [learning_rate(self.members[m].spec.lr, iteration, first.iterations, first.lr_milestones,
                              first.lr_factor) for m in self.active]

    def leave(self, position) -> None:
        """The member in stacked row ``position`` stops training: keep its final parameters."""
        member = self.members[self.active[position]]
        member.finished = True
        member.parameters = torch.cat([w[position].detach().flatten() for w in self.weights]).cpu()

    def diverge(self, finite, iteration, rows) -> None:
        """Finish (as diverged) the members whose ``finite`` entry is false, with their last metrics row."""
        for i, m in enumerate(self.active):
            if not finite[i]:
                self.members[m].status.update(status="diverged", diverged_at=iteration)
                self.members[m].rows.append(rows[i])
                self.leave(i)

    def keep(self, finite) -> None:
        """Drop the rows whose ``finite`` entry is false from the stacked state."""
        rows = [i for i, ok in enumerate(finite) if ok]
        index = torch.tensor(rows, dtype=torch.long, device=self.device)
        self.weights = [w.index_select(0, index) for w in self.weights]
        if self.orders is not None:
            self.orders = self.orders.index_select(0, index)
        self.active = [self.active[i] for i in rows]
        self.losses = MemberLosses(self.members[m].spec.loss for m in self.active)

    def checkpoint(self, iteration) -> None:
        """Metrics on train and test sets, then the noise pass, for every member; as train_run, each
        member's arrays saved to a checkpoint file in its state directory."""
        lrs, weights = self.step_sizes(iteration), self.weights
        train_loss, train_acc = evaluate_members(weights, self.losses, self.train_x, self.train_y)
        test_loss, test_acc = evaluate_members(weights, self.losses, self.test_x, self.test_y)
        rows = [dict(iteration=iteration, step_size=lrs[i], train_loss=train_loss[i], train_accuracy=train_acc[i],
                     test_loss=test_loss[i], test_accuracy=test_acc[i]) for i in range(len(self.active))]
        finite = [math.isfinite(train_loss[i]) and math.isfinite(test_loss[i]) for i in range(len(self.active))]
        if not all(finite):
            self.diverge(finite, iteration, rows)
            rows = [row for row, ok in zip(rows, finite) if ok]
            self.keep(finite)
            if not self.active:
                return
        batch_size, stored = self.first.batch_size, self.stored
        specs = [self.members[m].spec for m in self.active]
        noise, full_gradient, statistics = pooled_noise_pass(self.weights, self.losses, self.train_x, self.train_y,
                                                             batch_size, stored, specs, self.matrix_memory_mb)
        full_selected = full_gradient if stored is None else full_gradient[:, stored]
        test_statistics = [None] * len(specs)
        if self.first.noise_test_set and batch_size <= len(self.test_x):
            _, _, test_statistics = pooled_noise_pass(self.weights, self.losses, self.test_x, self.test_y, batch_size,
                                                      torch.empty(0, dtype=torch.long, device=self.device), specs,
                                                      self.matrix_memory_mb)
        noise_random = None
        if self.first.random_minibatches:
            drawn = torch.stack([torch.randperm(len(self.train_x), generator=self.noise_generator)[:batch_size]
                                 for _ in range(self.first.random_minibatches)]).to(self.device)
            noise_random, _ = minibatch_gradients(self.weights, self.losses, self.train_x, self.train_y, batch_size,
                                                  stored, drawn)
            noise_random = (noise_random - full_selected[:, None]).cpu().numpy()
        norms = full_gradient.norm(dim=1).tolist()
        noise, full_selected = noise.cpu().numpy(), full_selected.cpu().numpy()
        for i, m in enumerate(self.active):
            member = self.members[m]
            rows[i]["full_gradient_norm"] = norms[i]
            arrays = dict(noise=noise[i], full_gradient=full_selected[i], **pooled_arrays("pooled", statistics[i]),
                          **pooled_arrays("pooled_test", test_statistics[i]))
            if noise_random is not None:
                arrays["noise_random"] = noise_random[i]
            member.dump.add(iteration, arrays, rows[i])
            member.rows.append(rows[i])
            member.checkpoints_done.append(iteration)

    def step(self, iteration) -> None:
        """One SGD step of every member on its next mini-batch; members whose loss is not finite leave."""
        batch_size, count = self.first.batch_size, len(self.active)
        position = iteration % self.batches_per_epoch
        if position == 0:
            self.orders = torch.stack([torch.randperm(len(self.train_x), generator=self.generators[m])
                                       for m in self.active]).to(self.device)
        # members with one seed (differing in lr or loss only) draw the same order: gather their batch once
        shared = len({self.members[m].spec.seed for m in self.active}) == 1
        index = self.orders[:1 if shared else count, position * batch_size:(position + 1) * batch_size].reshape(-1)
        if len(self.gathered) != len(index):  # reused every step: no fresh multi-megabyte allocation
            self.gathered = torch.empty(len(index), self.train_x.shape[1], device=self.device)
        x = torch.index_select(self.train_x, 0, index, out=self.gathered)
        y = self.train_y.index_select(0, index).view(-1, batch_size).expand(count, -1)
        x = x if shared else x.view(count, batch_size, -1)
        lrs = self.step_sizes(iteration)
        out, record = fcn_forward(self.weights, x)
        losses, delta = self.losses.output_delta(out, y)
        finite = None
        if not bool(torch.isfinite(losses).all()):  # record the members whose loss is not finite; step the others
            member_losses = self.losses.each(out, y)  # the values train_run records: its own loss function
            finite = [math.isfinite(value) and math.isfinite(own) for value, own in zip(member_losses, losses.tolist())]
            self.diverge(finite, iteration, [dict(iteration=iteration, step_size=lr, train_loss=value)
                                             for lr, value in zip(lrs, member_losses)])
            delta[torch.tensor([not ok for ok in finite], device=self.device)] = 0.0
        if finite is None or any(finite):
            sgd_update(self.weights, record, delta, torch.tensor(lrs, device=self.device))
        if finite is not None:  # the diverged members' rows (stepped with a zero gradient, or garbage) leave
            self.keep(finite)
        for m in self.active:
            self.members[m].status["iterations_done"] = iteration + 1
        if self.progress is not None and (finite is None or all(finite)):
            correct = (out.detach().argmax(-1) == y).sum(-1)
            self.progress.record(tuple(self.active), losses.detach() * batch_size, correct, batch_size)

    def finish(self) -> None:
        """The members still training have done all their steps."""
        for position in range(len(self.active)):
            self.leave(position)

    def open_dumps(self) -> None:
        """Start every member's noise dump with the checkpoints already saved (a resumed bundle's)."""
        for member, header in zip(self.members, self.headers):
            member.dump = RunCheckpoints(member.state_dir, member.paths["noise"], header)
            member.dump.replay(member.checkpoints_done)

    def abort_dumps(self) -> None:
        for member in self.members:
            if member.dump is not None:
                member.dump.abort()

    def write_outputs(self) -> None:
        """Every member's outputs, as train_run writes them (none for a member that diverged and must fail)."""
        for member in self.members:
            if member.failed():
                member.dump.abort()
            else:
                write_run_outputs(member.dump, member.paths["metrics"], member.paths["status"], member.rows,
                                  dict(member.status), self.num_classes)


@contextlib.contextmanager
def _state_directories(specs, out_paths, state_root):
    """(bundle state directory, one state directory per member), locked; throw-away ones under the
    first member's output directory when ``state_root`` is None."""
    with contextlib.ExitStack() as stack:
        if state_root is None:
            scratch = stack.enter_context(temporary_state_directory(Path(out_paths[0]["noise"]).parent)).path
            bundle_dir = stack.enter_context(RunStateDirectory(scratch / "bundle"))
            member_dirs = [stack.enter_context(RunStateDirectory(scratch / f"member{m}")) for m in range(len(specs))]
        else:
            root = Path(state_root)
            bundle_dir = stack.enter_context(RunStateDirectory(root / BUNDLE_STATE_DIR / bundle_name(s.run_id for s in specs), root=root))
            member_dirs = [stack.enter_context(RunStateDirectory(root / spec.run_id, root=root)) for spec in specs]
        yield bundle_dir, member_dirs


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


def _train_together(specs, data, out_paths, device, state_root, state_interval_s, log,
                    matrix_memory_mb=1024.0, progress_interval_s=10.0) -> list[_Member]:
    """The SGD loop of sgnoise.training.single.train_run (resumable as it is), for all members at once."""
    identity = bundle_fingerprint(specs, device)
    with _state_directories(specs, out_paths, state_root) as (bundle_dir, member_dirs):
        for paths in out_paths:
            clear_output_temporaries(*(paths[key] for key in OUTPUT_KEYS), log=log)
        bundle = _Bundle(specs, data, out_paths, member_dirs, device, matrix_memory_mb)
        start, done = 0, []
        saved, reason = bundle_dir.load_state(identity)
        if saved is None:
            if reason != "no saved state":
                log(f"{reason}: discarding it and training the bundle from the start")
            for directory in [bundle_dir, *member_dirs]:
                directory.clear()
        else:
            start, done = bundle.restore(saved)
            log(f"resuming bundle {bundle_name(s.run_id for s in specs)} ({len(specs)} runs) from {bundle_dir.state_path}: "
                f"{start} SGD steps done, checkpoints {done}")
        try:
            bundle.open_dumps()
            checkpoints, iterations = set(specs[0].checkpoints), specs[0].iterations
            bundle.progress = Progress(f"bundle {bundle_name(s.run_id for s in specs)} ({len(specs)} runs)", iterations,
                                       start, log, progress_interval_s)
            last_save = time.monotonic()
            for iteration in range(start, iterations + 1):
                if not bundle.active:
                    break
                if iteration in checkpoints and iteration not in done:
                    began = time.monotonic()
                    bundle.checkpoint(iteration)
                    done.append(iteration)
                    bundle_dir.save_state(bundle.state(iteration, done), identity)
                    last_save = time.monotonic()
                    bundle.progress.checkpoint(iteration, {m.spec.run_id: m.rows[-1] for m in bundle.members
                                                           if m.rows and m.rows[-1]["iteration"] == iteration},
                                               last_save - began)
                if iteration == iterations or not bundle.active:
                    break
                bundle.step(iteration)
                bundle.progress.tick(iteration + 1)
                if state_interval_s is not None and time.monotonic() - last_save >= state_interval_s:
                    bundle_dir.save_state(bundle.state(iteration + 1, done), identity)
                    last_save = time.monotonic()
            bundle.finish()
            failed = any(member.failed() for member in bundle.members)
            if failed and state_root is not None:
                bundle_dir.save_state(bundle.state(iterations, done), identity)  # a rerun fails again at once
            bundle.write_outputs()
        except BaseException:
            bundle.abort_dumps()
            raise
        if state_root is not None and not failed:
            for directory in [*member_dirs, bundle_dir]:
                directory.remove()
    return bundle.members
