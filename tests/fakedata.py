"""Small MNIST / CIFAR-10 / CIFAR-100 archives in the real formats, and a local HTTP mirror.

The archives have the original file names and formats, so torchvision's real download,
md5 check, extraction and parsing run on them:
- MNIST: idx files (big-endian magic 0x00000803 for images N×28×28 uint8, 0x00000801 for
  labels), gzipped: train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-*.gz;
- CIFAR-10: cifar-10-python.tar.gz holding cifar-10-batches-py/{data_batch_1..5,
  test_batch, batches.meta, readme.html}, each batch a pickled dict with "data" (N×3072
  uint8, channel-major rows), "labels", "filenames", "batch_label";
- CIFAR-100: cifar-100-python.tar.gz holding cifar-100-python/{train, test, meta} with
  "fine_labels" and "coarse_labels".
Archives are byte-for-byte reproducible (fixed seed, gzip/tar mtimes 0), so their md5s are too.

CLI (used by the workflow's smoke config):
    python tests/fakedata.py write --dir D              # write archives + D/checksums.json
    python tests/fakedata.py serve --dir D --port P     # write if needed, print JSON, serve
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gzip
import hashlib
import http.server
import io
import json
import pickle
import signal
import sys
import tarfile
import threading
from pathlib import Path
from typing import Iterator

import numpy as np

DATASETS = ("mnist", "cifar10", "cifar100")
CHECKSUMS_FILE = "checksums.json"
NUM_CLASSES = {"mnist": 10, "cifar10": 10, "cifar100": 100}
IMAGE_SHAPES = {"mnist": (1, 28, 28), "cifar10": (3, 32, 32), "cifar100": (3, 32, 32)}


def fake_arrays(n_train: int = 20, n_test: int = 10, seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """Random uint8 images (N, C, H, W) and labels (cycling through the classes) per dataset."""
    if n_train < 5 or n_test < 1:
        raise ValueError(f"need n_train >= 5 (five CIFAR-10 batches) and n_test >= 1, got {n_train}, {n_test}")
    rng = np.random.default_rng(seed)
    arrays = {}
    for name in DATASETS:
        shape, classes = IMAGE_SHAPES[name], NUM_CLASSES[name]
        arrays[name] = {
            "train_x": rng.integers(0, 256, size=(n_train, *shape), dtype=np.uint8),
            "train_y": (np.arange(n_train) + rng.integers(classes)) % classes,
            "test_x": rng.integers(0, 256, size=(n_test, *shape), dtype=np.uint8),
            "test_y": (np.arange(n_test) + rng.integers(classes)) % classes,
        }
    return arrays


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def _idx(array: np.ndarray) -> bytes:
    """idx format: zero, zero, type 0x08 (uint8), number of dims, then big-endian int32 sizes."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def _tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        directories = sorted({name.split("/")[0] for name in members})
        for directory in directories:
            info = tarfile.TarInfo(directory)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
            tar.addfile(info)
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return _gzip(buffer.getvalue())


def _cifar_batch(images: np.ndarray, labels: np.ndarray, label_key: str, batch_label: str, extra=None) -> bytes:
    entry = {
        "batch_label": batch_label,
        label_key: [int(y) for y in labels],
        "data": images.reshape(len(images), -1),  # rows: 1024 red, 1024 green, 1024 blue
        "filenames": [f"fake_{i:05d}.png" for i in range(len(images))],
    }
    entry.update(extra or {})
    return pickle.dumps(entry, protocol=2)


