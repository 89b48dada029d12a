"""Bundled training (issue 8): B runs trained as one vectorised model against the same runs one by one.

One process, one torch thread (the workflow's train.threads), mnist5k (4 000 training points), b = 100,
η = 0.1 halved at 1/3 and 2/3, 20 000 stored coordinates, outputs written under /tmp. Times are this
process's CPU seconds (wall seconds are recorded too): single-threaded, they equal wall time on an idle
machine and are far less inflated than wall time by other processes on a shared one.
(a) headline: 16 FCNs of depth 3, width 16 (seeds 0..15), the default study's schedule (1 200 SGD
    steps, 10 log-spaced checkpoints, each with metrics and the K = 40 mini-batch noise pass):
    train_run for each run in turn against one train_bundle call; best of three, alternating;
(b) sweep: the same at widths 4..512, shortened to 120 steps and one checkpoint (best of two; the default
    study's 3:1 ratio of training epochs to noise passes); then bundles of two
    (a cross-entropy and a linear-hinge run, both seed 0, as the default study's grid pairs up);
(c) methods: one bundled SGD step of 16 members with batched matrix products (the library) against
    torch.func (stack_module_state + functional_call + vmap(grad)) and a loop over nn.Modules;
(d) --default-study: the FCN grid of config.yaml (depths 2-4 × widths 16/64/256, cross-entropy and
    hinge, seed 0, 1 200 steps, 10 checkpoints) as train.bundle_size: auto trains it, 9 bundles of two,
    against its 18 runs one by one (the batch-size sweep and the CNNs are not bundled);
(e) --paper: per-step and per-checkpoint cost of every cell of the paper's FCN grid (MNIST / CIFAR-10
    shapes with random data, widths 4..1024, depths 2..10), alone and in bundles of --bundle runs,
    extrapolated to the whole grid (see docs/bundle.md). Meant for a GPU: --device cuda.
Run: python benchmarks/bench_bundle.py [--quick | --default-study | --paper --device cuda]
(each mode updates its own part of benchmarks/results/bench_bundle.json).
"""

import argparse
import copy
import json
import math
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch.func import functional_call, grad_and_value, stack_module_state, vmap

from sgnoise.training.bundle import MemberLosses, fcn_forward, fcn_outputs, minibatch_gradients, sgd_update, train_bundle
from sgnoise.data import prepare_mnist5k
from sgnoise.models.losses import cross_entropy
from sgnoise.models import FCN
from sgnoise.noise.measure import gradient_noise
from sgnoise.study.schedule import checkpoint_schedule
from sgnoise.training import RunSpec, train_run
from sgnoise.training.outputs import evaluate

RESULTS = Path(__file__).parent / "results" / "bench_bundle.json"


def mnist5k_tensors() -> dict:
    arrays = prepare_mnist5k()

    def images(key):
        return (torch.from_numpy(arrays[key]).float() / 255 - 0.1307) / 0.3081

    return dict(train_x=images("train_images"), train_y=torch.from_numpy(arrays["train_labels"]),
                test_x=images("test_images"), test_y=torch.from_numpy(arrays["test_labels"]), num_classes=10)


def run_specs(count, width, depth, iterations, checkpoints, losses=("nll",), one_seed=False):
    """``count`` runs (seeds 0.., or all seed 0; cycling through ``losses``) of one FCN on mnist5k, b = 100, η = 0.1."""
    specs = []
    for i in range(count):
        loss, seed = losses[i % len(losses)], 0 if one_seed else i
        specs.append(RunSpec(run_id=f"mnist5k/fcn-d{depth}-w{width}/{loss}/b100-lr0.1-it{iterations}/s{seed}",
                             dataset="mnist5k", model=dict(model="fcn", depth=depth, width=width), loss=loss,
                             batch_size=100, lr=0.1, iterations=iterations, seed=seed, lr_milestones=[1 / 3, 2 / 3],
                             checkpoints=checkpoints, max_coords=20000))
    return specs


def output_paths(root, count):
    return [dict(noise=root / f"s{i}" / "noise.h5", metrics=root / f"s{i}" / "metrics.csv",
                 status=root / f"s{i}" / "status.json") for i in range(count)]


def clocks():
    """(wall, CPU) seconds: this process's CPU time is what a shared, loaded machine does not inflate."""
    return time.perf_counter(), time.process_time()


def time_sequential(specs, data) -> tuple[float, float]:
    root = Path(tempfile.mkdtemp(prefix="bench-bundle-", dir="/tmp"))
    try:
        wall, cpu = clocks()
        for spec, paths in zip(specs, output_paths(root, len(specs))):
            train_run(spec, data, paths["noise"], paths["metrics"], paths["status"])
        return time.perf_counter() - wall, time.process_time() - cpu
    finally:
        shutil.rmtree(root)


