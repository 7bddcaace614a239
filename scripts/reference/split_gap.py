"""Where a bundle's validation and test scores differ, and why: from the predictions of
`marquee eval --predictions` on the two splits (the same bundle), this prints
- micro/macro-F1 on each split with the bundle's thresholds (tuned on validation);
- the same with thresholds tuned on each split itself (an oracle: if the test split still
  scores lower, the gap is not the thresholds' or the blend's choices overfitting validation);
- the mean average precision of each split (no thresholds at all);
- a 95% bootstrap interval of the test scores (1,000 resamples of the test movies);
- per genre: support, F1 on each split, the gap, the test F1 with the oracle's threshold, and
  the average precision on each split.

    marquee eval --bundle B --data D --split validation --predictions /tmp/pred-validation.csv
    marquee eval --bundle B --data D --split test --predictions /tmp/pred-test.csv --json > /tmp/eval-test.json
    python scripts/reference/split_gap.py /tmp/pred-validation.csv /tmp/pred-test.csv /tmp/eval-test.json
"""

import csv
import json
import sys

import numpy as np

CANDIDATES = np.arange(1, 100) / 100


def load(path):
    rows = list(csv.reader(open(path, newline="")))
    genres = rows[0][4:]
    probabilities = np.array([[float(x) for x in r[4:]] for r in rows[1:]])
    targets = np.array([[g in r[2].split("|") for g in genres] for r in rows[1:]], dtype=bool)
    return genres, probabilities, targets


def f1(tp, fp, fn):
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def scores(p, y, thresholds):
    predicted = p >= thresholds[None, :] - 1e-7
    tp, fp, fn = (predicted & y).sum(0), (predicted & ~y).sum(0), (~predicted & y).sum(0)
    per_genre = np.array([f1(*c) for c in zip(tp, fp, fn)])
    return f1(tp.sum(), fp.sum(), fn.sum()), per_genre.mean(), per_genre


def tune(p, y):
    """Marquee's threshold tuning (model-core/src/metrics.rs): each genre's best F1 on the grid,
    ties to the threshold nearest 0.5, 0.5 for a genre without positives."""
    chosen = []
    for g in range(p.shape[1]):
        best = (-1.0, 0.5)
        for t in CANDIDATES:
            predicted = p[:, g] >= t - 1e-7
            s = f1((predicted & y[:, g]).sum(), (predicted & ~y[:, g]).sum(), (~predicted & y[:, g]).sum())
            if s > best[0] + 1e-12 or (abs(s - best[0]) <= 1e-12 and abs(t - 0.5) < abs(best[1] - 0.5)):
                best = (s, t)
        chosen.append(best[1] if y[:, g].any() else 0.5)
    return np.array(chosen)


def average_precision(p, y):
    order = np.argsort(-p, kind="stable")
    hits = y[order]
    if not hits.any():
        return float("nan")
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return precision[hits].mean()


def main(validation_csv, test_csv, test_json):
    genres, pv, yv = load(validation_csv)
    test_genres, pt, yt = load(test_csv)
    assert genres == test_genres, "the two files are not from the same bundle"
    report = json.load(open(test_json))
    thresholds = np.array([g["threshold"] for g in report["per_genre"]])
    val, test = scores(pv, yv, thresholds), scores(pt, yt, thresholds)
    print(f"the bundle's thresholds:        validation {val[0]:.4f}/{val[1]:.4f}, test {test[0]:.4f}/{test[1]:.4f} (micro/macro-F1)")
    own_v, own_t = tune(pv, yv), tune(pt, yt)
    oracle_v, oracle_t = scores(pv, yv, own_v), scores(pt, yt, own_t)
    print(f"thresholds tuned on each split: validation {oracle_v[0]:.4f}/{oracle_v[1]:.4f}, test {oracle_t[0]:.4f}/{oracle_t[1]:.4f}")
    ap_v = [average_precision(pv[:, g], yv[:, g]) for g in range(len(genres))]
    ap_t = [average_precision(pt[:, g], yt[:, g]) for g in range(len(genres))]
    print(f"mean average precision:         validation {np.nanmean(ap_v):.4f}, test {np.nanmean(ap_t):.4f}")
    rng = np.random.default_rng(0)
    resampled = [scores(pt[i], yt[i], thresholds)[:2] for i in (rng.integers(0, len(pt), len(pt)) for _ in range(1000))]
    micro, macro = np.array(resampled).T
    print(
        f"test, 95% bootstrap interval:   micro-F1 {np.percentile(micro, 2.5):.4f}-{np.percentile(micro, 97.5):.4f}, "
        f"macro-F1 {np.percentile(macro, 2.5):.4f}-{np.percentile(macro, 97.5):.4f}"
    )
    print(f"genres per movie:               validation {yv.sum(1).mean():.3f}, test {yt.sum(1).mean():.3f}\n")
    print("| genre | validation movies | test movies | validation F1 | test F1 | gap | test F1, thresholds tuned on test | validation AP | test AP |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for g, name in enumerate(genres):
        print(
            f"| {name} | {yv[:, g].sum()} | {yt[:, g].sum()} | {val[2][g]:.3f} | {test[2][g]:.3f} | "
            f"{test[2][g] - val[2][g]:+.3f} | {oracle_t[2][g]:.3f} | {ap_v[g]:.3f} | {ap_t[g]:.3f} |"
        )


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
