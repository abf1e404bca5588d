#!/usr/bin/env python3
"""Writes synthetic Ethernet pcap captures of TCP connections from ~12 OS stack profiles.

  tools/gencap.py sample OUT.pcap            the small sample shipped in the repo (one connection per profile)
  tools/gencap.py syn OUT.pcap N             N client SYNs only (the SYN-rate benchmark)
  tools/gencap.py mixed OUT.pcap N           N packets of interleaved flows: SYN, SYN+ACK, ACK, HTTP
                                             request with User-Agent, data, FIN and RST (~10 % SYNs)
  tools/gencap.py verdicts OUT.pcap          the verdict test fixture: one connection per case in
                                             VERDICT_CASES (stack vs User-Agent, tunnel MSS, split
                                             request, proxy headers)
  tools/gencap.py windows OUT.pcap           one SYN or SYN+ACK per case in WINDOW_CASES, each window
                                             a multiple of a different one of p0f's divisors

Profiles use each system's default SYN (docs/STACKS.md): TTL, DF, window, options, MSS, scale.
Deterministic: the same arguments always give the same bytes.
"""
import random, struct, sys

# name: (ttl, df, window, options as (kind, value), flags, ipv6-capable, user agent)
MSS, NOP, WS, SOK, TS, EOL = "mss", "nop", "ws", "sok", "ts", "eol"
PROFILES = {
    "windows-11": (128, True, 64240, [(MSS, 1460), NOP, (WS, 8), NOP, NOP, SOK], 0x02,
                   "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"),
    "windows-7": (128, True, 8192, [(MSS, 1460), NOP, (WS, 8), NOP, NOP, SOK], 0x02,
                  "Mozilla/5.0 (Windows NT 6.1; Win64; x64; rv:109.0) Gecko/20100101 Firefox/115.0"),
    "linux-6": (64, True, 64240, [(MSS, 1460), SOK, TS, NOP, (WS, 7)], 0x02,
                "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"),
    "linux-4.4": (64, True, 29200, [(MSS, 1460), SOK, TS, NOP, (WS, 7)], 0x02,
                  "Wget/1.17.1 (linux-gnu)"),
    "android-14": (64, True, 65535, [(MSS, 1460), SOK, TS, NOP, (WS, 8)], 0x02,
                   "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Mobile Safari/537.36"),
    "android-6": (64, True, 14600, [(MSS, 1460), SOK, TS, NOP, (WS, 6)], 0x02,
                  "Mozilla/5.0 (Linux; Android 6.0.1; SM-G920F) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/90.0 Mobile Safari/537.36"),
    "macos-14": (64, True, 65535, [(MSS, 1460), NOP, (WS, 6), NOP, NOP, TS, SOK, EOL, EOL], 0xC2,
                 "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15"),
    "ios-17": (64, True, 65535, [(MSS, 1460), NOP, (WS, 6), NOP, NOP, TS, SOK, EOL, EOL], 0x02,
               "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"),
    "freebsd-14": (64, True, 65535, [(MSS, 1460), NOP, (WS, 6), SOK, TS], 0x02,
                   "Mozilla/5.0 (X11; FreeBSD amd64; rv:128.0) Gecko/20100101 Firefox/128.0"),
    "openbsd-7": (64, True, 16384, [(MSS, 1460), NOP, NOP, SOK, NOP, (WS, 3), NOP, NOP, TS], 0x02,
                  "Mozilla/5.0 (X11; OpenBSD amd64; rv:128.0) Gecko/20100101 Firefox/128.0"),
    "zmap": (255, False, 65535, [(MSS, 1460)], 0x02, None),
    "masscan": (255, False, 1024, [], 0x02, None),
}

def options_bytes(opts, tsval):
    out = b""
    for o in opts:
        if o == NOP: out += b"\x01"
        elif o == EOL: out += b"\x00"
        elif o == SOK: out += b"\x04\x02"
        elif o == TS: out += struct.pack(">BBII", 8, 10, tsval, 0)
        elif o[0] == MSS: out += struct.pack(">BBH", 2, 4, o[1])
        elif o[0] == WS: out += struct.pack(">BBB", 3, 3, o[1])
    while len(out) % 4: out += b"\x00"
    return out

