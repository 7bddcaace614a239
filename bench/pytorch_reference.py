"""PyTorch eager reference for `marquee bench`: the same models, shapes and thread count, the
same measurements, printed as JSON on stdout (a table on stderr).

    marquee bench --pytorch /path/to/venv/bin/python       # runs this beside Marquee
    python bench/pytorch_reference.py --threads 2           # alone

Models (freshly initialised; speed does not depend on weight values): MiniLM-L6 (transformers
BertModel with all-MiniLM-L6-v2's shape, masked mean pooling, linear head, 128 tokens),
torchvision ResNet-50 and EfficientNet-Lite0 with the design's 1024-128-20 head, the design's
SimpleCNN, the GloVe LSTM (50d, 2 layers of 128, dropout 0.5, 128 tokens) and the fusion
(MiniLM + EfficientNet-Lite0 features, projected to 128 each). Training steps: batch 32,
BCE-with-logits, AdamW; MiniLM at 96 tokens.
"""

import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "scripts", "reference"))
from efficientnet_lite0_reference import EfficientNetLite0  # noqa: E402

GENRES = 20
BATCH = 32
INFERENCE_TOKENS = 128
TRAIN_TOKENS = 96


def head(features):
    return nn.Sequential(nn.Linear(features, 1024), nn.ReLU(), nn.Dropout(0.5), nn.Linear(1024, 128), nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, GENRES))


class MiniLM(nn.Module):
    def __init__(self):
        super().__init__()
        from transformers import BertConfig, BertModel

        config = BertConfig(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536)
        self.bert = BertModel(config, add_pooling_layer=False)
        self.dropout = nn.Dropout(0.1)
        self.head = nn.Linear(384, GENRES)

    def features(self, ids, mask):
        tokens = self.bert(input_ids=ids, attention_mask=mask).last_hidden_state
        m = mask.unsqueeze(-1).to(tokens.dtype)
        return (tokens * m).sum(1) / m.sum(1).clamp(min=1e-9)

    def forward(self, ids, mask):
        return self.head(self.dropout(self.features(ids, mask)))


class ImageModel(nn.Module):
    def __init__(self, backbone, features):
        super().__init__()
        self.backbone = backbone
        self.head = head(features)

    def features(self, images):
        return self.backbone(images)

    def forward(self, images):
        return self.head(self.features(images))


def resnet50():
    import torchvision

    backbone = torchvision.models.resnet50()
    backbone.fc = nn.Identity()
    return ImageModel(backbone, 2048)


class Lite0Features(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = EfficientNetLite0()

    def forward(self, images):
        return self.net.features(images)


class SimpleCNN(nn.Module):
    def __init__(self):
        super().__init__()
        layers, cin = [], 3
        for c in (32, 64, 128, 256):
            layers += [nn.Conv2d(cin, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(2)]
            cin = c
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Sequential(nn.Dropout(0.5), nn.Linear(256, GENRES))

    def forward(self, images):
        return self.head(self.features(images))


class WordLSTM(nn.Module):
    """The baseline (128-d embeddings, one layer, no dropout) or the GloVe LSTM (50-d, two, 0.5)."""

    def __init__(self, embedding_dim, layers, dropout):
        super().__init__()
        self.embedding = nn.Embedding(30000, embedding_dim, padding_idx=0)
        self.lstm = nn.LSTM(embedding_dim, 128, num_layers=layers, dropout=dropout, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(128, GENRES)

    def forward(self, ids, mask):
        _, (h, _) = self.lstm(self.embedding(ids))
        return self.head(self.dropout(h[-1]))


class Fusion(nn.Module):
    def __init__(self):
        super().__init__()
        self.text = MiniLM()
        self.image = ImageModel(Lite0Features(), 1280)
        self.text_proj = nn.Linear(384, 128)
        self.image_proj = nn.Linear(1280, 128)
        self.out = nn.Linear(256, GENRES)

    def forward(self, ids, mask, images):
        t = torch.relu(self.text_proj(self.text.features(ids, mask)))
        v = torch.relu(self.image_proj(self.image.features(images)))
        return self.out(torch.cat([t, v], 1))


# The registry's models this reference has a PyTorch twin of; a model added to the registry
# without one here is skipped, and named on stderr (and in `marquee bench`'s table, with no ratio).
MODELS = {
    "lstm": (lambda: WordLSTM(128, 1, 0.0), "text"),
    "lstm-glove": (lambda: WordLSTM(50, 2, 0.5), "text"),
    "bert": (MiniLM, "text"),
    "resnet50": (resnet50, "image"),
    "efficientnet-lite0": (lambda: ImageModel(Lite0Features(), 1280), "image"),
    "cnn": (SimpleCNN, "image"),
    "fusion": (Fusion, "both"),
}


def make(name):
    return MODELS[name]


def inputs(kind, batch, tokens, vocab):
    ids = (1000 + (torch.arange(batch * tokens) * 7919) % (vocab - 1000)).reshape(batch, tokens)
    mask = torch.ones(batch, tokens, dtype=torch.long)
    images = torch.randn(batch, 3, 224, 224)
    return {"text": (ids, mask), "image": (images,), "both": (ids, mask, images)}[kind]


def median_seconds(warmup, runs, work):
    for _ in range(warmup):
        work()
    times = []
    for _ in range(max(runs, 1)):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_mb():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def measure(name, repeats, train):
    reset_peak()
    factory, kind = make(name)
    vocab = 30000 if name.startswith("lstm") else 30522
    model = factory().eval()
    one = inputs(kind, 1, INFERENCE_TOKENS, vocab)
    many = inputs(kind, BATCH, INFERENCE_TOKENS, vocab)
    with torch.inference_mode():
        latency = median_seconds(2, repeats, lambda: model(*one))
        batch_time = median_seconds(1, max(repeats // 4, 2), lambda: model(*many))
    train_step = None
    if train and name != "fusion":
        model.train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.01)
        batch = inputs(kind, BATCH, TRAIN_TOKENS, vocab)
        targets = (torch.rand(BATCH, GENRES) < 0.15).float()
        loss_fn = nn.BCEWithLogitsLoss()

        def step():
            optimizer.zero_grad()
            loss_fn(model(*batch), targets).backward()
            optimizer.step()

        train_step = median_seconds(1, 3, step)
    return {
        "model": name,
        "latency_ms": latency * 1e3,
        "throughput": BATCH / batch_time,
        "train_step_s": train_step,
        "peak_mb": peak_mb(),
        "gflops": 0.0,
        "gmacs": 0.0,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--models", default="lstm,lstm-glove,bert,cnn,resnet50,efficientnet-lite0,fusion")
    parser.add_argument("--no-train", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rows = []
    skipped = []
    for name in args.models.split(","):
        if name not in MODELS:
            print(f"PyTorch: no reference for {name} in {__file__}: skipped", file=sys.stderr)
            skipped.append(name)
            continue
        print(f"PyTorch: measuring {name}...", file=sys.stderr)
        rows.append(measure(name, args.repeats, not args.no_train))
    result = {"torch": torch.__version__, "threads": torch.get_num_threads(), "rows": rows, "skipped": skipped}
    json.dump(result, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
