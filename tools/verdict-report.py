#!/usr/bin/env python3
"""Verdicts on the dev captures: requests with a User-Agent, flagged ones and their reasons.

  tools/verdict-report.py [--data ../shared/data/dev] [--binary .build/release/synprint]
"""
import argparse, collections, json, os, subprocess

parser = argparse.ArgumentParser()
parser.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "../../shared/data/dev"))
parser.add_argument("--binary", default=".build/release/synprint")
options = parser.parse_args()
folder = os.path.join(options.data, "captures")
requests = with_ua = claimed = flagged = 0
reasons, flagged_lines = collections.Counter(), []
for name in sorted(os.listdir(folder)):
    out = subprocess.run([options.binary, "-r", os.path.join(folder, name), "--http", "--json"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        event = json.loads(line)
        if event["type"] != "http":
            continue
        requests += 1
        verdict = event["verdict"]
        with_ua += event["user_agent"] is not None
        claimed += verdict["ua_os"] is not None
        reasons.update(verdict["reasons"])
        if verdict["flagged"]:
            flagged += 1
            tcp = verdict["tcp_os"] or {}
            flagged_lines.append(f"{name} {event['src_ip']}:{event['src_port']} score {verdict['score']} {','.join(verdict['reasons'])}: "
                                 f"UA {event['user_agent']!r} vs TCP {tcp.get('class')} ({tcp.get('family_confidence')}), path {event.get('path')}")
print(f"{requests} HTTP requests judged, {with_ua} with a User-Agent, {claimed} naming an OS; {flagged} flagged")
print("reasons (flagged or not):", dict(reasons))
for line in flagged_lines:
    print("flagged:", line)
