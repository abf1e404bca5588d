#!/usr/bin/env python3
"""Scores synprint (and p0f, when installed) against a labels file.

Usage: tools/accuracy.py [--synprint BIN] [--db FILE] [--labels FILE] [--pcap FILE] [--min-accuracy X]

The labels file has one JSON object per packet of the capture, in order (the format of
dev_labels.jsonl: index, 4-tuple, os_class), corrected as tools/dev_labels.py says. Prints Markdown tables: per-class and per-family
coverage and accuracy, a confusion matrix, a reliability table by confidence bucket, and how often
a family named with confidence >= 0.9 is wrong.
With --min-accuracy it exits 1 when synprint's class accuracy falls below X. The labels and capture
default to the development data in $SYNPRINT_DEV_DATA, else ../shared/data/dev beside the checkout.
"""
import argparse, collections, json, os, shutil, subprocess, sys, tempfile

import dev_labels
from dev_labels import FAMILY

def family(cls):
    return "unknown" if cls in (None, "unknown") else FAMILY.get(cls, "Other")

def run_synprint(binary, pcap, dbs):
    cmd = [binary, "-r", pcap, "--json", "--classify"] + sum((["--db", d] for d in dbs), [])
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    guesses = []
    for line in out.splitlines():
        event = json.loads(line)
        if event["type"] == "syn":
            os_ = event["os"]
            guesses.append((os_["class"], os_["family"], os_["confidence"], event))
    return guesses

def p0f_class(label):
    if label.startswith("Windows"): return "Windows"
    if label.startswith("Linux"): return "Linux"
    if label.startswith("Mac OS"): return "macOS"
    if label.startswith("iOS"): return "iOS"
    if label.startswith("FreeBSD"): return "FreeBSD"
    if label.startswith("OpenBSD"): return "OpenBSD"
    if label.startswith("Android"): return "Android"
    if label == "???": return "unknown"
    return "Other"

def run_p0f(pcap):
    if not shutil.which("p0f"):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "p0f.log")
        subprocess.run(["p0f", "-r", pcap, "-o", log], capture_output=True, check=True)
        guesses = []
        for line in open(log):
            if "] mod=syn|" in line:
                fields = dict(f.split("=", 1) for f in line.strip().split("] ", 1)[1].split("|"))
                cls = p0f_class(fields["os"])
                guesses.append((cls, family(cls), None, None))
        return guesses

def score(name, labels, guesses):
    rows = []
    per_class = collections.defaultdict(lambda: [0, 0, 0])   # total, decided, right
    per_family = collections.defaultdict(lambda: [0, 0, 0])
    confusion = collections.defaultdict(collections.Counter)
    for label, guess in zip(labels, guesses):
        truth, cls = label["os_class"], guess[0]
        per_class[truth][0] += 1
        per_family[family(truth)][0] += 1
        confusion[truth][cls] += 1
        if cls != "unknown":
            per_class[truth][1] += 1
            per_class[truth][2] += cls == truth
        fam = guess[1]
        if fam != "unknown":
            per_family[family(truth)][1] += 1
            per_family[family(truth)][2] += fam == family(truth)
    def table(title, data):
        print(f"\n**{name}: {title}**\n")
        print("| label | SYNs | coverage | accuracy (of decided) | accuracy (of all) |")
        print("|---|---|---|---|---|")
        tot = [0, 0, 0]
        for key in sorted(data, key=lambda k: -data[k][0]):
            t, d, r = data[key]
            tot = [a + b for a, b in zip(tot, data[key])]
            print(f"| {key} | {t} | {d/t:.1%} | {r/d if d else 0:.1%} | {r/t:.1%} |")
        t, d, r = tot
        print(f"| **all** | {t} | {d/t:.1%} | {r/d if d else 0:.1%} | {r/t:.1%} |")
        return r / d if d else 0, r / t
    class_acc = table("per class", per_class)
    family_acc = table("per family", per_family)
    cols = sorted({c for row in confusion.values() for c in row})
    print(f"\n**{name}: confusion (rows = label, columns = answer)**\n")
    print("| label | " + " | ".join(cols) + " |")
    print("|---|" + "---|" * len(cols))
    for truth in sorted(confusion):
        print(f"| {truth} | " + " | ".join(str(confusion[truth][c] or "") for c in cols) + " |")
    return class_acc, family_acc

