"""TF-IDF + logistic regression on the plots: the classical baseline of RESULTS.md.

Runs on exactly Marquee's split (written by `marquee data stats --write-split`), tunes C and the
per-genre thresholds on the validation split only (thresholds as Marquee tunes them: 0.01..0.99,
best F1 per genre, ties to the one closest to 0.5), and reports the test split with the same
metrics as `marquee eval --json` (scikit-learn definitions, zero_division=0).

    target/debug/marquee data stats --data ../shared/data/movies --quick --write-split /tmp/split.csv
    python scripts/reference/tfidf_baseline.py --data ../shared/data/movies --split /tmp/split.csv --out results/tfidf.json
"""

import argparse
import json
import time

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, hamming_loss, accuracy_score
from sklearn.multiclass import OneVsRestClassifier


def tune_thresholds(probabilities, targets):
    candidates = np.arange(1, 100) / 100.0
    thresholds = []
    for g in range(targets.shape[1]):
        if targets[:, g].sum() == 0:
            thresholds.append(0.5)
            continue
        best = (-1.0, 0.5)
        for t in candidates:
            f1 = f1_score(targets[:, g], probabilities[:, g] >= t, zero_division=0)
            if f1 > best[0] + 1e-12 or (abs(f1 - best[0]) <= 1e-12 and abs(t - 0.5) < abs(best[1] - 0.5)):
                best = (f1, t)
        thresholds.append(best[1])
    return np.array(thresholds)


def report(targets, predicted, genres):
    per_genre = f1_score(targets, predicted, average=None, zero_division=0)
    return {
        "micro_f1": f1_score(targets, predicted, average="micro", zero_division=0),
        "macro_f1": f1_score(targets, predicted, average="macro", zero_division=0),
        "weighted_f1": f1_score(targets, predicted, average="weighted", zero_division=0),
        "samples_f1": f1_score(targets, predicted, average="samples", zero_division=0),
        "hamming_loss": hamming_loss(targets, predicted),
        "subset_accuracy": accuracy_score(targets, predicted),
        "movies": int(targets.shape[0]),
        "per_genre": [{"genre": g, "f1": float(f)} for g, f in zip(genres, per_genre)],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--split", required=True, help="id,split CSV from `marquee data stats --write-split`")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    started = time.time()

    movies = pd.read_csv(f"{args.data}/movies.csv", dtype=str, keep_default_na=False)
    split = pd.read_csv(args.split, dtype=str)
    movies = movies.merge(split, on="id", how="inner")
    train = movies[movies.split == "train"]
    genres = sorted({g for gs in train.genres for g in gs.split("|") if g})

    def targets(frame):
        return np.array([[g in gs.split("|") for g in genres] for gs in frame.genres], dtype=int)

    parts = {name: movies[movies.split == name] for name in ("train", "validation", "test")}
    y = {name: targets(frame) for name, frame in parts.items()}
    vectorizer = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2, max_features=100_000, stop_words="english")
    x = {"train": vectorizer.fit_transform(parts["train"].overview)}
    for name in ("validation", "test"):
        x[name] = vectorizer.transform(parts[name].overview)

    best = None
    for c in (1.0, 4.0, 10.0, 30.0):
        model = OneVsRestClassifier(LogisticRegression(C=c, max_iter=2000, class_weight="balanced"))
        model.fit(x["train"], y["train"])
        probabilities = model.predict_proba(x["validation"])
        thresholds = tune_thresholds(probabilities, y["validation"])
        macro = f1_score(y["validation"], probabilities >= thresholds, average="macro", zero_division=0)
        print(f"C={c}: validation macro-F1 {macro:.4f}")
        if best is None or macro > best[0]:
            best = (macro, c, model, thresholds)
    _, c, model, thresholds = best
    test = report(y["test"], model.predict_proba(x["test"]) >= thresholds, genres)
    validation = report(y["validation"], model.predict_proba(x["validation"]) >= thresholds, genres)
    out = {
        "model": "TF-IDF (1-2 grams, sublinear) + one-vs-rest logistic regression (balanced)",
        "C": c,
        "genres": genres,
        "splits": {name: int(len(frame)) for name, frame in parts.items()},
        "validation": validation,
        "test": test,
        "seconds": round(time.time() - started, 1),
    }
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
    print(f"test: micro-F1 {test['micro_f1']:.4f}, macro-F1 {test['macro_f1']:.4f} (C={c}) -> {args.out}")


if __name__ == "__main__":
    main()
