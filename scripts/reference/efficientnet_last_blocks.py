"""An accuracy lever measured with the PyTorch reference (issue 18): EfficientNet-Lite0 with its
last blocks fine-tuned, against the frozen backbone, on Marquee's split of the real movie set.

The posters go through the frozen stem and first blocks once (ImageNet weights, 224x224 squashed
bilinear, ImageNet normalisation, as Marquee preprocesses them); their activations are cached
(float16, about 130 MB for 6,749 posters at the default cut: the last 3 blocks train), then:
- frozen: the rest of the backbone stays frozen and only the design's head trains
  (1280 -> 1024 -> 128 -> genres, ReLU, dropout 0.5);
- fine-tuned: the last `--trainable-blocks` MBConv blocks and the 1x1 head convolution train with
  the head (their BatchNorm statistics stay frozen), with horizontal flips of the cached maps.
Both train with AdamW, BCE with sqrt(neg/pos) positive weights, batch 64, the best epoch by
validation macro-F1 (thresholds tuned on validation each epoch); the test split only reports.
With `--sources` (the JSON `marquee stack --sources-out` writes) it also refits the blend
(scripts/reference/blend_reference.py, the same as `marquee stack`'s) with these image logits in
place of the bundle's image branch's, to show what the lever would add to the shipped model.

    target/debug/marquee data stats --data ../shared/data/movies --quick --write-split /tmp/split.csv
    marquee stack --bundle <the int8 fusion> --data ../shared/data/movies --out /tmp/stacked --sources-out /tmp/sources.json
    python scripts/reference/efficientnet_last_blocks.py --data ../shared/data/movies --split /tmp/split.csv \
        --sources /tmp/sources.json --out results/efficientnet-last-blocks.json
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(__file__))
from blend_reference import blend_scores, f1, tune  # noqa: E402
from efficientnet_lite0_reference import EfficientNetLite0  # noqa: E402

MEAN = np.array((0.485, 0.456, 0.406), np.float32)
STD = np.array((0.229, 0.224, 0.225), np.float32)


def poster(path):
    img = Image.open(path).convert("RGB").resize((224, 224), Image.BILINEAR)
    a = (np.asarray(img, dtype=np.float32) / 255.0 - MEAN) / STD
    return torch.from_numpy(a.transpose(2, 0, 1).copy())


class Tail(nn.Module):
    """The backbone after the cut, then the design's head."""

    def __init__(self, backbone, first, genres):
        super().__init__()
        self.blocks = nn.ModuleList(backbone._blocks[first:])
        self.conv_head, self.bn = backbone._conv_head, backbone._bn1
        self.head = nn.Sequential(nn.Linear(1280, 1024), nn.ReLU(), nn.Dropout(0.5), nn.Linear(1024, 128),
                                  nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, genres))

    def pooled(self, x):
        for block in self.blocks:
            x = block(x)
        return F.relu6(self.bn(self.conv_head(x))).mean(dim=(2, 3))

    def forward(self, x):
        return self.head(x if x.dim() == 2 else self.pooled(x))