def checksum(data):
    if len(data) % 2: data += b"\0"
    s = sum(struct.unpack(">%dH" % (len(data) // 2), data))
    while s >> 16: s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF

class Writer:
    def __init__(self, path):
        self.f = open(path, "wb")
        self.f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        self.t = 1_700_000_000.0

    def packet(self, frame):
        self.t += 0.0001
        sec = int(self.t); usec = int((self.t - sec) * 1e6)
        self.f.write(struct.pack("<IIII", sec, usec, len(frame), len(frame)) + frame)

def ip_frame(v6, src, dst, ttl, df, ipid, proto_payload):
    if v6:
        ip = struct.pack(">IHBB", 6 << 28, len(proto_payload), 6, ttl) + src + dst
        return b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x86\xdd" + ip + proto_payload
    header = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(proto_payload), ipid & 0xFFFF, 0x4000 if df else 0,
                         ttl, 6, 0, src, dst)
    header = header[:10] + struct.pack(">H", checksum(header)) + header[12:]
    return b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00" + header + proto_payload

def tcp(sport, dport, seq, ack, flags, window, opts=b"", payload=b""):
    offset = (20 + len(opts)) // 4
    return struct.pack(">HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, offset << 4, flags, window, 0, 0) + opts + payload

def address(rng, v6, client):
    if v6:
        return bytes([0x20, 0x01, 0x0d, 0xb8, 0, 1 if client else 2]) + bytes(rng.getrandbits(8) for _ in range(10))
    return bytes([10 if client else 192, rng.randrange(256), rng.randrange(256), rng.randrange(1, 255)])

# name: (profile, User-Agent, MSS (None: the profile's), extra header lines, request split in two segments)
WINDOWS_UA = PROFILES["windows-11"][5]
VERDICT_CASES = [
    ("linux-stack-windows-ua", "linux-6", WINDOWS_UA, None, "", False),
    ("windows-stack-windows-ua", "windows-11", WINDOWS_UA, None, "", False),
    ("windows-mss-1380", "windows-11", WINDOWS_UA, 1380, "", False),
    ("linux-stack-chromeos-ua", "linux-6",
     "Mozilla/5.0 (X11; CrOS x86_64 15633.69.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36", None, "", False),
    ("split-request", "windows-11", WINDOWS_UA, None, "", True),
    ("proxy-headers", "windows-11", WINDOWS_UA, None, "Via: 1.1 squid\r\nX-Forwarded-For: 198.51.100.7\r\n", False),
]

# (IPv6, SYN+ACK, MSS or None, timestamp value or None, window): each case reaches a different
# rule of p0f's window-multiple search (MSS, MSS-12 with timestamps, 1460, 1448, 1440, 1428, MTU
# from minimal headers, from the headers sent, IPv6 minimal, 1500), or none of them.
WINDOW_CASES = [
    (False, False, 1460, 7, 1460 * 10), (False, False, 1460, 7, 1448 * 20), (False, False, 1400, 7, 1460 * 30),
    (False, False, 1380, 7, 1448 * 40), (True, False, 1380, None, 1440 * 30), (True, False, 1380, 7, 1428 * 40),
    (False, False, 1400, None, 1440 * 20), (False, False, 1300, None, 1352 * 40), (True, False, 1300, None, 1360 * 30),
    (False, False, 1300, None, 1500 * 20), (False, False, None, None, 8192), (False, False, 90, None, 900),
    (False, False, 1460, 0, 1448 * 10), (False, False, 1460, None, 1448 * 15),
    (False, False, 1380, None, 1448 * 41), (True, False, 1380, None, 1428 * 41), (False, True, 1460, 7, 65160), (False, True, 1460, 7, 64240),
    (True, True, 1440, 7, 1428 * 45), (False, True, 1380, None, 29200),
]

def window_cases(w, rng):
    for v6, synack, mss, tsval, window in WINDOW_CASES:
        opts = ([(MSS, mss)] if mss else []) + [SOK] + ([TS] if tsval is not None else [NOP, NOP]) + [NOP, (WS, 7)]
        c, s = address(rng, v6, True), address(rng, v6, False)
        sport, dport = rng.randrange(1024, 65535), 443
        if synack:  # after the client's SYN, as p0f reads a SYN+ACK only on a connection it saw start
            syn = options_bytes([(MSS, 1460), SOK, TS, NOP, (WS, 7)], 1)
            w.packet(ip_frame(v6, c, s, 64, True, 1, tcp(sport, dport, 1000, 0, 0x02, 64240, syn)))
            segment = tcp(dport, sport, rng.getrandbits(32), 1001, 0x12, window, options_bytes(opts, tsval or 0))
            w.packet(ip_frame(v6, s, c, 64, True, 0, segment))
        else:
            segment = tcp(sport, dport, rng.getrandbits(32), 0, 0x02, window, options_bytes(opts, tsval or 0))
            w.packet(ip_frame(v6, c, s, 64, True, rng.randrange(1, 65535), segment))

def flow(rng, name, v6, full, ua=None, mss=None, headers="", split=False):
    """The packets of one connection from a client with profile `name`. An IPv6 SYN carries
    the MSS less 20 (the larger header), as stacks derive it from the same MTU."""
    ttl, df, window, opts, flags, profile_ua = PROFILES[name]
    ua = ua or profile_ua
    if mss or v6:
        opts = [(MSS, mss or o[1] - 20) if isinstance(o, tuple) and o[0] == MSS else o for o in opts]
    hops = rng.randrange(0, 12)
    c, s = address(rng, v6, True), address(rng, v6, False)
    sport, dport = rng.randrange(1024, 65535), rng.choice([80, 443, 8080])
    seq, sseq = rng.getrandbits(32), rng.getrandbits(32)
    ipid = 54321 if name == "zmap" else rng.randrange(1, 65535)
    cttl = ttl - hops
    out = [ip_frame(v6, c, s, cttl, df, ipid, tcp(sport, dport, seq, 0, flags, window, options_bytes(opts, rng.getrandbits(32))))]
    if not full or ua is None:
        return out
    sopts = options_bytes([(MSS, 1460), SOK, TS, NOP, (WS, 7)], rng.getrandbits(32))
    out.append(ip_frame(v6, s, c, 64 - hops, True, 0, tcp(dport, sport, sseq, seq + 1, 0x12, 65160, sopts)))
    out.append(ip_frame(v6, c, s, cttl, df, ipid + 1, tcp(sport, dport, seq + 1, sseq + 1, 0x10, 502)))
    request = f"GET / HTTP/1.1\r\nHost: example.test\r\nUser-Agent: {ua}\r\n{headers}Accept: */*\r\n\r\n".encode()
    cut = len(request) // 2 if split else len(request)
    out.append(ip_frame(v6, c, s, cttl, df, ipid + 2, tcp(sport, dport, seq + 1, sseq + 1, 0x10 if split else 0x18, 502, payload=request[:cut])))
    if split:
        out.append(ip_frame(v6, c, s, cttl, df, ipid + 2, tcp(sport, dport, seq + 1 + cut, sseq + 1, 0x18, 502, payload=request[cut:])))
    body = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 1000
    for i in range(rng.randrange(5, 10)):
        out.append(ip_frame(v6, s, c, 64 - hops, True, 0, tcp(dport, sport, sseq + 1 + i * 1040, seq + 1 + len(request), 0x18, 502, payload=body)))
        out.append(ip_frame(v6, c, s, cttl, df, ipid + 3 + i, tcp(sport, dport, seq + 1 + len(request), sseq + 1 + (i + 1) * 1040, 0x10, 502)))
    last = 0x04 if rng.random() < 0.2 else 0x11   # RST or FIN
    out.append(ip_frame(v6, c, s, cttl, df, ipid + 9, tcp(sport, dport, seq + 1 + len(request), 0, last, 502)))
    return out

def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("sample", "syn", "mixed", "verdicts", "windows"):
        sys.exit(__doc__)
    mode, path = sys.argv[1], sys.argv[2]
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    rng = random.Random(2026)
    w = Writer(path)
    names = list(PROFILES)
    if mode == "sample":
        for name in names:
            for v6 in (False, True) if name in ("linux-6", "windows-11") else (False,):
                for frame in flow(rng, name, v6, True):
                    w.packet(frame)
        return
    if mode == "verdicts":
        for _, name, ua, mss, headers, split in VERDICT_CASES:
            for frame in flow(rng, name, False, True, ua, mss, headers, split):
                w.packet(frame)
        return
    if mode == "windows":
        window_cases(w, rng)
        return
    if mode == "syn":
        # A few thousand distinct SYN templates, repeated with fresh ports: fast to write.
        templates = [flow(rng, rng.choice(names), rng.random() < 0.2, False)[0] for _ in range(4096)]
        for i in range(count):
            frame = bytearray(templates[i % 4096])
            offset = 14 + (40 if frame[12] == 0x86 else 20)
            frame[offset:offset + 2] = struct.pack(">H", 1024 + i % 60000)
            w.packet(bytes(frame))
        return
    # mixed: keep ~64 flows open and interleave their packets
    open_flows, written = [], 0
    while written < count:
        while len(open_flows) < 64:
            open_flows.append(iter(flow(rng, rng.choice(names), rng.random() < 0.2, True)))
        i = rng.randrange(len(open_flows))
        frame = next(open_flows[i], None)
        if frame is None:
            open_flows.pop(i)
            continue
        w.packet(frame)
        written += 1

if __name__ == "__main__":
    main()
