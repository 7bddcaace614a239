"""ResNet-50 reference outputs with deterministic, formula-generated weights.

Builds ``torchvision.models.resnet50()`` (no pretrained weights), overwrites every
state_dict entry except ``num_batches_tracked`` with a closed-form deterministic value
(see FORMULA below), runs a formula-generated input through it in eval mode and writes
``model-core/tests/fixtures/resnet50_reference.json`` with the ordered key list, the 1000
logits, the 2048 pooled features and the parameter count. A Rust port can regenerate the
exact same weights from the key list and compare outputs without any weight file.

The script also checks itself: it rebuilds a second model purely from the recorded key
list (names + shapes) and asserts that it reproduces the logits bit-for-bit.

Rerun (from the repo root):
    python3 -m venv /work/pyref-venv && /work/pyref-venv/bin/pip install torch torchvision \
        numpy                                         # once
    /work/pyref-venv/bin/python scripts/reference/resnet50_reference.py [--out FILE]
"""

import argparse
import json
import os

import numpy as np
import torch
import torchvision

FORMULA = """\
Let k be the index of a state_dict entry in state_dict order after skipping every
'num_batches_tracked' entry (k = 0, 1, 2, ...), n its element count, j = 0..n-1 the flat
row-major index, and base = sin(0.001 * j * (k + 1) + k), all in float64, cast to float32
at the end.
  4-D conv weight [o, i, kh, kw]: base * sqrt(3 / (i * kh * kw))
  BatchNorm weight: 1 + 0.1 * base; bias: 0.1 * base; running_mean: 0.1 * base;
  running_var: 1 + 0.5 * abs(base)   (BatchNorm eps = 1e-5, eval mode uses running stats)
  fc.weight [1000, 2048]: base * sqrt(3 / 2048); fc.bias: 0.01 * base
Input x [1, 3, 224, 224]: x.flat[j] = sin(0.01 * j) (float64 -> float32), no normalisation.
"""


def r7(x):
    if isinstance(x, list):
        return [r7(v) for v in x]
    return float(f"{float(x):.7g}")


def gen_tensor(k, name, shape):
    """Deterministic value of state_dict entry number k (num_batches_tracked skipped)."""
    n = int(np.prod(shape)) if len(shape) else 1
    j = np.arange(n, dtype=np.float64)
    base = np.sin(0.001 * j * (k + 1) + k)
    leaf = name.rsplit(".", 1)[-1]
    if len(shape) == 4:
        _, i, kh, kw = shape
        v = base * np.sqrt(3.0 / (i * kh * kw))
    elif name == "fc.weight":
        v = base * np.sqrt(3.0 / shape[1])
    elif name == "fc.bias":
        v = 0.01 * base
    elif leaf == "weight":  # BatchNorm gamma
        v = 1.0 + 0.1 * base
    elif leaf == "bias":  # BatchNorm beta
        v = 0.1 * base
    elif leaf == "running_mean":
        v = 0.1 * base
    elif leaf == "running_var":
        v = 1.0 + 0.5 * np.abs(base)
    else:
        raise ValueError(f"no formula for {name} {shape}")
    return torch.from_numpy(v.astype(np.float32).reshape(shape))


def fill(model, keys):
    """Overwrite the model's state from an ordered list of {name, shape}."""
    sd = model.state_dict()
    new = {}
    for k, e in enumerate(keys):
        assert list(sd[e["name"]].shape) == e["shape"], e
        new[e["name"]] = gen_tensor(k, e["name"], e["shape"])
    missing = [n for n in sd if n not in new and not n.endswith("num_batches_tracked")]
    assert not missing, missing
    model.load_state_dict(new, strict=False)
    return model


def make_input():
    j = np.arange(3 * 224 * 224, dtype=np.float64)
    return torch.from_numpy(np.sin(0.01 * j).astype(np.float32).reshape(1, 3, 224, 224))


def run(model, x):
    """Returns (logits[1000], pooled features[2048])."""
    feats = {}
    h = model.avgpool.register_forward_hook(lambda m, i, o: feats.setdefault("f", o.flatten(1)))
    logits = model(x)
    h.remove()
    return logits[0], feats["f"][0]


def main():
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(root, "model-core", "tests", "fixtures",
                                                  "resnet50_reference.json"))
    args = ap.parse_args()
    torch.set_grad_enabled(False)

    model = torchvision.models.resnet50().eval()
    keys = [dict(name=n, shape=list(t.shape)) for n, t in model.state_dict().items()
            if not n.endswith("num_batches_tracked")]
    fill(model, keys)
    x = make_input()
    logits, features = run(model, x)

    # Sanity: regenerate a fresh model from the recorded key list only.
    keys_rt = json.loads(json.dumps(keys))
    model2 = fill(torchvision.models.resnet50().eval(), keys_rt)
    logits2, _ = run(model2, make_input())
    assert torch.equal(logits, logits2), "regeneration from key list does not reproduce logits"

    param_count = sum(p.numel() for p in model.parameters())
    buffers = sum(b.numel() for n, b in model.named_buffers() if not n.endswith("num_batches_tracked"))
    top5 = torch.topk(logits, 5)
    doc = dict(
        description="torchvision ResNet-50 with formula-generated weights (no download needed)",
        generated_by="scripts/reference/resnet50_reference.py",
        torch_version=torch.__version__,
        torchvision_version=torchvision.__version__,
        formula=FORMULA,
        parameter_count=param_count,
        buffer_count_excluding_num_batches_tracked=buffers,
        num_keys=len(keys),
        input=dict(shape=[1, 3, 224, 224], formula="x.flat[j] = sin(0.01*j)"),
        logits_top5=[dict(index=int(i), logit=r7(v)) for v, i in zip(top5.values, top5.indices)],
        logits_stats=dict(mean=r7(logits.mean()), std=r7(logits.std()), min=r7(logits.min()), max=r7(logits.max())),
        features_stats=dict(mean=r7(features.mean()), std=r7(features.std()), min=r7(features.min()), max=r7(features.max())),
        keys=keys,
        logits=r7(logits.tolist()),
        features=r7(features.tolist()),
    )
    with open(args.out, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print("parameter_count", param_count, "keys", len(keys))
    print("top5", doc["logits_top5"], "logit stats", doc["logits_stats"], "feature stats", doc["features_stats"])
    print("wrote", args.out, os.path.getsize(args.out), "bytes")


if __name__ == "__main__":
    main()
