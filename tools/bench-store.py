#!/usr/bin/env python3
"""The fleet store's cost and capacity, with a release build and a real ClickHouse on loopback.

  tools/bench-store.py [MIXED_PACKETS]        (default 2000000; the capture is made by gencap.py)

One run prints, as Markdown tables for docs/PERFORMANCE.md and docs/FLEET.md:
  - the mixed capture with every analysis on (--json --http --connections --flow-stats), events
    to -o /dev/null, then also to ClickHouse (without and with a write-ahead spool), then to a
    ClickHouse behind a proxy that holds every answer back for two seconds (with a spool), at
    full rate and keeping 1 connection in 100:
    wall time, packet rate, peak memory;
  - the insert rate one sensor reaches against one server (rows sent / seconds of the run);
  - per table: rows, bytes on disk, bytes before compression, and the compression ratio;
  - the insert formats: the run's syn, http and conn rows read back in JSONEachRow and in
    RowBinary (what the sensor sends), with their bytes per row and the rate at which the server
    takes each (best of three inserts into an empty copy of the table).
The ClickHouse server is Debian's clickhouse-server (tools/setup.sh), started in a temporary
folder with the tests' configuration (Tests/SynprintTests/Fixtures/clickhouse) and stopped after.
"""
import os, shutil, signal, socket, subprocess, sys, tempfile, threading, time, urllib.parse, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, ".build/release/synprint")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def query(port, sql):
    return urllib.request.urlopen(f"http://127.0.0.1:{port}/", data=sql.encode(), timeout=30).read().decode()


def start_clickhouse(folder):
    http, tcp = free_port(), free_port()
    template = os.path.join(ROOT, "Tests/SynprintTests/Fixtures/clickhouse")
    config = open(os.path.join(template, "config.xml")).read()
    shard = f"            <shard><replica><host>127.0.0.1</host><port>{tcp}</port></replica></shard>"
    for key, value in (("@FOLDER@", folder), ("@HTTP@", str(http)), ("@TCP@", str(tcp)), ("@SHARDS@", shard), ("@TLS@", ""),
                       ("@REPLICATION@", "")):
        config = config.replace(key, value)
    open(os.path.join(folder, "config.xml"), "w").write(config)
    shutil.copy(os.path.join(template, "users.xml"), folder)
    binary = next(b for b in ("/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server") if os.path.exists(b))
    server = subprocess.Popen([binary, f"--config-file={folder}/config.xml"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, cwd=folder)
    for _ in range(300):
        try:
            if query(http, "SELECT 1").strip() == "1":
                return server, http
        except OSError:
            time.sleep(0.1)
    sys.exit("ClickHouse did not start")


class SlowProxy(threading.Thread):
    """Forwards to ClickHouse, holding each answer to an insert back for `delay` seconds (a server
    slow to take rows; the sensor's checks at start are answered at once)."""

    def __init__(self, target, delay):
        super().__init__(daemon=True)
        self.target, self.delay = target, delay
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]

    def run(self):
        while True:
            client, _ = self.listener.accept()
            threading.Thread(target=self.relay, args=(client,), daemon=True).start()

    def relay(self, client):
        upstream = socket.create_connection(("127.0.0.1", self.target))
        # Without it, a request's body waits for the acknowledgement of its header (Nagle and
        # delayed ACKs: 40 ms per query), which a real server does not add.
        for s in (client, upstream):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        held = [False]  # the request on the way is an insert (connections are kept alive)

        def pump(source, sink, answers):
            try:
                while data := source.recv(65536):
                    if not answers and data.startswith(b"POST"):
                        held[0] = b"query=INSERT" in data.split(b"\r\n", 1)[0]
                    if answers and held[0]:
                        time.sleep(self.delay)
                        held[0] = False
                    sink.sendall(data)
            except OSError:
                pass
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        threading.Thread(target=pump, args=(client, upstream, False), daemon=True).start()
        pump(upstream, client, True)


def timed(arguments):
    """Wall seconds and peak resident KiB of one run (and its standard error)."""
    start = time.monotonic()
    run = subprocess.run(["/usr/bin/time", "-f", "%M", BIN] + arguments, capture_output=True, text=True)
    seconds = time.monotonic() - start
    if run.returncode != 0:
        sys.exit(f"synprint {' '.join(arguments)} failed ({run.returncode}):\n{run.stderr}")
    return seconds, int(run.stderr.strip().split("\n")[-1]), run.stderr


def best_of(n, arguments, before=None):
    runs = []
    for _ in range(n):
        if before:
            before()
        runs.append(timed(arguments))
    return min(runs, key=lambda r: r[0])


