"""The ``iterates:`` config block (schemas/iterates.schema.yaml): what the schema cannot check (torch-free)."""

from __future__ import annotations

from sgnoise.study.naming import model_tag


def check_iterates_config(settings: dict) -> dict:
    """What the schema cannot say about a (schema-filled) ``iterates:`` block; raises ValueError naming the
    key. Returns {"dims": [...], "networks": {model tag: model spec}}."""
    linear, networks = settings["linear"], settings["networks"]
    dims = []
    for index, case in enumerate(linear["cases"]):
        where = f"config iterates.linear.cases[{index}]"
        given = [key for key in ("alphas", "etas") if case.get(key) is not None]
        if len(given) != 1:
            raise ValueError(f"{where}: give exactly one of 'alphas' (theoretical tail indices) and 'etas' (step sizes), "
                             f"got {given or 'neither'}")
        if case["dim"] in dims:
            raise ValueError(f"{where}.dim: dim {case['dim']} appears in more than one case; list its batch sizes in one case")
        dims.append(case["dim"])
    low, high = linear["curve_alphas"]
    if not low < high:
        raise ValueError(f"config iterates.linear.curve_alphas: the first value must be below the second, got {[low, high]}")
    if not networks["record"] <= networks["iterations"]:
        raise ValueError(f"config iterates.networks.record={networks['record']} must not exceed "
                         f"iterations={networks['iterations']}")
    if not networks["running_mean"] < networks["record"]:
        raise ValueError(f"config iterates.networks.running_mean={networks['running_mean']} must be below "
                         f"record={networks['record']}")
    if networks["record"] - networks["running_mean"] < 2 * networks["ci_batches"]:
        raise ValueError(f"config iterates.networks: record − running_mean = {networks['record'] - networks['running_mean']} "
                         f"fluctuation rows are too few for ci_batches={networks['ci_batches']} (need 2 per batch)")
    tags = {}
    for index, spec in enumerate(networks["models"]):
        model = dict(model="fcn", depth=spec["depth"], width=spec["width"])
        tag = model_tag(model)
        if tag in tags:
            raise ValueError(f"config iterates.networks.models[{index}]: {tag} is listed twice")
        tags[tag] = model
    return dict(dims=dims, networks=tags)