def time_bundled(specs, data) -> tuple[float, float]:
    root = Path(tempfile.mkdtemp(prefix="bench-bundle-", dir="/tmp"))
    try:
        wall, cpu = clocks()
        train_bundle(specs, data, output_paths(root, len(specs)), max_members=len(specs))
        return time.perf_counter() - wall, time.process_time() - cpu
    finally:
        shutil.rmtree(root)


def compare(specs, data, repeats) -> dict:
    """Best of ``repeats`` (alternating, so that load from other processes hits both alike); the
    speed-up is the ratio of CPU times, single-threaded, so equal to the wall-time ratio on an idle machine."""
    sequential, bundled = [], []
    for _ in range(repeats):
        sequential.append(time_sequential(specs, data))
        bundled.append(time_bundled(specs, data))
    (seq_wall, seq_cpu), (bun_wall, bun_cpu) = min(sequential, key=lambda t: t[1]), min(bundled, key=lambda t: t[1])
    return dict(sequential_s=seq_cpu, bundled_s=bun_cpu, speedup=seq_cpu / bun_cpu,
                sequential_wall_s=seq_wall, bundled_wall_s=bun_wall, speedup_wall=seq_wall / bun_wall)


# -- (c) one bundled SGD step, three ways ------------------------------------------------------------

def median_time(function, repeats=15, warmup=3) -> float:
    """Median CPU seconds of one call."""
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeats):
        start = time.process_time()
        function()
        times.append(time.process_time() - start)
    return statistics.median(times)


def step_methods(width, data, count=16, depth=3) -> dict:
    """Milliseconds per bundled SGD step (``count`` members, each its own mini-batch of 100)."""
    torch.manual_seed(0)
    x, y = data["train_x"].flatten(1), data["train_y"]
    models = [FCN(x.shape[1], depth, width, 10) for _ in range(count)]
    index = torch.stack([torch.randperm(len(x))[:100] for _ in range(count)])
    step = torch.full((count, 1, 1), 1e-3)

    weights = [torch.stack(ws).detach() for ws in zip(*(m.parameters() for m in models))]
    losses = MemberLosses(["nll"] * count)

    def batched_matmul():  # the library's step, as in train_bundle
        flat = index.reshape(-1)
        xb, yb = x.index_select(0, flat).view(count, 100, -1), y.index_select(0, flat).view(count, 100)
        out, record = fcn_forward(weights, xb)
        member_losses, delta = losses.output_delta(out, yb)
        bool(torch.isfinite(member_losses).all())
        sgd_update(weights, record, delta, step.view(-1))

    params, _ = stack_module_state(models)
    params = {k: v.detach().clone() for k, v in params.items()}
    template = copy.deepcopy(models[0]).to("meta")
    member_step = vmap(grad_and_value(lambda p, xb, yb: cross_entropy(functional_call(template, p, (xb,)), yb)))

    def func_vmap():
        flat = index.reshape(-1)
        xb, yb = x.index_select(0, flat).view(count, 100, -1), y.index_select(0, flat).view(count, 100)
        grads, _ = member_step(params, xb, yb)
        for k in params:
            params[k].sub_(step * grads[k])

    def module_loop():
        for m, model in enumerate(models):
            model.zero_grad(set_to_none=True)
            cross_entropy(model(x[index[m]]), y[index[m]]).backward()
            with torch.no_grad():
                for p in model.parameters():
                    p.add_(p.grad, alpha=-1e-3)

    return {name: 1e3 * median_time(f) for name, f in
            [("bmm_ms", batched_matmul), ("vmap_ms", func_vmap), ("loop_ms", module_loop)]}


# -- (d) the paper's FCN grid ----------------------------------------------------------------------

PAPER_DATASETS = {"mnist": (784, 60000, 10000), "cifar10": (3072, 50000, 10000)}


