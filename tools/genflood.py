#!/usr/bin/env python3
"""Flood captures for the memory budgets (docs/OPERATIONS.md). Seeded: the same files each run.

  tools/genflood.py syn N OUT          N SYNs from random spoofed IPv4 sources, common stacks' options
  tools/genflood.py randfeat N OUT     N SYNs with random window, MSS and TTL as well (every one misses the match cache)
  tools/genflood.py halfopen F S OUT   F connections, each a SYN and S segments of 1400 bytes of a request head that never ends
  tools/genflood.py bigua H C OUT      H hosts with C connections each: a SYN and one complete request with an 8000-byte User-Agent
"""
import random, struct, sys

rng = random.Random(20261122)
ETHERNET = bytes(12) + b"\x08\x00"
STACKS = [  # window, TTL, DF, options
    (64240, 128, True, bytes.fromhex("020405b40103030801010402")),
    (64240, 64, True, bytes.fromhex("020405b40402080a000000010000000001030307")),
    (65535, 64, True, bytes.fromhex("020405b4010303060101080a000000010000000004020000")),
    (29200, 64, True, bytes.fromhex("020405b40402080a000000010000000001030307")),
]

def header(out):
    out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))

def record(out, index, frame):
    out.write(struct.pack("<IIII", 1_700_000_000 + index // 100_000, index % 100_000 * 10, len(frame), len(frame)))
    out.write(frame)

def frame(source, sport, flags, seq, window, ttl, df, options=b"", payload=b""):
    tcp = struct.pack(">HHIIBBHHH", sport, 80, seq, 0 if flags == 0x02 else 1, (20 + len(options)) // 4 << 4, flags, window, 0, 0)
    ip = struct.pack(">BBHHHBBHII", 0x45, 0, 20 + len(tcp) + len(options) + len(payload), rng.getrandbits(16),
                     0x4000 if df else 0, ttl, 6, 0, source, 0xC0A80001)
    return ETHERNET + ip + tcp + options + payload

def syn(count, path, random_features=False):
    with open(path, "wb", buffering=1 << 20) as out:
        header(out)
        for i in range(count):
            window, ttl, df, options = rng.choice(STACKS)
            if random_features:
                window, ttl = rng.randrange(65536), rng.randrange(1, 256)
                options = options[:2] + struct.pack(">H", rng.randrange(536, 1461)) + options[4:]
            else:
                ttl -= rng.randrange(20)
            record(out, i, frame(rng.getrandbits(32), rng.randrange(1024, 65536), 0x02, rng.getrandbits(32), window, ttl, df, options))

def halfopen(flows, segments, path):
    with open(path, "wb", buffering=1 << 20) as out:
        header(out)
        n = 0
        for f in range(flows):
            source, sport, seq = 0x0B000000 + f, 10000 + f % 50000, rng.getrandbits(32)
            window, ttl, df, options = STACKS[1]
            record(out, n, frame(source, sport, 0x02, seq, window, ttl, df, options)); n += 1
            head = b"GET /x HTTP/1.1\r\nHost: example.com\r\nX-Pad: "
            for s in range(segments):
                chunk = (head if s == 0 else b"") + b"a" * (1400 - (len(head) if s == 0 else 0))
                record(out, n, frame(source, sport, 0x18, seq + 1 + s * 1400, 502, ttl, df, payload=chunk)); n += 1

def bigua(hosts, connections, path):
    with open(path, "wb", buffering=1 << 20) as out:
        header(out)
        n = 0
        for h in range(hosts):
            source = 0x0C000000 + h
            for c in range(connections):
                sport, seq = 20000 + c, rng.getrandbits(32)
                window, ttl, df, options = STACKS[1]
                record(out, n, frame(source, sport, 0x02, seq, window, ttl, df, options)); n += 1
                agent = b"Mozilla/5.0 (X11; Linux x86_64) " + b"%x-%x-" % (h, c) + b"z" * 8000
                request = b"GET / HTTP/1.1\r\nHost: example.com\r\nUser-Agent: " + agent + b"\r\n\r\n"
                for offset in range(0, len(request), 1400):
                    record(out, n, frame(source, sport, 0x18, seq + 1 + offset, 502, ttl, df, payload=request[offset:offset + 1400])); n += 1

if __name__ == "__main__":
    kind, *rest = sys.argv[1:]
    if kind == "syn": syn(int(rest[0]), rest[1])
    elif kind == "randfeat": syn(int(rest[0]), rest[1], random_features=True)
    elif kind == "halfopen": halfopen(int(rest[0]), int(rest[1]), rest[2])
    elif kind == "bigua": bigua(int(rest[0]), int(rest[1]), rest[2])
    else: sys.exit(__doc__)