def reliability(labels, guesses):
    buckets = collections.defaultdict(lambda: [0, 0])
    edges = [0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.01]
    for label, guess in zip(labels, guesses):
        conf = guess[2]
        cls = guess[0] if guess[0] != "unknown" else None
        # the class the confidence is about: the decision, or the leading class below the threshold
        leading = cls or max(guess[3]["os"]["class_scores"].items(), key=lambda kv: kv[1], default=("unknown", 0))[0]
        for lo, hi in zip(edges, edges[1:]):
            if lo <= conf < hi:
                buckets[(lo, hi)][0] += 1
                buckets[(lo, hi)][1] += leading == label["os_class"]
    print("\n**synprint: reliability (class confidence vs. how often that class is right)**\n")
    print("| confidence | SYNs | right |")
    print("|---|---|---|")
    for (lo, hi), (n, r) in sorted(buckets.items()):
        print(f"| {lo:.1f}–{min(hi, 1.0):.1f} | {n} | {r/n:.1%} |")

def confident_families(labels, guesses, threshold=0.9):
    """How often a family named with confidence >= threshold is wrong, per family named: the
    answers that become false `os_mismatch` verdicts for real users."""
    named = collections.defaultdict(lambda: [0, collections.Counter()])
    for label, guess in zip(labels, guesses):
        os_ = guess[3]["os"]
        if os_["family"] != "unknown" and os_["family_confidence"] >= threshold:
            named[os_["family"]][0] += 1
            if os_["family"] != family(label["os_class"]):
                named[os_["family"]][1][label["os_class"]] += 1
    print(f"\n**synprint: families named with confidence ≥ {threshold}, and how often wrong**\n")
    print("| family named | SYNs | wrong | wrong rate | true classes of the wrong ones |")
    print("|---|---|---|---|---|")
    total = wrong = 0
    for fam in sorted(named, key=lambda f: -named[f][0]):
        n, errors = named[fam]
        k = sum(errors.values())
        total, wrong = total + n, wrong + k
        print(f"| {fam} | {n} | {k} | {k / n:.1%} | {', '.join(f'{c} {m}' for c, m in errors.most_common())} |")
    print(f"| **all** | {total} | {wrong} | {wrong / total if total else 0:.1%} | |")

def main():
    here = os.path.dirname(os.path.abspath(__file__))
    data = os.environ.get("SYNPRINT_DEV_DATA") or os.path.join(here, "..", "..", "shared", "data", "dev")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--synprint", default=os.path.join(here, "..", ".build", "release", "synprint"))
    ap.add_argument("--db", action="append", default=[])
    ap.add_argument("--labels", default=os.path.join(data, "dev_labels.jsonl"))
    ap.add_argument("--pcap", default=os.path.join(data, "dev_syns.pcap"))
    ap.add_argument("--min-accuracy", type=float)
    args = ap.parse_args()
    for path in (args.labels, args.pcap):
        if not os.path.exists(path):
            sys.exit(f"accuracy.py: {path} is missing: the labelled development captures are not in the repository; "
                     f"`python3 tools/fetch-captures.py --derive {os.path.normpath(os.path.join(data, 'captures'))}` "
                     "fetches them and writes the labelled SYNs (docs/ACCURACY.md), or give --labels and --pcap")
    if not os.path.exists(args.synprint):
        sys.exit(f"accuracy.py: {args.synprint} is missing: build it with `swift build -c release`, or give --synprint")
    labels, corrected = dev_labels.load(args.labels)
    if corrected:
        print(f"{corrected} labels corrected to Android: Android's connectivity-check User-Agent (tools/dev_labels.py)")
    ours = run_synprint(args.synprint, args.pcap, args.db)
    if len(ours) != len(labels):
        sys.exit(f"synprint found {len(ours)} SYNs, the labels file has {len(labels)}")
    class_acc, family_acc = score("synprint", labels, ours)
    reliability(labels, ours)
    confident_families(labels, ours)
    theirs = run_p0f(args.pcap)
    if theirs is not None and len(theirs) == len(labels):
        score("p0f", labels, theirs)
    if args.min_accuracy is not None and class_acc[1] < args.min_accuracy:
        sys.exit(f"class accuracy {class_acc[1]:.1%} is below {args.min_accuracy:.1%}")

if __name__ == "__main__":
    main()