def archive_bytes(
    n_train: int = 20, n_test: int = 10, seed: int = 0
) -> tuple[dict[str, bytes], dict[str, dict[str, str]]]:
    """(archive file name -> bytes, dataset -> {file name -> md5}) for all three datasets.

    The md5 table covers every archive and, for CIFAR, every tar member torchvision checks:
    exactly the keys of sgnoise.data.download's ``checksums`` override.
    """
    arrays = fake_arrays(n_train, n_test, seed)
    files, checksums = {}, {}

    mnist = arrays["mnist"]
    for prefix, split in (("train", "train"), ("t10k", "test")):
        files[f"{prefix}-images-idx3-ubyte.gz"] = _gzip(_idx(mnist[f"{split}_x"][:, 0]))
        files[f"{prefix}-labels-idx1-ubyte.gz"] = _gzip(_idx(mnist[f"{split}_y"].astype(np.uint8)))
    checksums["mnist"] = {name: _md5(data) for name, data in files.items()}

    cifar10 = arrays["cifar10"]
    members = {}
    for i, part in enumerate(np.array_split(np.arange(n_train), 5), start=1):
        members[f"data_batch_{i}"] = _cifar_batch(
            cifar10["train_x"][part], cifar10["train_y"][part], "labels", f"training batch {i} of 5"
        )
    members["test_batch"] = _cifar_batch(cifar10["test_x"], cifar10["test_y"], "labels", "testing batch 1 of 1")
    members["batches.meta"] = pickle.dumps(
        {"num_cases_per_batch": len(part), "label_names": [f"class{c}" for c in range(10)], "num_vis": 3072}, protocol=2
    )
    archive = _tar_gz({f"cifar-10-batches-py/{k}": v for k, v in {**members, "readme.html": b"fake\n"}.items()})
    files["cifar-10-python.tar.gz"] = archive
    checksums["cifar10"] = {"cifar-10-python.tar.gz": _md5(archive), **{k: _md5(v) for k, v in members.items()}}

    cifar100 = arrays["cifar100"]
    members = {}
    for split, key in (("train", "train"), ("test", "test")):
        fine = cifar100[f"{split}_y"]
        members[key] = _cifar_batch(
            cifar100[f"{split}_x"], fine, "fine_labels", key, {"coarse_labels": [int(y) // 5 for y in fine]}
        )
    members["meta"] = pickle.dumps(
        {"fine_label_names": [f"fine{c}" for c in range(100)], "coarse_label_names": [f"coarse{c}" for c in range(20)]},
        protocol=2,
    )
    archive = _tar_gz({f"cifar-100-python/{k}": v for k, v in members.items()})
    files["cifar-100-python.tar.gz"] = archive
    checksums["cifar100"] = {"cifar-100-python.tar.gz": _md5(archive), **{k: _md5(v) for k, v in members.items()}}
    return files, checksums


def write_fake_archives(directory, n_train: int = 20, n_test: int = 10, seed: int = 0) -> dict[str, dict[str, str]]:
    """Write the fake archives and ``checksums.json`` into ``directory``; return the checksums."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    files, checksums = archive_bytes(n_train, n_test, seed)
    for name, data in files.items():
        (directory / name).write_bytes(data)
    (directory / CHECKSUMS_FILE).write_text(json.dumps(checksums, indent=2, sort_keys=True) + "\n")
    return checksums


class _MirrorHandler(http.server.SimpleHTTPRequestHandler):
    """Static files; the first ``server.fail_first`` requests get 503; every path is recorded."""

    def do_GET(self):
        with self.server.lock:
            self.server.requests.append(self.path)
            failing = len(self.server.requests) <= self.server.fail_first
        if failing:
            self.send_error(503, "injected failure")
            return
        super().do_GET()

    def log_message(self, format, *args):
        pass


class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # torchvision's redirect probe closes the connection before reading the body.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class LocalMirror:
    """A running loopback HTTP server: ``url`` (base URL ending in '/'), ``requests`` (paths asked for)."""

    def __init__(self, server: http.server.ThreadingHTTPServer):
        self._server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}/"

    @property
    def requests(self) -> list[str]:
        with self._server.lock:
            return list(self._server.requests)


@contextlib.contextmanager
def serve_directory(directory, port: int = 0, fail_first: int = 0) -> Iterator[LocalMirror]:
    """Serve ``directory`` over HTTP on 127.0.0.1 (``port`` 0: ephemeral) in a thread; shut down on exit."""
    handler = functools.partial(_MirrorHandler, directory=str(directory))
    server = _QuietServer(("127.0.0.1", port), handler)
    server.lock, server.requests, server.fail_first = threading.Lock(), [], fail_first
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield LocalMirror(server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for command in ("write", "serve"):
        sub = commands.add_parser(command)
        sub.add_argument("--dir", required=True, type=Path, help="directory for the archives")
        sub.add_argument("--n-train", type=int, default=20)
        sub.add_argument("--n-test", type=int, default=10)
        sub.add_argument("--seed", type=int, default=0)
        if command == "serve":
            sub.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args(argv)

    if args.command == "write" or not (args.dir / CHECKSUMS_FILE).exists():
        checksums = write_fake_archives(args.dir, args.n_train, args.n_test, args.seed)
    else:
        checksums = json.loads((args.dir / CHECKSUMS_FILE).read_text())
    if args.command == "write":
        print(json.dumps({"dir": str(args.dir), "checksums": checksums}, indent=2, sort_keys=True))
        return 0

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with serve_directory(args.dir, args.port) as mirror:
        print(json.dumps({"mirror": mirror.url, "checksums": checksums}, indent=2, sort_keys=True), flush=True)
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
