"""Noise-pass cost and HDF5 write throughput (issue: default study, benchmark).

FCN 784-512-512-512-10 on mnist5k at b = 100, one process:
(a) time to compute all K = 40 mini-batch gradients into the K × P noise matrix, divided by the
    time of one training epoch (40 SGD steps, same model and batch size); also the same ratio for
    a plain loop that stacks per-batch gradients with torch.cat (the baseline design), and for the
    noise pass of the workflow (sgnoise.noise.measure.measure_noise: 5 000 stored columns plus the paper's
    pooled estimate over all P coordinates streamed at the default K1 grid), with the K × P matrix
    held and with it recomputed row by row (noise.matrix_memory_mb too small to hold it);
(b) HDF5 write throughput of that matrix through NoiseDumpWriter, uncompressed, and with gzip.
Run: python benchmarks/bench_noise.py  (writes benchmarks/results/bench_noise.json)
"""

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import timed_interleaved  # noqa: E402

import numpy as np
import torch

from sgnoise.data import prepare_mnist5k
from sgnoise.models.losses import cross_entropy
from sgnoise.models import FCN, parameter_layout
from sgnoise.noise.measure import gradient_noise, measure_noise, select_columns
from sgnoise.tail.pooled import DEFAULT_K1_GRID
from sgnoise.noise.dump import NoiseDumpWriter

REPEATS = 7


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    arrays = prepare_mnist5k()
    x = (torch.from_numpy(arrays["train_images"]).float() / 255 - 0.1307) / 0.3081
    y = torch.from_numpy(arrays["train_labels"])
    model = FCN(784, 4, 512, 10)
    b = 100
    order = torch.randperm(len(x))

    def epoch():
        for k in range(len(x) // b):
            index = order[k * b:(k + 1) * b]
            model.zero_grad(set_to_none=True)
            cross_entropy(model(x[index]), y[index]).backward()
            with torch.no_grad():
                for p in model.parameters():
                    p.add_(p.grad, alpha=-1e-4)

    def noise_pass():
        gradient_noise(model, cross_entropy, x, y, b)

    def naive_noise_pass():
        rows = []
        for k in range(len(x) // b):
            model.zero_grad(set_to_none=True)
            cross_entropy(model(x[k * b:(k + 1) * b]), y[k * b:(k + 1) * b]).backward()
            rows.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
        matrix = torch.stack(rows)
        return matrix - matrix.mean(0)

    columns = torch.from_numpy(select_columns(sum(p.numel() for p in model.parameters()), 5000, 0))
    options = dict(k1_grid=list(DEFAULT_K1_GRID), zeros="exclude")

    def streamed_pass():
        measure_noise(model, cross_entropy, x, y, b, columns, pooled=options)

    def recomputed_pass():
        measure_noise(model, cross_entropy, x, y, b, columns, pooled=options, matrix_memory_mb=1)

    epoch(), noise_pass(), naive_noise_pass(), streamed_pass(), recomputed_pass()  # warm-up
    t_epoch, t_noise, t_naive, t_streamed, t_recomputed = timed_interleaved(
        REPEATS, epoch, noise_pass, naive_noise_pass, streamed_pass, recomputed_pass)
    noise, full = gradient_noise(model, cross_entropy, x, y, b)
    matrix = noise.numpy()
    layout = parameter_layout(model)
    columns = np.arange(matrix.shape[1])
    results = dict(threads=threads, K=matrix.shape[0], P=matrix.shape[1], epoch_s=t_epoch, noise_pass_s=t_noise,
                   naive_noise_pass_s=t_naive, noise_over_epoch=t_noise / t_epoch, naive_over_epoch=t_naive / t_epoch,
                   streamed_pass_s=t_streamed, streamed_over_epoch=t_streamed / t_epoch,
                   recomputed_pass_s=t_recomputed, recomputed_over_epoch=t_recomputed / t_epoch)
    with tempfile.TemporaryDirectory() as tmp:
        def write(compression=None):
            path = Path(tmp) / "noise.h5"
            start = time.perf_counter()
            writer = NoiseDumpWriter(path, columns=columns, layers=layout, attrs={})
            if compression:
                group = writer._file.require_group("checkpoints").create_group("00000000")
                group.create_dataset("noise", data=matrix, compression=compression, chunks=(matrix.shape[0], 65536))
            else:
                writer.add_checkpoint(0, matrix, full.numpy(), {})
            writer.close()
            elapsed = time.perf_counter() - start
            size = path.stat().st_size
            path.unlink()
            return elapsed, size
        write()
        t_plain = statistics.median(write()[0] for _ in range(REPEATS))
        t_gzip, size_gzip = write("gzip")
    results.update(matrix_mb=matrix.nbytes / 1e6, hdf5_write_gb_s=matrix.nbytes / t_plain / 1e9,
                   gzip_write_mb_s=matrix.nbytes / t_gzip / 1e6, gzip_size_ratio=size_gzip / matrix.nbytes,
                   zero_fraction=float(np.mean(matrix == 0)))
    out = Path(__file__).parent / "results" / "bench_noise.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    for key, value in results.items():
        print(f"{key:>20}: {value:.4g}" if isinstance(value, float) else f"{key:>20}: {value}")


if __name__ == "__main__":
    main()
