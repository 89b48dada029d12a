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

Modules: :mod:`~sgnoise.training.bundle.plan` (which runs may share a bundle, how many fit),
:mod:`~sgnoise.training.bundle.vectorised` (the stacked FCN), :mod:`~sgnoise.training.bundle.loop` (train_bundle).
"""

from sgnoise.study.naming import SHARED_FIELDS, VARYING_FIELDS, bundle_key  # torch-free; re-exported
from sgnoise.training.bundle._noise_pass import pooled_noise_pass
from sgnoise.training.bundle.loop import BUNDLE_STATE_DIR, OUTPUT_KEYS, bundle_fingerprint, train_bundle
from sgnoise.training.bundle.plan import (CPU_MEMORY_FRACTION, CUDA_MEMORY_FRACTION, EVALUATION_CHUNK, MAX_NOISE_CHUNK_BYTES,
                                          available_memory_bytes, check_bundle, choose_bundle_size, fcn_layer_sizes,
                                          member_memory_bytes)
from sgnoise.training.bundle.vectorised import (MemberLosses, evaluate_members, fcn_deltas, fcn_forward, fcn_outputs,
                                                minibatch_gradients, sgd_update)

__all__ = ["BUNDLE_STATE_DIR", "CPU_MEMORY_FRACTION", "CUDA_MEMORY_FRACTION", "EVALUATION_CHUNK", "MAX_NOISE_CHUNK_BYTES",
           "MemberLosses", "OUTPUT_KEYS", "SHARED_FIELDS", "VARYING_FIELDS", "available_memory_bytes", "bundle_fingerprint",
           "bundle_key", "check_bundle", "choose_bundle_size", "evaluate_members", "fcn_deltas", "fcn_forward",
           "fcn_layer_sizes", "fcn_outputs", "member_memory_bytes", "minibatch_gradients", "pooled_noise_pass", "sgd_update",
           "train_bundle"]
