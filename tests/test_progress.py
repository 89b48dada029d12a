"""Progress lines of training (sgnoise.training.progress): the numbers in them against a brute-force replay of
the same steps, the interval, the ETA, and the same lines from a bundle."""

import re

import pytest
import torch

from sgnoise.training.bundle import train_bundle
from sgnoise.training.progress import Progress, format_duration
from sgnoise.training import RunSpec, train_run
from test_bundle import member_specs, output_paths, synthetic_data as bundle_data
from test_train import spec, synthetic_data

LINE = re.compile(r"it (\d+)/(\d+) \((\d+) %\) \| batch loss ([\d.]+) acc ([\d.]+) \| ([\d.]+) it/s \| ETA (\S+)")


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_lines_every_interval_with_means_rate_and_eta():
    clock, lines = Clock(), []
    progress = Progress("run", total=100, start=20, log=lines.append, interval_s=5.0, clock=clock)
    for step in range(21, 31):  # 10 steps, 1 s each: a line after 5 s and after 10 s
        clock.now += 1.0
        progress.record("run", torch.tensor(2.0 * step), torch.tensor(step % 4), 4)
        progress.tick(step)
    assert len(lines) == 2
    first = LINE.search(lines[0]).groups()
    # steps 21..25: mean loss Σ 2·step / (4·5) = 11.5, accuracy Σ (step % 4) / 20 = (1+2+3+0+1)/20 = 0.35
    assert first[:3] == ("25", "100", "25")
    assert float(first[3]) == pytest.approx(11.5) and float(first[4]) == pytest.approx(0.35)
    assert float(first[5]) == pytest.approx(1.0)  # 5 steps in 5 s (resumed at 20: counted from there)
    assert first[6] == "0:01:15"  # 75 steps left at 1 it/s
    second = LINE.search(lines[1]).groups()
    assert float(second[3]) == pytest.approx(2 * sum(range(26, 31)) / 20)  # only the steps since the last line
    progress.checkpoint(30, {"run": dict(train_loss=0.5, train_accuracy=0.8, test_accuracy=0.75)}, seconds=2.0)
    assert lines[-1] == "run: checkpoint at it 30/100 (2.0 s with the noise pass): train loss 0.5 acc 0.800, test acc 0.750"


def test_no_lines_without_interval():
    lines = []
    progress = Progress("run", 10, log=lines.append, interval_s=None)
    progress.record("run", 1.0, 1, 1)
    progress.tick(1)
    progress.checkpoint(1, {"run": {}})
    assert lines == []


def test_format_duration():
    assert format_duration(3725.4) == "1:02:05" and format_duration(float("nan")) == "?"


def _replayed_batch_stats(run_spec, data):
    """Mini-batch loss and accuracy of every SGD step, replayed by hand with the loop's data order."""
    from sgnoise.models.losses import get_loss
    from sgnoise.models import build_model
    from sgnoise.training import seed_everything

    generator = seed_everything(run_spec.seed)
    model = build_model(run_spec.model, tuple(data["train_x"].shape[1:]), data["num_classes"])
    loss_fn, n, b = get_loss(run_spec.loss), len(data["train_x"]), run_spec.batch_size
    stats = []
    for iteration in range(run_spec.iterations):
        if iteration % (n // b) == 0:
            order = torch.randperm(n, generator=generator)
        index = order[iteration % (n // b) * b:(iteration % (n // b) + 1) * b]
        model.zero_grad()
        output = model(data["train_x"][index])
        loss = loss_fn(output, data["train_y"][index])
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p.add_(p.grad, alpha=-run_spec.lr)
        stats.append((float(loss.detach()), float((output.argmax(1) == data["train_y"][index]).float().mean())))
    return stats


def test_train_run_reports_every_step_with_the_replayed_batch_numbers(tmp_path):
    lines = []
    run_spec = spec(checkpoints=[0, 30])
    train_run(run_spec, synthetic_data(), tmp_path / "n.h5", tmp_path / "m.csv", tmp_path / "s.json",
              log=lines.append, progress_interval_s=1e-12)
    steps = [LINE.search(line).groups() for line in lines if LINE.search(line)]
    assert [int(s[0]) for s in steps] == list(range(1, 31))
    expected = _replayed_batch_stats(run_spec, synthetic_data())
    for got, (loss, accuracy) in zip(steps, expected):
        assert float(got[3]) == pytest.approx(loss, abs=1e-4) and float(got[4]) == pytest.approx(accuracy, abs=1e-3)
    assert sum("checkpoint at it" in line for line in lines) == 2


def test_bundle_reports_one_line_for_all_members(tmp_path):
    lines = []
    specs = member_specs()
    train_bundle(specs, bundle_data(), output_paths(tmp_path, len(specs)), log=lines.append, progress_interval_s=1e-12)
    steps = [line for line in lines if " | batch loss " in line]
    assert len(steps) == specs[0].iterations
    assert all(f"over {len(specs)} runs" in line and line.startswith("bundle ") for line in steps)
    checkpoints = [line for line in lines if "checkpoint at it" in line]
    assert len(checkpoints) == len(specs[0].checkpoints)
    assert all(all(s.run_id in line for s in specs) for line in checkpoints)