def paper_cell_costs(dataset, width, depth, bundle, batch_size, device, steps=20, noise_batches=10) -> dict:
    """Seconds per SGD step and per checkpoint (metrics on train + test, K-batch noise pass), alone and bundled."""
    input_dim, n_train, n_test = PAPER_DATASETS[dataset]
    k = n_train // batch_size
    generator = torch.Generator(device="cpu").manual_seed(0)
    x = torch.randn(noise_batches * batch_size, input_dim, generator=generator).to(device)
    y = torch.randint(0, 10, (len(x),), generator=generator).to(device)
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)

    def timed(function, repeats):
        """Wall seconds per call (the device synchronised), best of three rounds of ``repeats`` calls."""
        function()
        sync()
        rounds = []
        for _ in range(3):
            start = time.perf_counter()
            for _ in range(repeats):
                function()
            sync()
            rounds.append((time.perf_counter() - start) / repeats)
        return min(rounds)

    model = FCN(input_dim, depth, width, 10).to(device)
    batch = torch.arange(batch_size, device=device)

    def alone_step():
        model.zero_grad(set_to_none=True)
        loss = cross_entropy(model(x[batch]), y[batch])
        bool(torch.isfinite(loss))
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p.add_(p.grad, alpha=-1e-3)

    weights = [torch.stack([p.detach()] * bundle).clone() for p in model.parameters()]
    losses = MemberLosses(["nll"] * bundle)
    rows = torch.arange(bundle * batch_size, device=device) % len(x)
    step = torch.full((bundle,), 1e-3, device=device)

    def bundled_step():  # as in train_bundle: one host sync to check that every member's loss is finite
        xb, yb = x.index_select(0, rows).view(bundle, batch_size, -1), y.index_select(0, rows).view(bundle, batch_size)
        out, record = fcn_forward(weights, xb)
        member_losses, delta = losses.output_delta(out, yb)
        bool(torch.isfinite(member_losses).all())
        sgd_update(weights, record, delta, step)

    scale_noise = k / noise_batches  # the noise pass is linear in the number of mini-batches
    scale_eval = (n_train + n_test) / len(x)
    alone_checkpoint = (scale_noise * timed(lambda: gradient_noise(model, cross_entropy, x, y, batch_size), 2)
                        + scale_eval * timed(lambda: evaluate(model, cross_entropy, x, y), 2))
    bundled_checkpoint = (scale_noise * timed(lambda: minibatch_gradients(weights, losses, x, y, batch_size, None), 2)
                          + scale_eval * timed(lambda: fcn_outputs(weights, x), 2))
    return dict(dataset=dataset, width=width, depth=depth, step_alone_s=timed(alone_step, steps),
                step_bundled_s=timed(bundled_step, steps), checkpoint_alone_s=alone_checkpoint,
                checkpoint_bundled_s=bundled_checkpoint)


def paper_estimate(args) -> dict:
    """Hours for the paper's FCN grid: runs × (iterations × step + checkpoints × checkpoint + start-up)."""
    widths = [4 * 2**i for i in range(9)] if args.widths is None else args.widths
    depths = list(range(2, 11)) if args.depths is None else args.depths
    runs_per_cell = 3 * 2  # seeds × losses (cross-entropy and linear hinge)
    jobs_alone, jobs_bundled = runs_per_cell, math.ceil(runs_per_cell / args.bundle)
    cells, alone_s, bundled_s = [], 0.0, 0.0
    for dataset in PAPER_DATASETS:
        for width in widths:
            for depth in depths:
                cost = paper_cell_costs(dataset, width, depth, args.bundle, args.batch_size, args.device)
                cost["run_alone_s"] = args.iterations * cost["step_alone_s"] + args.checkpoints * cost["checkpoint_alone_s"]
                cost["bundle_s"] = args.iterations * cost["step_bundled_s"] + args.checkpoints * cost["checkpoint_bundled_s"]
                alone_s += jobs_alone * (cost["run_alone_s"] + args.startup_s)
                bundled_s += jobs_bundled * (cost["bundle_s"] + args.startup_s)
                cells.append(cost)
                print(f"  {dataset:>7} w{width:<5} d{depth:<3} step {1e3 * cost['step_alone_s']:8.3f} ms alone, "
                      f"{1e3 * cost['step_bundled_s']:8.3f} ms per bundle of {args.bundle}", flush=True)
    return dict(device=str(args.device), device_name=torch.cuda.get_device_name() if torch.device(args.device).type == "cuda"
                else "cpu", bundle=args.bundle, batch_size=args.batch_size, iterations=args.iterations,
                checkpoints=args.checkpoints, startup_s=args.startup_s, widths=widths, depths=depths,
                runs=len(cells) * runs_per_cell, hours_alone=alone_s / 3600, hours_bundled=bundled_s / 3600,
                speedup=alone_s / bundled_s, cells=cells)


