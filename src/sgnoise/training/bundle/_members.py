"""The members of a bundle (_Member) and the stacked model they train (_Bundle): the weights of the members
still training, their data orders, losses and generators, one bundled SGD step, a checkpoint of every member,
the resumable state and each member's noise dump and outputs, as sgnoise.training.single.train_run writes them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from sgnoise.models import build_model, parameter_layout
from sgnoise.noise.measure import select_columns
from sgnoise.study.schedule import learning_rate
from sgnoise.study.spec import RunSpec
from sgnoise.training.bundle._noise_pass import pooled_noise_pass
from sgnoise.training.bundle.vectorised import MemberLosses, evaluate_members, fcn_forward, minibatch_gradients, sgd_update
from sgnoise.training.outputs import RunCheckpoints, dump_header, pooled_arrays, write_run_outputs
from sgnoise.training.runtime import seed_everything
from sgnoise.training.state import RunStateDirectory, restore_rng, rng_snapshot


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
