"""The per-genre blend of `marquee stack` (model-core/src/models/blend.rs) in numpy, to try other
sources on the same validation and test movies: a logistic regression per genre over the sources'
logits (Newton's method, L2 on the weights, plain or class-balanced with the bias corrected back
to the genre's prior), cross-fitted over the
validation folds; the setting with the best out-of-fold validation macro-F1 (then micro-F1) is
kept, fitted on all of validation, and scored on test with thresholds tuned on the out-of-fold
outputs. On the sources `marquee stack --sources-out` writes, it reproduces the stack's figures.

    marquee stack --bundle B --data D --out O --sources-out /tmp/sources.json
    python scripts/reference/blend_reference.py /tmp/sources.json                 # the stack's blend
    python scripts/reference/blend_reference.py /tmp/sources.json --cross-genre   # label co-occurrence
"""

import json
import sys

import numpy as np

SETTINGS = [(l2, balanced) for balanced in (False, True) for l2 in (1e-4, 1e-3, 1e-2, 1e-1)]


def newton(x, y, l2, balanced):
    n, k = x.shape
    xb = np.hstack([x, np.ones((n, 1))])
    positives = np.clip(y.sum(), 1, n - 1)
    w = np.where(y > 0.5, n / (2 * positives), n / (2 * (n - positives))) if balanced else np.ones(n)
    penalty = np.full(k + 1, l2)
    penalty[-1] = 0.0
    beta = np.zeros(k + 1)
    for _ in range(50):
        p = 1 / (1 + np.exp(-xb @ beta))
        gradient = xb.T @ ((p - y) * w) / n + penalty * beta
        hessian = (xb * (np.maximum(p * (1 - p), 1e-12) * w)[:, None]).T @ xb / n + np.diag(penalty)
        hessian[-1, -1] += 1e-9
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.abs(step).max() < 1e-9:
            break
    if balanced:
        beta[-1] -= np.log((n - positives) / positives)  # prior correction, as blend.rs
    return beta


def tune(probabilities, targets):
    thresholds = []
    for g in range(targets.shape[1]):
        y = targets[:, g] > 0.5
        if not y.any():
            thresholds.append(0.5)
            continue
        best = (-1.0, 0.5)
        for t in np.arange(1, 100) / 100:
            p = probabilities[:, g] >= t
            tp, fp, fn = (p & y).sum(), (p & ~y).sum(), (~p & y).sum()
            f1 = 2 * tp / max(2 * tp + fp + fn, 1)
            if f1 > best[0] + 1e-12 or (abs(f1 - best[0]) <= 1e-12 and abs(t - 0.5) < abs(best[1] - 0.5)):
                best = (f1, t)
        thresholds.append(best[1])
    return np.array(thresholds)


def f1(probabilities, targets, thresholds):
    p = probabilities >= thresholds
    y = targets > 0.5
    tp, fp, fn = (p & y).sum(0), (p & ~y).sum(0), (~p & y).sum(0)
    per = np.where(2 * tp + fp + fn > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)
    return float(2 * tp.sum() / (2 * tp.sum() + fp.sum() + fn.sum())), float(per.mean())


def blend_scores(sources, keys=("full", "lexical", "text", "image"), cross_genre=False, **replaced):
    """The best blend of `keys` (any of them replaced by `name={"validation": logits, "test":
    logits}`): its setting, out-of-fold validation and test micro/macro-F1. With `cross_genre`,
    each genre's regression reads every genre's logits of every source (label co-occurrence)
    instead of its own genre's."""
    genres = len(sources["genres"])

    def side(split):
        data = {k: np.array(v, dtype=np.float64).reshape(-1, genres) for k, v in sources[split].items()}
        for name, logits in replaced.items():
            data[name] = np.asarray(logits[split], dtype=np.float64).reshape(-1, genres)
        return data

    validation, test = side("validation"), side("test")

    def inputs(data, g):
        if cross_genre:
            return np.hstack([data[k] for k in keys])
        return np.stack([data[k][:, g] for k in keys], 1)

    folds = np.array(sources["folds"])
    best = None
    for l2, balanced in SETTINGS:
        oof = np.zeros_like(validation["targets"])
        for fold in range(folds.max() + 1):
            train = folds != fold
            for g in range(genres):
                x = inputs(validation, g)
                beta = newton(x[train], validation["targets"][train, g], l2, balanced)
                oof[~train, g] = 1 / (1 + np.exp(-(x[~train] @ beta[:-1] + beta[-1])))
        thresholds = tune(oof, validation["targets"])
        scores = f1(oof, validation["targets"], thresholds)
        if best is None or (scores[1], scores[0]) > (best["validation"][1], best["validation"][0]):
            probabilities = np.zeros_like(test["targets"])
            for g in range(genres):
                beta = newton(inputs(validation, g), validation["targets"][:, g], l2, balanced)
                x = inputs(test, g)
                probabilities[:, g] = 1 / (1 + np.exp(-(x @ beta[:-1] + beta[-1])))
            best = {"l2": l2, "balanced": balanced, "validation": scores,
                    "test": f1(probabilities, test["targets"], thresholds)}
    return best


if __name__ == "__main__":
    print(json.dumps(blend_scores(json.load(open(sys.argv[1])), cross_genre="--cross-genre" in sys.argv[2:])))
