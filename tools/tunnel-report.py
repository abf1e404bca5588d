#!/usr/bin/env python3
"""Detection table of the tunnel rules: runs synprint --flow-stats on a capture with a labels
file (one line per client address: client_ip, kind, tunnel; as tools/netns-tunnels.py writes)
and prints, per kind, the share of clients flagged by a tunnel rule, which rules, and how long
after the client's first packet the first flagged window closed.

    tools/tunnel-report.py Tests/SynprintTests/Fixtures/tunnels.pcap Tests/SynprintTests/Fixtures/tunnels.labels.jsonl
    tools/tunnel-report.py CAPTURE LABELS --json      the rows as JSON (the test reads them)
    SYNPRINT=path/to/synprint ...                    another binary (default: .build/release, else debug)
"""
import collections, json, os, subprocess, sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def binary():
    if os.environ.get("SYNPRINT"):
        return os.environ["SYNPRINT"]
    for build in ("release", "debug"):
        path = REPO / ".build" / build / "synprint"
        if path.exists():
            return str(path)
    sys.exit("build synprint first (swift build -c release)")


def rfc3339_seconds(text):
    from datetime import datetime
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 2:
        sys.exit(__doc__)
    capture, labels_path = args
    labels = [json.loads(line) for line in open(labels_path) if line.strip()]
    by_ip = {label["client_ip"]: label for label in labels}
    run = subprocess.run([binary(), "-r", capture, "--flow-stats", "--json"], capture_output=True, text=True, check=True)
    first_packet, flagged_at, rules = {}, {}, collections.defaultdict(set)
    for line in run.stdout.splitlines():
        event = json.loads(line)
        if event.get("type") != "flowstats" or event["src_ip"] not in by_ip:
            continue
        ip = event["src_ip"]
        start, end = rfc3339_seconds(event["ts"]), rfc3339_seconds(event["end_ts"])
        first_packet[ip] = min(first_packet.get(ip, start), start)
        if event["tunnel_rules"]:
            rules[ip].update(event["tunnel_rules"])
            flagged_at.setdefault(ip, end)
    rows = []
    for kind in sorted({label["kind"] for label in labels}, key=lambda k: (not any(l["tunnel"] for l in labels if l["kind"] == k), k)):
        clients = [label["client_ip"] for label in labels if label["kind"] == kind]
        tunnel = any(label["tunnel"] for label in labels if label["kind"] == kind)
        flagged = [ip for ip in clients if ip in flagged_at]
        delays = sorted(flagged_at[ip] - first_packet[ip] for ip in flagged)
        rows.append({
            "kind": kind, "tunnel": tunnel, "clients": len(clients), "flagged": len(flagged),
            "share": len(flagged) / len(clients) if clients else 0.0,
            "rules": sorted(set().union(*(rules[ip] for ip in flagged))) if flagged else [],
            "max_seconds_to_flag": round(delays[-1], 1) if delays else None,
        })
    if "--json" in sys.argv:
        print(json.dumps(rows))
        return
    print("| kind | tunnel | clients | flagged | rules | seconds to the first flag (most) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['kind']} | {'yes' if r['tunnel'] else 'no'} | {r['clients']} | {r['flagged']} ({r['share']:.0%}) | "
              f"{', '.join(r['rules']) or '-'} | {r['max_seconds_to_flag'] if r['max_seconds_to_flag'] is not None else '-'} |")


if __name__ == "__main__":
    main()
