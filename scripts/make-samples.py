"""Picks the page's sample movies: six test-split movies of the real set (never trained on),
chosen for varied genres, copies their posters to www/samples/ and writes www/samples/samples.json.

    target/debug/marquee data stats --data ../shared/data/movies --quick --write-split /tmp/split.csv
    python3 scripts/make-samples.py --data ../shared/data/movies --split /tmp/split.csv
"""

import argparse
import csv
import json
import os
import shutil

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--data", required=True)
parser.add_argument("--split", required=True)
parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "www", "samples"))
parser.add_argument("--count", type=int, default=6)
args = parser.parse_args()

with open(args.split) as f:
    test = {row["id"] for row in csv.DictReader(f) if row["split"] == "test"}
with open(os.path.join(args.data, "movies.csv"), newline="") as f:
    movies = [m for m in csv.DictReader(f) if m["id"] in test and m["year"] and 25 <= len(m["overview"].split()) <= 90]
movies.sort(key=lambda m: m["id"])

# Greedy: each pick adds the most genres not shown yet (ties: the earlier id).
picked, shown = [], set()
while len(picked) < args.count and movies:
    best = max(movies, key=lambda m: (len(set(m["genres"].split("|")) - shown), -movies.index(m)))
    picked.append(best)
    shown |= set(best["genres"].split("|"))
    movies.remove(best)

os.makedirs(args.out, exist_ok=True)
samples = []
for m in picked:
    name = os.path.basename(m["poster"])
    shutil.copyfile(os.path.join(args.data, m["poster"]), os.path.join(args.out, name))
    samples.append({
        "id": m["id"],
        "title": m["title"],
        "year": int(float(m["year"])),
        "plot": m["overview"],
        "genres": m["genres"].split("|"),
        "poster": f"samples/{name}",
    })
with open(os.path.join(args.out, "samples.json"), "w") as f:
    json.dump(samples, f, indent=1, ensure_ascii=False)
print(f"{len(samples)} samples, genres shown: {len(shown)}: {', '.join(s['title'] for s in samples)}")
