#!/usr/bin/env python3
"""Leave-one-capture-out evaluation of `synprint db build` on the labelled dev captures.

  tools/loco.py [--data DIR] [--min-count 1]

DIR defaults to $SYNPRINT_DEV_DATA, else ../shared/data/dev beside the checkout.

For each capture with labelled SYNs: build a database from all the other captures (labels from
their plain-HTTP User-Agents and from the dev labels of those captures), then classify the
held-out capture's labelled SYNs (labels corrected as tools/dev_labels.py says) with the curated database alone, the curated database without
the entries whose only dev evidence is the held-out capture (their `source` names the dev
captures they were checked against), the learned one alone, and curated + learned merged.
Prints class and family accuracy (over all labelled SYNs) and coverage, class accuracy per label,
and how many families named with confidence >= 0.9 are wrong.
"""
import argparse, collections, json, os, re, subprocess, sys, tempfile

import dev_labels
from dev_labels import FAMILY

def run(binary, *args):
    return subprocess.run([binary, *args], capture_output=True, text=True)

def classify(binary, capture, databases):
    args = ["-r", capture, "--json", "--classify"]
    for db in databases:
        args += ["--db", db]
    out = {}
    for line in run(binary, *args).stdout.splitlines():
        event = json.loads(line)
        if event.get("type") == "syn":
            key = (event["src_ip"], event["src_port"], event["dst_ip"], event["dst_port"])
            out[key] = (event["os"]["class"], event["os"]["family"], event["os"]["family_confidence"])
    return out

def cited_captures(source, captures):
    """The dev captures an entry's source names ("dev captures gnutella, ocsp")."""
    match = re.search(r"dev captures? ([^;)]*)", source)
    if not match:
        return set()
    names = re.findall(r"[A-Za-z0-9_.-]+", match.group(1))
    return {c for c in captures for n in names if c.split("__")[-1].rsplit(".", 1)[0] == n}

def without_entries_of(curated, held_out, captures, path):
    """The curated file minus the entries whose only dev evidence is `held_out`."""
    dropped = []
    with open(curated) as f, open(path, "w") as out:
        for line in f:
            if line.startswith("{") and '"packet"' in line:
                entry = json.loads(line)
                cited = cited_captures(entry.get("source", ""), captures)
                if cited == {held_out}:
                    dropped.append(entry["id"])
                    continue
            out.write(line)
    return dropped

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=os.environ.get("SYNPRINT_DEV_DATA")
                        or os.path.join(os.path.dirname(__file__), "../../shared/data/dev"))
    parser.add_argument("--min-count", default="1")
    parser.add_argument("--binary", default=".build/release/synprint")
    options = parser.parse_args()
    for name in ("dev_labels.jsonl", "captures"):
        if not os.path.exists(os.path.join(options.data, name)):
            captures = os.path.normpath(os.path.join(options.data, "captures"))
            sys.exit(f"loco.py: {os.path.join(options.data, name)} is missing: the labelled development captures are not in "
                     f"the repository; `python3 tools/fetch-captures.py --derive {captures}` fetches them and writes the "
                     "labels (docs/ACCURACY.md), or give --data DIR")
    if not os.path.exists(options.binary):
        sys.exit(f"loco.py: {options.binary} is missing: build it with `swift build -c release`, or give --binary")
    labels, corrected = dev_labels.load(os.path.join(options.data, "dev_labels.jsonl"))
    if corrected:
        print(f"{corrected} labels corrected to Android: Android's connectivity-check User-Agent (tools/dev_labels.py)",
              file=sys.stderr)
    by_capture = collections.defaultdict(list)
    for label in labels:
        by_capture[label["capture"]].append(label)
    captures = sorted(os.listdir(os.path.join(options.data, "captures")))
    curated = "database/synprint.db.jsonl"
    totals = {name: collections.Counter() for name in ("curated", "curated without the held-out capture's entries", "learned", "merged")}
    with tempfile.TemporaryDirectory() as tmp:
        for held_out in captures:
            if not by_capture.get(held_out):
                continue
            train = [c for c in captures if c != held_out]
            train_labels = os.path.join(tmp, "labels.jsonl")
            with open(train_labels, "w") as f:
                for label in labels:
                    if label["capture"] != held_out:
                        f.write(json.dumps({"src_ip": label["src_ip"], "src_port": label["src_port"], "os_class": label["os_class"]}) + "\n")
            learned, merged = os.path.join(tmp, "learned.jsonl"), os.path.join(tmp, "merged.jsonl")
            args = ["db", "build", "--labels", train_labels, "--min-count", options.min_count, "-o", learned]
            for c in train:
                args += ["-r", os.path.join(options.data, "captures", c)]
            build = run(options.binary, *args)
            if build.returncode not in (0, 2):
                sys.exit(build.stderr)
            run(options.binary, "db", "merge", curated, learned, "-o", merged)
            reduced = os.path.join(tmp, "reduced.jsonl")
            dropped = without_entries_of(curated, held_out, captures, reduced)
            path = os.path.join(options.data, "captures", held_out)
            for name, dbs in (("curated", [curated]), ("curated without the held-out capture's entries", [reduced]),
                              ("learned", [learned]), ("merged", [merged])):
                guesses = classify(options.binary, path, dbs)
                for label in by_capture[held_out]:
                    key = (label["src_ip"], label["src_port"], label["dst_ip"], label["dst_port"])
                    guess, family, family_confidence = guesses.get(key, ("unknown", "unknown", 0))
                    truth = label["os_class"]
                    t = totals[name]
                    t["all"] += 1
                    t["covered"] += guess != "unknown"
                    t["class"] += guess == truth
                    t["family"] += FAMILY.get(guess) == FAMILY.get(truth)
                    t["all " + truth] += 1
                    t["class " + truth] += guess == truth
                    if family != "unknown" and family_confidence >= 0.9:
                        t["sure"] += 1
                        t["sure wrong"] += family != FAMILY.get(truth)
            print(f"{held_out}: {len(by_capture[held_out])} labelled SYNs"
                  + (f"; left out: {', '.join(dropped)}" if dropped else ""), file=sys.stderr)
    print("| database | labelled SYNs | coverage | class accuracy | family accuracy |")
    print("|---|---|---|---|---|")
    for name, t in totals.items():
        n = t["all"]
        print(f"| {name} | {n} | {t['covered'] / n:.1%} | {t['class'] / n:.1%} | {t['family'] / n:.1%} |")
    classes = sorted({k[4:] for t in totals.values() for k in t if k.startswith("all ")},
                     key=lambda c: -totals["curated"]["all " + c])
    print("\nClass accuracy per label (of all its SYNs), and families named with confidence ≥ 0.9 that are wrong:\n")
    print("| database | " + " | ".join(f"{c} ({totals['curated']['all ' + c]})" for c in classes) + " | wrong of sure families |")
    print("|---|" + "---|" * (len(classes) + 1))
    for name, t in totals.items():
        cells = [f"{t['class ' + c] / t['all ' + c]:.1%}" for c in classes]
        sure = f"{t['sure wrong']} of {t['sure']} ({t['sure wrong'] / t['sure'] if t['sure'] else 0:.1%})"
        print(f"| {name} | " + " | ".join(cells) + f" | {sure} |")

if __name__ == "__main__":
    main()
