#!/usr/bin/env python3
"""What reading ClientHellos costs: the real TLS clients' fixture repeated into a large capture.

  tools/bench-tls.py [REPEATS]        (default 3000: 93,000 connections that begin with a hello)

Writes two captures from Tests/SynprintTests/Fixtures/tls-clients.pcap, each client connection
repeated REPEATS times on other client ports and addresses: one as captured, and one whose
ClientHellos are turned into application data (the record type 22 made 23), which the sensor
follows the same way but does not read as TLS. Runs the release build with `--http --json` on
both (best of three) and prints the times, the difference per ClientHello, and tcpdump's time
on the first for scale. Deterministic captures; one run of the script is one measurement.
"""
import os, struct, subprocess, sys, tempfile, time

from gencap import checksum  # the Internet checksum, as the synthetic captures compute it

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, ".build/release/synprint")
FIXTURE = os.path.join(ROOT, "Tests/SynprintTests/Fixtures/tls-clients.pcap")


def packets(path):
    data = open(path, "rb").read()
    header, offset = data[:24], 24
    while offset + 16 <= len(data):
        seconds, micros, kept, length = struct.unpack("<IIII", data[offset:offset + 16])
        yield seconds, micros, length, bytearray(data[offset + 16:offset + 16 + kept])
        offset += 16 + kept


def moved(frame, repeat, opaque):
    """The frame with its client (10.81.0.y) on another address and port, checksums redone."""
    ip = 14
    header = (frame[ip] & 0x0F) * 4
    tcp = ip + header
    client_is_source = struct.unpack("!H", frame[tcp:tcp + 2])[0] != 443  # the server is on 443
    side = ip + (12 if client_is_source else 16)
    frame[side + 1] = 82 + repeat // 250  # 10.82.0.y, 10.82.1.y …: each client keeps its last byte
    frame[side + 2] = repeat % 250
    port = tcp + (0 if client_is_source else 2)
    original = struct.unpack("!H", frame[port:port + 2])[0]
    struct.pack_into("!H", frame, port, 10000 + (original + repeat * 7) % 50000)
    payload = tcp + (frame[tcp + 12] >> 4) * 4
    if opaque and client_is_source and len(frame) > payload + 5 and frame[payload] == 22 and frame[payload + 5] == 1:
        frame[payload] = 23
    struct.pack_into("!H", frame, ip + 10, 0)
    struct.pack_into("!H", frame, ip + 10, checksum(bytes(frame[ip:tcp])))
    length = struct.unpack("!H", frame[ip + 2:ip + 4])[0] - header
    segment = bytes(frame[tcp:tcp + length])
    pseudo = bytes(frame[ip + 12:ip + 20]) + struct.pack("!BBH", 0, 6, length)
    segment = segment[:16] + b"\0\0" + segment[18:]
    struct.pack_into("!H", frame, tcp + 16, checksum(pseudo + segment))
    return frame


def write(path, repeats, opaque):
    source = list(packets(FIXTURE))
    with open(path, "wb") as out:
        out.write(open(FIXTURE, "rb").read()[:24])
        for repeat in range(repeats):
            for seconds, micros, length, frame in source:
                frame = moved(bytearray(frame), repeat, opaque)
                out.write(struct.pack("<IIII", seconds + repeat // 1000, micros, len(frame), length) + frame)


def best(command, runs=3):
    times = []
    for _ in range(runs):
        start = time.monotonic()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.monotonic() - start)
    return min(times)


def main():
    if len(sys.argv) > 2 or (len(sys.argv) == 2 and not sys.argv[1].isdigit()):
        sys.exit(__doc__)
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    subprocess.run(["swift", "build", "-c", "release"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    with tempfile.TemporaryDirectory() as folder:
        hellos, opaque = os.path.join(folder, "hellos.pcap"), os.path.join(folder, "opaque.pcap")
        write(hellos, repeats, False)
        write(opaque, repeats, True)
        run = lambda capture: [BIN, "-r", capture, "--http", "--json", "-o", "/dev/null"]
        with_tls = best(run(hellos))
        without = best(run(opaque))
        tcpdump = best(["tcpdump", "-nr", hellos, "-w", "/dev/null"])
        count = 31 * repeats
        print(f"{count:,} connections, {os.path.getsize(hellos) / 1e6:.0f} MB; --http --json, best of three:")
        print(f"  ClientHellos read:        {with_tls:.2f} s")
        print(f"  the same, hellos opaque:  {without:.2f} s  ({with_tls / without:.2f}x)")
        print(f"  per ClientHello:          {(with_tls - without) / count * 1e6:.1f} µs")
        print(f"  tcpdump -r … -w /dev/null: {tcpdump:.2f} s")


if __name__ == "__main__":
    main()