def main():
    packets = int(sys.argv[1]) if len(sys.argv) > 1 else 2_000_000
    bench = os.environ.get("BENCH_DIR", "/tmp/synprint-bench")
    os.makedirs(bench, exist_ok=True)
    capture = os.path.join(bench, f"mixed-{packets}.pcap")
    if not os.path.exists(capture):
        subprocess.run([os.path.join(ROOT, "tools/gencap.py"), "mixed", capture, str(packets)], check=True)
    subprocess.run(["swift", "build", "-c", "release"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    folder = tempfile.mkdtemp(prefix="synprint-bench-store-")
    server, port = start_clickhouse(folder)
    try:
        url = f"http://127.0.0.1:{port}/synprint"
        subprocess.run([BIN, "clickhouse", "init", url], check=True, stdout=subprocess.DEVNULL)
        every = ["-r", capture, "--json", "--http", "--connections", "--flow-stats", "-o", "/dev/null"]

        def empty():
            for table in ("syn", "synack", "http", "alert", "conn", "flowstats", "stats"):
                query(port, f"TRUNCATE TABLE synprint.{table}")

        plain = best_of(3, every)
        written = os.path.join(folder, "written")

        def empty_and_clear():
            empty()
            shutil.rmtree(written, ignore_errors=True)

        spooled = best_of(3, every + ["--clickhouse", url, "--clickhouse-spool", written], before=empty_and_clear)
        stored = best_of(3, every + ["--clickhouse", url], before=empty)
        sent = sum(int(query(port, f"SELECT count() FROM synprint.{t}")) for t in
                   ("syn", "synack", "http", "alert", "conn", "flowstats", "stats"))
        sizes = ["| table | rows | bytes on disk | bytes uncompressed | per row on disk | ratio |"]
        sizes.append("|---|---|---|---|---|---|")
        for table in ("syn", "synack", "http", "alert", "conn", "flowstats", "stats"):
            rows = int(query(port, f"SELECT count() FROM synprint.{table}"))
            line = query(port, f"SELECT sum(data_compressed_bytes), sum(data_uncompressed_bytes) FROM system.columns "
                               f"WHERE database = 'synprint' AND table = '{table}'").split()
            packed, unpacked = int(line[0]), int(line[1])
            if rows:
                sizes.append(f"| {table} | {rows:,} | {packed:,} | {unpacked:,} | {packed / rows:.1f} | {unpacked / max(packed, 1):.1f}x |")
        formats = ["| table | format | bytes per row | rows/s taken |", "|---|---|---|---|"]
        for table in ("syn", "http", "conn"):
            rows = int(query(port, f"SELECT count() FROM synprint.{table}"))
            query(port, f"CREATE TABLE IF NOT EXISTS synprint.{table}_copy AS synprint.{table}")
            for fmt in ("JSONEachRow", "RowBinary"):
                data = urllib.request.urlopen(f"http://127.0.0.1:{port}/", data=f"SELECT * FROM synprint.{table} FORMAT {fmt}".encode(),
                                              timeout=300).read()
                best = float("inf")
                for _ in range(3):
                    query(port, f"TRUNCATE TABLE synprint.{table}_copy")
                    start = time.monotonic()
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/?query=" + urllib.parse.quote(
                        f"INSERT INTO synprint.{table}_copy FORMAT {fmt}"), data=data, timeout=300).read()
                    best = min(best, time.monotonic() - start)
                formats.append(f"| {table} | {fmt} | {len(data) // max(rows, 1)} | {rows / best:,.0f} |")
            query(port, f"DROP TABLE synprint.{table}_copy")
        proxy = SlowProxy(port, 2.0)
        proxy.start()
        spool = os.path.join(folder, "spool")

        def clear_spool():
            shutil.rmtree(spool, ignore_errors=True)

        slow_store = ["--clickhouse", f"http://127.0.0.1:{proxy.port}/synprint", "--clickhouse-spool", spool, "--clickhouse-drain", "0"]
        slow = best_of(3, every + slow_store, before=clear_spool)
        sampled = best_of(3, every + slow_store + ["--clickhouse-sample", "100"], before=clear_spool)
        rate = lambda seconds: f"{packets / seconds:,.0f}"
        print(f"| {packets:,} mixed packets, every analysis on | seconds | packets/s | peak memory |")
        print("|---|---|---|---|")
        for name, run in (("events to -o /dev/null", plain), ("and to ClickHouse", stored),
                          ("the same, every batch written ahead to a spool (--clickhouse-spool)", spooled),
                          ("and to a ClickHouse answering inserts after 2 s (spool, drain 0)", slow),
                          ("the same, keeping 1 connection in 100 (--clickhouse-sample 100)", sampled)):
            print(f"| {name} | {run[0]:.2f} | {rate(run[0])} | {run[1] // 1024} MiB |")
        print()
        print(f"ClickHouse run / plain run: {stored[0] / plain[0]:.2f}x; slow ClickHouse / plain: {slow[0] / plain[0]:.2f}x; "
              f"sampled 1 in 100: {sampled[0] / plain[0]:.2f}x")
        print(f"Insert rate, one sensor against one server: {sent:,} rows in {stored[0]:.2f} s = {sent / stored[0]:,.0f} rows/s")
        print(f"Memory the sink adds: {(stored[1] - plain[1]) // 1024} MiB peak")
        print()
        print("\n".join(sizes))
        print()
        print("\n".join(formats))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
