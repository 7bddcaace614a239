"""ONNX files of the default fused model for the browser benchmark's onnxruntime-web peer.

Builds the benchmark's PyTorch fusion (`pytorch_reference.Fusion`: MiniLM-L6 + EfficientNet-Lite0
features, each projected to 128, one output layer; the same shapes as Marquee's default bundle),
loads the real pretrained backbones that `scripts/fetch-pretrained.sh` caches (all-MiniLM-L6-v2,
efficientnet-lite0-57934424.pth; the small fusion layers stay freshly initialised: run time does
not depend on their values), and exports it with `torch.onnx.export` (opset 17, dynamic token
count) to OUT/fusion.onnx, in f32 and, with onnxruntime's dynamic quantisation, int8
(OUT/fusion-int8.onnx). It also writes OUT/inputs.json: the first sample movie's plot as token
ids (the bundle's tokenizer, cut at 128 as Marquee does) and its poster resized to 224x224 and
normalised, so the peer runs on the same inputs Marquee classifies.

    /root/.cache/torch-venv/bin/pip install torch transformers safetensors tokenizers pillow onnx onnxscript
    python bench/export_onnx.py [--out www/bench-peer] [--pretrained ~/.cache/marquee/pretrained]

The files are large and not committed; `scripts/bench-browser.sh` runs this when they are missing
and a Python with PyTorch is given (MARQUEE_TORCH_PYTHON).
"""

import argparse
import json
import os
import sys

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file
from tokenizers import Tokenizer

sys.path.insert(0, os.path.dirname(__file__))
from pytorch_reference import Fusion  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def main():
    cache = os.environ.get("MARQUEE_CACHE", os.path.expanduser("~/.cache/marquee"))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(ROOT, "www", "bench-peer"))
    parser.add_argument("--pretrained", default=os.path.join(cache, "pretrained"))
    parser.add_argument("--bundle", default=os.path.join(ROOT, "www", "models", "default"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_grad_enabled(False)

    model = Fusion().eval()
    bert = load_file(os.path.join(args.pretrained, "all-MiniLM-L6-v2", "model.safetensors"))
    bert = {k.removeprefix("bert."): v for k, v in bert.items() if not k.startswith("pooler.")}
    missing = model.text.bert.load_state_dict(bert, strict=False)
    assert not missing.missing_keys, missing.missing_keys
    lite0 = torch.load(
        os.path.join(args.pretrained, "efficientnet-lite0", "efficientnet-lite0-57934424.pth"),
        map_location="cpu",
        weights_only=True,
    )
    model.image.backbone.net.load_state_dict(lite0, strict=True)

    samples = json.load(open(os.path.join(ROOT, "www", "samples", "samples.json")))
    sample = samples[0]
    tokenizer = Tokenizer.from_file(os.path.join(args.bundle, "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(128)
    ids = tokenizer.encode(sample["plot"]).ids
    poster = Image.open(os.path.join(ROOT, "www", sample["poster"])).convert("RGB").resize((224, 224), Image.BILINEAR)
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    pixels = ((np.asarray(poster, dtype=np.float32) / 255.0 - mean) / std).transpose(2, 0, 1).astype(np.float32)

    input_ids = torch.tensor([ids], dtype=torch.int64)
    mask = torch.ones_like(input_ids)
    images = torch.from_numpy(pixels).unsqueeze(0)
    path = os.path.join(args.out, "fusion.onnx")
    torch.onnx.export(
        model,
        (input_ids, mask, images),
        path,
        input_names=["input_ids", "attention_mask", "images"],
        output_names=["logits"],
        dynamic_axes={"input_ids": {1: "tokens"}, "attention_mask": {1: "tokens"}},
        opset_version=17,
        dynamo=False,
    )
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(path, os.path.join(args.out, "fusion-int8.onnx"), weight_type=QuantType.QInt8)
    except ImportError:
        print("onnxruntime is not installed: no int8 ONNX file (pip install onnxruntime)", file=sys.stderr)
    json.dump(
        {"sample": sample["id"], "input_ids": ids, "images": pixels.reshape(-1).round(5).tolist(), "image_shape": [1, 3, 224, 224]},
        open(os.path.join(args.out, "inputs.json"), "w"),
    )
    for name in sorted(os.listdir(args.out)):
        print(f"{os.path.join(args.out, name)}: {os.path.getsize(os.path.join(args.out, name)) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
