"""The linear-regression study: online SGD chains run in batched tensor operations, scheduled by their
mixing time, and held against the exact theory (:mod:`sgnoise.iterates._theory`), one dimension per job."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from sgnoise.iterates._seeds import setting_seed
from sgnoise.iterates._estimates import iterate_alpha_rows
from sgnoise.iterates._montecarlo import theory_alpha_mc
from sgnoise.iterates._theory import TheoryAlpha, _check_setting, step_for_alpha, theory_alpha

if TYPE_CHECKING:
    import pandas as pd

# torch and pandas are imported where used (see the package docstring).


def simulate_linear_sgd(eta: float, b: int, d: int, *, n_chains: int, burn_in: int, n_snapshots: int, thin: int,
                        noise_sd: float = 1.0, seed=0, dtype="float32", device="cpu", max_chunk_entries: int = 2**23):
    """Online SGD on Gaussian linear regression, ``n_chains`` independent chains at once.

    Every step each chain draws b fresh rows a_i ~ N(0, I_d) and noises ε_i ~ N(0, σ²) and does
    x ← x − (η/b) Σ a_i (a_iᵀx − ε_i) on its error x = x_k − x* (x₀ = 0: started at the optimum);
    chains are advanced in chunks of at most ``max_chunk_entries`` a-entries, each chunk one batched
    tensor operation per step. Snapshots after ``burn_in`` steps and then every ``thin`` steps.

    Returns an (n_snapshots, n_chains, d) float64 array (snapshot-major, so that consecutive entries of
    one snapshot row come from different chains). Non-finite values (float overflow far past the
    stability edge) stay in the array; the caller decides. Same seed → the same array."""
    import torch

    _check_setting(eta, b, d)
    for name, value, smallest in (("n_chains", n_chains, 1), ("burn_in", burn_in, 0), ("n_snapshots", n_snapshots, 1),
                                  ("thin", thin, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < smallest:
            raise ValueError(f"{name} must be an int >= {smallest}, got {value!r}")
    torch_dtype = {"float32": torch.float32, "float64": torch.float64}[dtype]
    sequence = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(int(seed))
    generator_seed = int(sequence.generate_state(1, np.uint64)[0] % 2**63)
    generator = torch.Generator(device=device).manual_seed(generator_seed)
    c = eta / b
    out = np.empty((n_snapshots, n_chains, d))
    chunk = max(1, min(n_chains, max_chunk_entries // (b * d)))
    stops = {burn_in + j * thin: j for j in range(n_snapshots)}
    last = burn_in + (n_snapshots - 1) * thin
    for start in range(0, n_chains, chunk):
        n = min(chunk, n_chains - start)
        x = torch.zeros(n, d, 1, dtype=torch_dtype, device=device)
        a = torch.empty(n, b, d, dtype=torch_dtype, device=device)
        noise = torch.empty(n, b, 1, dtype=torch_dtype, device=device)
        for step in range(last + 1):
            if step in stops:
                out[stops[step], start:start + n] = x[:, :, 0].double().cpu().numpy()
            if step == last:
                break
            torch.randn(a.shape, generator=generator, dtype=torch_dtype, device=device, out=a)
            torch.randn(noise.shape, generator=generator, dtype=torch_dtype, device=device, out=noise)
            residual = torch.baddbmm(noise, a, x, beta=-noise_sd)          # a x − σ ε'
            x.sub_(torch.bmm(a.transpose(1, 2), residual), alpha=c)       # x − c Σ a_i (a_iᵀx − ε_i)
    return out


def chain_schedule(theory: TheoryAlpha, *, burn_in: float, thin: float, n_snapshots: int, min_burn_in: int = 50):
    """(burn-in steps, thinning steps, total steps) from the mixing time τ = 1/|E log‖M e₁‖|:
    max(min_burn_in, ⌈burn_in·τ⌉), max(1, ⌈thin·τ⌉); inf total when there is no stationary law."""
    tau = theory.mixing_steps
    if not math.isfinite(tau):
        return None, None, math.inf
    burn = max(int(min_burn_in), math.ceil(burn_in * tau))
    gap = max(1, math.ceil(thin * tau))
    return burn, gap, burn + (n_snapshots - 1) * gap


def case_steps(case: dict) -> dict[int, list[float]]:
    """Batch size → the step sizes of one ``iterates.linear.cases`` entry: its ``etas``, or for each of its
    ``alphas`` the step at which the theory gives that α (:func:`step_for_alpha`)."""
    d = case["dim"]
    steps = {}
    for b in case["batch_sizes"]:
        if case.get("etas") is not None:
            steps[b] = [float(eta) for eta in case["etas"]]
        else:
            steps[b] = [step_for_alpha(float(alpha), b, d) for alpha in case["alphas"]]
    return steps


def theory_curve(b: int, d: int, alpha_low: float, alpha_high: float, n_points: int) -> pd.DataFrame:
    """Theoretical α (quadrature, with bounds) on ``n_points`` log-spaced steps from where the theory gives
    ``alpha_high`` to where it gives ``alpha_low``: the figure's lines."""
    import pandas as pd

    rows = []
    eta_low, eta_high = step_for_alpha(alpha_high, b, d), step_for_alpha(alpha_low, b, d)
    for eta in np.geomspace(eta_low, eta_high, n_points):
        theory = theory_alpha(float(eta), b, d)
        rows.append(dict(dim=d, batch_size=b, eta=float(eta), eta_over_b=float(eta) / b, **theory.as_dict()))
    return pd.DataFrame(rows)


