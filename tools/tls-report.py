#!/usr/bin/env python3
"""How the TLS clients of a labelled capture are named, per client: the `tls` events of a run.

  tools/tls-report.py [--synprint BIN] [CAPTURE LABELS]
      (default: the real clients' fixture, Tests/SynprintTests/Fixtures/tls-clients.pcap and its
      labels, made by tools/netns-tls.py)

Runs `synprint -r CAPTURE --http --json` and prints a Markdown table: per labelled client, its
connections, the ClientHellos read, the families they were named (with the mean confidence) and
the JA4 seen; then the confusions. With --unlabelled CAPTURE..., prints the families of every
ClientHello in other captures (the development captures' clients have no TLS labels), how many
are sure enough of their library to contradict a User-Agent, and the JA4s those start with.
Exits 1 when a labelled client's hello lands outside the family its kind belongs to.
"""
import argparse, collections, json, os, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAMILIES = {"chromium": "Chromium", "firefox": "Firefox", "curl": "curl/OpenSSL", "openssl": "curl/OpenSSL", "wget": "GnuTLS",
            "gnutls": "GnuTLS", "python": "Python", "node": "Node", "java": "Java", "go": "Go"}


def tls_events(binary, captures):
    with tempfile.TemporaryDirectory() as folder:
        out = os.path.join(folder, "events.json")
        reads = [arg for capture in captures for arg in ("-r", capture)]
        run = subprocess.run([binary, *reads, "--http", "--json", "-o", out], capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit(f"tls-report.py: synprint failed ({run.returncode}): {run.stderr.strip()[-500:]}")
        with open(out) as f:
            return [e for e in map(json.loads, f) if e.get("type") == "tls"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--synprint", default=os.path.join(ROOT, ".build/release/synprint"))
    parser.add_argument("--unlabelled", nargs="+", metavar="CAPTURE", help="captures without TLS labels")
    parser.add_argument("capture", nargs="?", default=os.path.join(ROOT, "Tests/SynprintTests/Fixtures/tls-clients.pcap"))
    parser.add_argument("labels", nargs="?", default=os.path.join(ROOT, "Tests/SynprintTests/Fixtures/tls-clients.labels.jsonl"))
    args = parser.parse_args()
    if not os.path.exists(args.synprint):
        sys.exit(f"tls-report.py: {args.synprint} is missing: build it with `swift build -c release`, or give --synprint")
    if args.unlabelled:
        counts, sure, starts = collections.Counter(), collections.Counter(), collections.defaultdict(collections.Counter)
        for event in tls_events(args.synprint, args.unlabelled):
            client = event.get("client") or {}
            key = (client.get("family", "(not read whole)"), client.get("library", ""))
            counts[key] += 1
            if client.get("library_confidence", 0) >= 0.8:  # what tls_mismatch needs
                sure[key] += 1
                starts[key][event["ja4"].split("_")[0]] += 1
        print("| family | library | ClientHellos | sure of the library (>= 0.8) | their JA4 starts |\n|---|---|---|---|---|")
        for key, n in counts.most_common():
            first = ", ".join(f"`{start}`" for start, _ in starts[key].most_common(2))
            print(f"| {key[0]} | {key[1]} | {n} | {sure[key]} | {first} |")
        return
    labels = {}
    with open(args.labels) as f:
        for line in f:
            label = json.loads(line)
            labels[label["client_ip"]] = label
    by_client = collections.defaultdict(list)
    for event in tls_events(args.synprint, [args.capture]):
        by_client[event["src_ip"]].append(event)
    wrong = 0
    print("| client | version | connections | hellos read | named | mean confidence | library | JA4 |")
    print("|---|---|---|---|---|---|---|---|")
    confusions = collections.Counter()
    for address, label in labels.items():
        events = by_client.get(address, [])
        named = collections.Counter((e.get("client") or {}).get("family", "-") for e in events)
        expected = FAMILIES.get(label["kind"])
        for family, n in named.items():
            if family != expected:
                wrong += n
                confusions[(label["kind"], family)] += n
        confidences = [e["client"]["confidence"] for e in events if e.get("client")]
        mean = sum(confidences) / len(confidences) if confidences else 0
        libraries = sorted({e["client"]["library"] for e in events if e.get("client")})
        ja4s = sorted({e["ja4"] or "-" for e in events})
        names = ", ".join(f"{family} {n}" for family, n in named.most_common())
        print(f"| {label['kind']} | {label['version']} | {label['connections']} | {len(events)} | {names} | {mean:.3f} | "
              f"{', '.join(libraries)} | {' '.join(ja4s)} |")
    print()
    if confusions:
        for (kind, family), n in confusions.most_common():
            print(f"- {kind} called {family}: {n}")
    else:
        print("No confusions: every ClientHello in its client's family.")
    sys.exit(1 if wrong else 0)


if __name__ == "__main__":
    main()