def train(cache, targets, split, first, trainable, epochs, seed, backbone_state):
    torch.manual_seed(seed)
    backbone = EfficientNetLite0("same")
    backbone.load_state_dict(backbone_state)
    model = Tail(backbone, first, targets.shape[1])
    tail = [p for n, p in model.named_parameters() if not n.startswith("head.")]
    for p in tail:
        p.requires_grad = trainable
    groups = [{"params": model.head.parameters(), "lr": 3e-4}]
    if trainable:
        groups.append({"params": tail, "lr": 1e-4})
    optimiser = torch.optim.AdamW(groups, weight_decay=1e-5)
    train_idx = np.where(split == "train")[0]
    positives = targets[train_idx].sum(0)
    pos_weight = torch.tensor(np.sqrt((len(train_idx) - positives) / np.maximum(positives, 1)), dtype=torch.float32)
    y = torch.from_numpy(targets.astype(np.float32))
    if not trainable:
        # A frozen tail: its pooled features once (as Marquee caches a frozen backbone's).
        model.eval()
        with torch.no_grad():
            cache = torch.cat([model.pooled(cache[i:i + 128].float()) for i in range(0, len(cache), 128)])

    def outputs(which):
        model.eval()
        idx = np.where(split == which)[0]
        with torch.no_grad():
            return torch.cat([torch.sigmoid(model(cache[idx[i:i + 128]].float())) for i in range(0, len(idx), 128)]).numpy()

    best = None
    for epoch in range(epochs):
        model.train()
        model.blocks.eval()  # BatchNorm statistics stay the pretrained ones
        model.bn.eval()
        order = np.random.default_rng(seed * 1000 + epoch).permutation(train_idx)
        for i in range(0, len(order), 64):
            idx = order[i:i + 64]
            x = cache[idx].float()
            if trainable:
                flip = torch.rand(len(idx)) < 0.5
                x[flip] = x[flip].flip(-1)
            loss = F.binary_cross_entropy_with_logits(model(x), y[idx], pos_weight=pos_weight)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        validation = outputs("validation")
        thresholds = tune(validation, targets[split == "validation"])
        micro, macro = f1(validation, targets[split == "validation"], thresholds)
        print(f"  epoch {epoch + 1}: validation micro/macro-F1 {micro:.4f}/{macro:.4f}", flush=True)
        if best is None or (macro, micro) > (best["validation"][1], best["validation"][0]):
            test = outputs("test")
            best = {"epoch": epoch + 1, "validation": (micro, macro), "thresholds": thresholds,
                    "test": f1(test, targets[split == "test"], thresholds), "validation_p": validation, "test_p": test}
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--split", required=True)
    parser.add_argument("--pretrained", default=os.path.expanduser("~/.cache/marquee/pretrained"))
    parser.add_argument("--cache", default="/tmp/efficientnet-activations.pt")
    parser.add_argument("--trainable-blocks", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--sources", help="the blend's sources (JSON) to refit with the fine-tuned image logits")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    started = time.time()

    import csv
    with open(os.path.join(args.data, "movies.csv"), newline="") as f:
        movies = list(csv.DictReader(f))
    with open(args.split, newline="") as f:
        split_of = {row["id"]: row["split"] for row in csv.DictReader(f)}
    movies = [m for m in movies if m["id"] in split_of]
    split = np.array([split_of[m["id"]] for m in movies])
    genres = sorted({g for m in movies if split_of[m["id"]] == "train" for g in m["genres"].split("|") if g})
    sources = json.load(open(args.sources)) if args.sources else None
    if sources:
        assert sorted(sources["genres"]) == genres, "the sources' genres differ from the data's"
        genres = sources["genres"]  # the bundle's order
    targets = np.array([[g in m["genres"].split("|") for g in genres] for m in movies], dtype=np.float32)

    state = torch.load(os.path.join(args.pretrained, "efficientnet-lite0", "efficientnet-lite0-57934424.pth"),
                       map_location="cpu", weights_only=True)
    backbone = EfficientNetLite0("same").eval()
    backbone.load_state_dict(state)
    first = len(backbone._blocks) - args.trainable_blocks
    if os.path.exists(args.cache):
        cache = torch.load(args.cache)
    else:
        chunks = []
        with torch.no_grad():
            for i in range(0, len(movies), 32):
                x = torch.stack([poster(os.path.join(args.data, m["poster"])) for m in movies[i:i + 32]])
                x = F.relu6(backbone._bn0(backbone._conv_stem(x)))
                for block in backbone._blocks[:first]:
                    x = block(x)
                chunks.append(x.half())
                print(f"\rcaching activations {min(i + 32, len(movies))}/{len(movies)}", end="", flush=True)
        print()
        cache = torch.cat(chunks)
        torch.save(cache, args.cache)
    print(f"activations {tuple(cache.shape)} after block {first} ({time.time() - started:.0f} s)", flush=True)

    results = {"genres": genres, "trainable_blocks": args.trainable_blocks, "runs": {}}
    best = {}
    for name, trainable in (("frozen", False), ("fine-tuned", True)):
        print(name, flush=True)
        t0 = time.time()
        best[name] = train(cache, targets, split, first, trainable, args.epochs, 7, state)
        results["runs"][name] = {k: best[name][k] for k in ("epoch", "validation", "test")}
        results["runs"][name]["seconds"] = round(time.time() - t0)
        print(f"{name}: best epoch {best[name]['epoch']}, validation {best[name]['validation']}, test {best[name]['test']}", flush=True)

    if sources:
        for name in ("frozen", "fine-tuned"):
            logits = {s: np.log(np.clip(best[name][f"{s}_p"], 1e-7, 1 - 1e-7) / np.clip(1 - best[name][f"{s}_p"], 1e-7, 1))
                      for s in ("validation", "test")}
            results["runs"][name]["blend"] = blend_scores(sources, image=logits)
            print(name, "in the blend:", results["runs"][name]["blend"], flush=True)
    results["seconds"] = round(time.time() - started)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