MEASURED_COLUMNS = ["dim", "batch_size", "eta", "eta_over_b", "target_alpha", "method", "target", "coordinate", "alpha",
                    "ci_low", "ci_high", "n_samples", "note", "theory_alpha"]


def linear_study(case: dict, settings: dict, seed: int = 0, log=None):
    """One ``iterates.linear.cases`` entry (one dimension d; ``settings`` = the schema-filled ``linear`` block).

    Returns three tables: ``measured``, α̂ per (b, η, method, target, coordinate) (:func:`iterate_alpha_rows`)
    with the setting's theory; ``theory``, one row per setting with the theory by quadrature
    (``theory_*``) and by Monte Carlo (``mc_*``), the chain schedule and whether it was simulated
    (``skipped`` says why not: no stationary law, or more than ``max_steps`` steps needed); ``curves``,
    the theoretical lines (:func:`theory_curve`). Same case, settings and seed → the same tables."""
    import pandas as pd

    from sgnoise.training.runtime import resolve_device

    d = int(case["dim"])
    device = resolve_device(settings.get("device", "cpu"))
    measured, theory_rows, curves = [], [], []
    for b, etas in case_steps(case).items():
        for index, eta in enumerate(etas):
            values = dict(dim=d, batch_size=b, eta=round(eta, 12))
            theory = theory_alpha(eta, b, d)
            mc = theory_alpha_mc(eta, b, d, n_samples=settings["theory_samples"],
                                 seed=setting_seed(seed, "linear_theory", **values), level=settings["level"])
            burn, gap, total = chain_schedule(theory, burn_in=settings["burn_in"], thin=settings["thin"],
                                              n_snapshots=settings["n_snapshots"], min_burn_in=settings["min_burn_in"])
            skipped = ""
            if not math.isfinite(total):
                skipped = "no stationary law (E log|M e1| >= 0)"
            elif total > settings["max_steps"]:
                skipped = f"needs {total} steps > max_steps {settings['max_steps']}"
            target = float(case["alphas"][index]) if case.get("alphas") is not None else math.nan
            setting = dict(dim=d, batch_size=b, eta=eta, eta_over_b=eta / b, target_alpha=target)
            theory_rows.append(dict(**setting, **theory.as_dict(), mc_alpha=mc.alpha, mc_low=mc.low, mc_high=mc.high,
                                    mc_samples=settings["theory_samples"], burn_in=burn, thin=gap,
                                    steps=total if math.isfinite(total) else None, n_chains=settings["n_chains"],
                                    n_snapshots=settings["n_snapshots"], simulated=not skipped, skipped=skipped))
            if log:
                print(f"d={d} b={b} eta={eta:.6g}: theory alpha {theory.alpha:.4g} (quadrature), {mc.alpha:.4g} "
                      f"[{mc.low:.4g}, {mc.high:.4g}] (Monte Carlo); {total} steps{' - ' + skipped if skipped else ''}",
                      file=log, flush=True)
            if skipped:
                continue
            samples = simulate_linear_sgd(eta, b, d, n_chains=settings["n_chains"], burn_in=burn,
                                          n_snapshots=settings["n_snapshots"], thin=gap, noise_sd=settings["noise_sd"],
                                          device=device, seed=setting_seed(seed, "linear_chains", **values))
            rows = iterate_alpha_rows(samples, settings["methods"], ci=settings["ci"], level=settings["level"],
                                      seed=setting_seed(seed, "linear_signs", **values))
            measured += [dict(**setting, **row, theory_alpha=theory.alpha) for row in rows]
        low, high = settings["curve_alphas"]
        curves.append(theory_curve(b, d, low, high, settings["curve_points"]))
    return pd.DataFrame(measured, columns=MEASURED_COLUMNS), pd.DataFrame(theory_rows), pd.concat(curves, ignore_index=True)


def run_linear_study(case: dict, settings: dict, seed: int = 0, threads: int = 1, log=None):
    """The ``iterates_linear`` rule: :func:`linear_study` of one case on ``threads`` torch CPU threads
    (the rule's ``params`` as they are); returns its (measured, theory, curves) tables."""
    import torch

    torch.set_num_threads(threads)
    return linear_study(case, settings, seed=seed, log=log)