def default_study() -> dict:
    """(d): the default study's 9 FCN pairs (nll + hinge, seed 0), bundled against one by one."""
    data, cells = mnist5k_tensors(), []
    for depth in (2, 3, 4):
        for width in (16, 64, 256):
            specs = run_specs(2, width, depth, 1200, checkpoint_schedule(1200, 10), ("nll", "hinge"), one_seed=True)
            cells.append(dict(depth=depth, width=width, **compare(specs, data, repeats=1)))
            print(f"  d{depth} w{width:<4} sequential {cells[-1]['sequential_s']:6.2f} s, bundled "
                  f"{cells[-1]['bundled_s']:6.2f} s (CPU), speed-up {cells[-1]['speedup']:.2f}x", flush=True)
    sequential, bundled = sum(c["sequential_s"] for c in cells), sum(c["bundled_s"] for c in cells)
    print(f"default study FCN grid (18 runs): sequential {sequential:.1f} s, 9 bundles of two {bundled:.1f} s (CPU), "
          f"speed-up {sequential / bundled:.2f}x")
    return dict(cells=cells, sequential_s=sequential, bundled_s=bundled, speedup=sequential / bundled)


def tables(quick) -> dict:
    """(a), (b) and (c)."""
    data = mnist5k_tensors()
    headline_specs = run_specs(16, 16, 3, 1200, checkpoint_schedule(1200, 10))
    headline = compare(headline_specs, data, repeats=1 if quick else 3)
    headline.update(runs=16, width=16, depth=3, iterations=1200, checkpoints=len(headline_specs[0].checkpoints))
    print(f"16 runs, FCN d3 w16, 1200 steps, {headline['checkpoints']} checkpoints: sequential "
          f"{headline['sequential_s']:.1f} s, bundled {headline['bundled_s']:.1f} s (CPU), speed-up "
          f"{headline['speedup']:.2f}x (wall {headline['sequential_wall_s']:.1f} s / {headline['bundled_wall_s']:.1f} s)",
          flush=True)
    sweep = []
    print(f"{'width':>6} {'sequential s':>13} {'bundled s':>10} {'speed-up':>9}   (CPU s; 16 runs, 120 steps, 1 checkpoint)")
    for width in ([4, 64, 256] if quick else [4, 8, 16, 32, 64, 128, 256, 512]):
        sweep.append(dict(width=width, **compare(run_specs(16, width, 3, 120, [120]), data, repeats=1 if quick else 2)))
        print(f"{width:>6} {sweep[-1]['sequential_s']:>13.2f} {sweep[-1]['bundled_s']:>10.2f} {sweep[-1]['speedup']:>8.2f}x",
              flush=True)
    pairs = []
    print(f"{'width':>6} {'sequential s':>13} {'bundled s':>10} {'speed-up':>9}   "
          "(CPU s; 2 runs nll + hinge, seed 0, 120 steps, 1 checkpoint)")
    for width in ([16] if quick else [16, 64, 256]):
        specs = run_specs(2, width, 3, 120, [120], ("nll", "hinge"), one_seed=True)
        pairs.append(dict(width=width, **compare(specs, data, repeats=2)))
        print(f"{width:>6} {pairs[-1]['sequential_s']:>13.2f} {pairs[-1]['bundled_s']:>10.2f} {pairs[-1]['speedup']:>8.2f}x",
              flush=True)
    methods = []
    print(f"{'width':>6} {'bmm ms':>8} {'vmap ms':>8} {'loop ms':>8}   (CPU ms for one SGD step of 16 members)")
    for width in [16, 64, 256]:
        methods.append(dict(width=width, **step_methods(width, data)))
        print(f"{width:>6} {methods[-1]['bmm_ms']:>8.2f} {methods[-1]['vmap_ms']:>8.2f} {methods[-1]['loop_ms']:>8.2f}",
              flush=True)
    return dict(headline=headline, sweep=sweep, pairs=pairs, step_methods=methods)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="headline only, one repetition, widths 4/64/256")
    parser.add_argument("--default-study", action="store_true", help="only the default study's FCN grid (d)")
    parser.add_argument("--paper", action="store_true", help="only the paper-grid estimate (e)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--bundle", type=int, default=6, help="runs per bundle in the paper estimate (3 seeds × 2 losses)")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--iterations", type=int, default=65000)
    parser.add_argument("--checkpoints", type=int, default=12)
    parser.add_argument("--startup-s", type=float, default=3.0, help="process start-up per job (torch import, data load)")
    parser.add_argument("--widths", type=int, nargs="*")
    parser.add_argument("--depths", type=int, nargs="*")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    if args.default_study:
        results["default_study"] = default_study()
    elif args.paper:
        results["paper"] = paper_estimate(args)
        p = results["paper"]
        print(f"paper FCN grid ({p['runs']} runs) on {p['device_name']}: {p['hours_alone']:.1f} h one run per job, "
              f"{p['hours_bundled']:.1f} h in bundles of {p['bundle']} ({p['speedup']:.1f}x)")
    else:
        results.update(threads=args.threads, torch=torch.__version__, **tables(args.quick))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
