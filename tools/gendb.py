#!/usr/bin/env python3
"""Writes a large synthetic database for the matcher-scaling benchmark.

  tools/gendb.py N OUT.jsonl     the shipped entries plus variations up to N entries in all

Variations change window, scale, MSS and, for one in four, the option layout, so the index
buckets grow with N the way a large learned database would. Deterministic.
"""
import json, os, random, sys

def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    total, path = int(sys.argv[1]), sys.argv[2]
    shipped = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "database", "synprint.db.jsonl")
    lines = [json.loads(l) for l in open(shipped) if l.startswith("{") and "synprint_db" not in l]
    entries = [e for e in lines if "mtu" not in e]   # link entries describe MTUs, not stacks
    layouts = ["mss,sok,ts,nop,ws", "mss,nop,ws,nop,nop,sok", "mss,nop,ws,nop,nop,ts,sok,eol+1", "mss,nop,ws,sok,ts",
               "mss,nop,nop,sok,nop,ws,nop,nop,ts", "mss,nop,nop,sok", "mss", "mss,nop,nop,ts,nop,ws"]
    rng = random.Random(7)
    with open(path, "w") as out:
        out.write('{"synprint_db": 1}\n')
        for e in entries:
            out.write(json.dumps(e) + "\n")
        for i in range(total - len(entries)):
            e = dict(rng.choice(entries))
            e["id"] = f"generated-{i}"
            e["window"] = rng.choice([rng.randrange(1024, 65536), f"mss*{rng.randrange(2, 46)}"])
            e["scale"] = rng.randrange(0, 15)
            e["mss"] = rng.choice(["*", 1460, 1440, 1400, 1380, 1360, 1250])
            if rng.random() < 0.25:
                e["layout"] = rng.choice(layouts)
            e["provenance"] = "learned"
            e["counts"] = {e["class"]: rng.randrange(1, 500)}
            out.write(json.dumps(e) + "\n")

if __name__ == "__main__":
    main()
