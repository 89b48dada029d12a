"""HDF5 noise dumps: one file per run, one group per checkpoint, written atomically.

Layout (format ``sgnoise.noise``, version 2)::

    /                       attrs: format, format_version, sgnoise_version, run_id,
                                   config (JSON), n_params, n_columns, batch_size,
                                   n_minibatches, n_random_minibatches, complete
    /columns/param_index    (M,) int64   index of each stored column in parameters_to_vector order
    /columns/layer          (M,) int32   row of /layers/* the column belongs to
    /layers/name            (L,) str     parameter tensor names (e.g. "layers.0.weight")
    /layers/offset, size    (L,) int64   slice of the flat parameter vector
    /checkpoints/<iteration:08d>/
        noise               (K, M) float32  g_B - mean_B g_B, rows = disjoint mini-batches in evaluation order
        full_gradient       (M,)   float32  mean of the K mini-batch gradients (stored columns)
        noise_random        (R, M) float32  optional: R independently drawn mini-batches, minus full_gradient
        pooled/             the paper's pooled estimate over all P coordinates, streamed in the noise pass
                            (sgnoise.tail.pooled.STATISTICS): k1 (G,), sum_d, sum_d2, count (G,), row_sum_d,
                            row_count (G, K), n_entries, n_used, k1_reference, power_sums (4,)
        pooled_test/        the same over the test set's partition (noise.test_set)
        attrs: iteration, step_size, train_loss, train_accuracy, test_loss, test_accuracy,
               full_gradient_norm (over all P parameters)

Every array dataset carries HDF5's Fletcher-32 checksum filter, so a bit flipped on disk is
reported on read (as :class:`NoiseDumpError` naming the file and checkpoint) instead of
silently entering an α estimate; a truncated file is refused when opened.

The writer works on ``<path>.partial`` (or ``partial_path``) and renames it onto ``path``
when closed after success; the ``complete`` attribute is set last, so a reader can tell a
finished file.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import h5py
import numpy as np

from sgnoise import __version__

FORMAT = "sgnoise.noise"
FORMAT_VERSION = 2  # 2: pooled statistics streamed over all P coordinates


class NoiseDumpError(RuntimeError):
    """A noise dump is missing, truncated, corrupt or of another layout."""

    def __init__(self, path, message, checkpoint=None):
        where = f"{path}" + (f", checkpoint {checkpoint}" if checkpoint is not None else "")
        super().__init__(f"noise dump {where}: {message}")
        self.path = str(path)
        self.checkpoint = checkpoint


def checkpoint_key(iteration: int) -> str:
    """HDF5 group name of the checkpoint at ``iteration`` in noise.h5: eight digits, zero-padded."""
    return f"{int(iteration):08d}"


class NoiseDumpWriter:
    """Write a noise dump checkpoint by checkpoint; atomic on :meth:`close`.

    Parameters: ``columns`` the stored parameter indices (sorted), ``layers`` a list of
    (name, offset, size) for every parameter tensor, ``attrs`` file-level attributes
    (``config`` may be a dict: it is stored as JSON); ``checksum`` adds a Fletcher-32 checksum to
    every array (bit flips are then reported on reading; costs write speed, see README).
    """

    def __init__(self, path, *, columns, layers, attrs, partial_path=None, checksum=False):
        self.path = Path(path)
        self.checksum = bool(checksum)  # HDF5 Fletcher-32 per array: detects flipped bits, writes at ~0.1 GB/s
        self.partial_path = Path(partial_path) if partial_path else self.path.with_name(self.path.name + ".partial")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        columns = np.asarray(columns, dtype=np.int64)
        self._file = h5py.File(self.partial_path, "w")
        file = self._file
        for key, value in attrs.items():
            file.attrs[key] = json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else value
        file.attrs["format"] = FORMAT
        file.attrs["format_version"] = FORMAT_VERSION
        file.attrs["sgnoise_version"] = __version__
        file.attrs["n_columns"] = len(columns)
        file.attrs["complete"] = False
        names = [name for name, _, _ in layers]
        offsets = np.array([offset for _, offset, _ in layers], dtype=np.int64)
        sizes = np.array([size for _, _, size in layers], dtype=np.int64)
        file.create_dataset("layers/name", data=np.array(names, dtype=h5py.string_dtype()))
        file.create_dataset("layers/offset", data=offsets)
        file.create_dataset("layers/size", data=sizes)
        layer_of_column = np.searchsorted(offsets + sizes, columns, side="right").astype(np.int32)
        file.create_dataset("columns/param_index", data=columns)
        file.create_dataset("columns/layer", data=layer_of_column)

    def add_checkpoint(self, iteration, noise, full_gradient, attrs, noise_random=None, extra=None):
        """``extra``: {"<group>.<name>": array} written as ``<group>/<name>`` in the checkpoint group
        (the streamed pooled statistics, sgnoise.tail.pooled)."""
        group = self._file.require_group("checkpoints").create_group(checkpoint_key(iteration))
        group.create_dataset("noise", data=np.ascontiguousarray(noise, dtype=np.float32), fletcher32=self.checksum)
        group.create_dataset("full_gradient", data=np.asarray(full_gradient, dtype=np.float32), fletcher32=self.checksum)
        if noise_random is not None:
            group.create_dataset("noise_random", data=np.ascontiguousarray(noise_random, dtype=np.float32),
                                 fletcher32=self.checksum)
        for key, value in (extra or {}).items():
            name, statistic = key.split(".", 1)
            group.create_dataset(f"{name}/{statistic}", data=np.asarray(value), fletcher32=self.checksum and np.ndim(value) > 0)
        group.attrs["iteration"] = int(iteration)
        for key, value in attrs.items():
            group.attrs[key] = value
        self._file.flush()

    def close(self, complete=True, attrs=None):
        """Close the file; when ``complete`` set the file attributes ``attrs`` (known only at the end,
        e.g. the run's status), mark it finished and rename it onto the final path."""
        if self._file is None:
            return
        if complete:
            for key, value in (attrs or {}).items():
                self._file.attrs[key] = value
            self._file.attrs["complete"] = True
        self._file.close()
        self._file = None
        if complete:
            os.replace(self.partial_path, self.path)

    def abort(self):
        """Close and delete the partial file."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self.partial_path.unlink(missing_ok=True)


class NoiseDump:
    """Read a noise dump, checking its layout. Use as a context manager.

    ``noise(it)`` returns the lazy h5py dataset (slice it to read blocks);
    ``noise_array(it)`` reads it whole.
    """

    def __init__(self, path):
        self.path = Path(path)
        if not self.path.exists():
            raise NoiseDumpError(self.path, "file does not exist")
        try:
            self._file = h5py.File(self.path, "r")
        except OSError as error:
            raise NoiseDumpError(self.path, f"not a readable HDF5 file ({error}); delete it and rerun to regenerate") from None
        try:
            with self._reading("the file header"):
                self._check_layout()
        except BaseException:
            self._file.close()
            raise

    def _check_layout(self):
        attrs = self._file.attrs
        if attrs.get("format") != FORMAT:
            raise NoiseDumpError(self.path, f"not an sgnoise noise dump (format attribute {attrs.get('format')!r}, expected {FORMAT!r})")
        if int(attrs.get("format_version", -1)) != FORMAT_VERSION:
            raise NoiseDumpError(self.path, f"format version {attrs.get('format_version')} is not supported (expected {FORMAT_VERSION})")
        if not bool(attrs.get("complete", False)):
            raise NoiseDumpError(self.path, "file is incomplete (training did not finish writing it); delete it and rerun")
        for name in ("columns/param_index", "columns/layer", "layers/name", "checkpoints"):
            if name not in self._file:
                raise NoiseDumpError(self.path, f"missing '{name}'")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self._file.close()

    @property
    def attrs(self) -> dict:
        out = {}
        for key, value in self._file.attrs.items():
            if key == "config":
                value = json.loads(value)
            elif isinstance(value, np.generic):
                value = value.item()
            out[key] = value
        return out

    @contextlib.contextmanager
    def _reading(self, what, checkpoint=None):
        """Turn an h5py failure while reading ``what`` into a NoiseDumpError naming file and checkpoint."""
        try:
            yield
        except NoiseDumpError:
            raise
        except (OSError, ValueError, RuntimeError) as error:
            raise NoiseDumpError(self.path, f"cannot read {what} ({error}); the file is corrupt, delete it and rerun",
                                 checkpoint=checkpoint) from None

    @property
    def iterations(self) -> list[int]:
        with self._reading("the checkpoint list"):
            return sorted(int(key) for key in self._file["checkpoints"].keys())

    def _group(self, iteration):
        key = checkpoint_key(iteration)
        try:
            return self._file["checkpoints"][key]
        except KeyError:
            raise NoiseDumpError(self.path, "no such checkpoint", checkpoint=iteration) from None
        except OSError as error:
            raise NoiseDumpError(self.path, f"corrupt checkpoint group ({error})", checkpoint=iteration) from None

    def _dataset(self, iteration, name):
        group = self._group(iteration)
        try:
            return group[name]
        except KeyError:
            raise NoiseDumpError(self.path, f"missing dataset '{name}'", checkpoint=iteration) from None
        except OSError as error:
            raise NoiseDumpError(self.path, f"corrupt dataset '{name}' ({error})", checkpoint=iteration) from None

    def noise(self, iteration):
        return self._dataset(iteration, "noise")

    def has_random_noise(self, iteration) -> bool:
        group = self._group(iteration)
        with self._reading("the checkpoint group", iteration):
            return "noise_random" in group

    def noise_random(self, iteration):
        return self._dataset(iteration, "noise_random")

    def pooled_statistics(self, iteration, name="pooled") -> dict | None:
        """The streamed pooled statistics ``name`` ("pooled" or "pooled_test") of a checkpoint as numpy
        arrays, or None when the dump has none (no pooled estimate was streamed)."""
        group = self._group(iteration)
        with self._reading(f"the '{name}' statistics", iteration):
            if name not in group:
                return None
            return {key: dataset[()] for key, dataset in group[name].items()}

    def read(self, iteration, name="noise", rows=slice(None), columns=slice(None)) -> np.ndarray:
        """Read (a block of) a checkpoint dataset, turning h5py failures into NoiseDumpError."""
        dataset = self._dataset(iteration, name)
        try:
            return dataset[rows, columns] if dataset.ndim == 2 else dataset[columns]
        except (OSError, ValueError) as error:
            raise NoiseDumpError(self.path, f"cannot read '{name}' ({error}); the file is corrupt, delete it and rerun", checkpoint=iteration) from None

    def noise_array(self, iteration) -> np.ndarray:
        return self.read(iteration, "noise")

    def full_gradient(self, iteration) -> np.ndarray:
        return self.read(iteration, "full_gradient")

    def checkpoint_attrs(self, iteration) -> dict:
        group = self._group(iteration)
        with self._reading("the checkpoint attributes", iteration):
            return {key: (value.item() if isinstance(value, np.generic) else value) for key, value in group.attrs.items()}

    @property
    def column_index(self) -> np.ndarray:
        with self._reading("'columns/param_index'"):
            return self._file["columns/param_index"][:]

    @property
    def column_layer(self) -> np.ndarray:
        with self._reading("'columns/layer'"):
            return self._file["columns/layer"][:]

    @property
    def layer_names(self) -> list[str]:
        with self._reading("'layers/name'"):
            names = self._file["layers/name"][:]
        return [name.decode() if isinstance(name, bytes) else str(name) for name in names]
