"""sgnoise.study.naming: run-id tags and bundle keys (torch-free, so fast): every tag part tells two runs apart."""

import dataclasses
import hashlib
import json

import pytest

from sgnoise.study.naming import MODELS, SHARED_FIELDS, VARYING_FIELDS, bundle_key, bundle_name, bundle_supported, model_tag


def test_model_tags_are_exact_and_each_part_distinguishes_runs():
    assert model_tag({"model": "fcn", "depth": 3, "width": 512}) == "fcn-d3-w512"
    assert model_tag({"model": "alexnet", "scale": 4}) == "alexnet-c4"
    assert model_tag({"model": "alexnet", "scale": 4, "init": "kaiming"}) == "alexnet-c4-kaiming"
    assert model_tag({"model": "vgg", "variant": "11"}) == "vgg11-w64"
    assert model_tag({"model": "vgg", "variant": "16", "width": 8, "batch_norm": True}) == "vgg16-w8-bn"
    assert model_tag({"model": "vgg", "variant": "16", "width": 8, "batch_norm": False}) == "vgg16-w8"
    # one field changed at a time gives another tag
    pairs = [({"model": "fcn", "depth": 2, "width": 16}, {"model": "fcn", "depth": 3, "width": 16}),
             ({"model": "fcn", "depth": 2, "width": 16}, {"model": "fcn", "depth": 2, "width": 32}),
             ({"model": "alexnet", "scale": 1}, {"model": "alexnet", "scale": 2}),
             ({"model": "alexnet", "scale": 1, "init": "default"}, {"model": "alexnet", "scale": 1, "init": "kaiming"}),
             ({"model": "vgg", "variant": "11"}, {"model": "vgg", "variant": "16"}),
             ({"model": "vgg", "variant": "11", "width": 64}, {"model": "vgg", "variant": "11", "width": 32}),
             ({"model": "vgg", "variant": "11"}, {"model": "vgg", "variant": "11", "batch_norm": True})]
    for a, b in pairs:
        assert model_tag(a) != model_tag(b), (a, b)


def test_unknown_model_names_the_choices():
    assert MODELS == ("fcn", "alexnet", "vgg", "resnet", "vit", "custom")
    with pytest.raises(ValueError, match="unknown model 'mlp'; expected one of fcn, alexnet, vgg, resnet, vit, custom"):
        model_tag({"model": "mlp"})


def test_bundle_support_name_and_key():
    assert bundle_supported({"model": "fcn", "depth": 2, "width": 4})
    assert not bundle_supported({"model": "alexnet", "scale": 1})
    assert not bundle_supported("fcn")
    ids = ["a-run", "b-run"]
    assert bundle_name(ids) == hashlib.sha1(b"a-run b-run").hexdigest()[:12]
    assert bundle_name(ids) != bundle_name(ids[::-1])
    assert not set(SHARED_FIELDS) & set(VARYING_FIELDS)
    from sgnoise.study.spec import RunSpec  # every field of a run is shared by its bundle or may vary in it

    assert set(SHARED_FIELDS) | set(VARYING_FIELDS) == {f.name for f in dataclasses.fields(RunSpec)}
    assert VARYING_FIELDS == ("run_id", "seed", "lr", "loss")
    spec = {name: i for i, name in enumerate(SHARED_FIELDS)} | {"seed": 1, "lr": 0.1, "loss": "nll", "run_id": "x"}
    key = bundle_key(spec)
    assert json.loads(key) == {name: i for i, name in enumerate(SHARED_FIELDS)}
    assert list(json.loads(key)) == sorted(SHARED_FIELDS)
    # varying fields do not enter the key, each shared one does
    assert bundle_key(spec | {"seed": 2, "lr": 0.2, "loss": "hinge", "run_id": "y"}) == key
    for name in SHARED_FIELDS:
        assert bundle_key(spec | {name: "other"}) != key, name

    class Spec:
        def to_dict(self):
            return spec

    assert bundle_key(Spec()) == key
