#!/usr/bin/env python3
"""Captures real Linux TCP connections that end in known ways, with the connection records expected.

Builds three network namespaces of its own, joined by veth pairs:

    synprint-conn-client (10.78.1.2)
        <-> synprint-conn-router (10.78.1.1 | 10.78.2.1, forwarding on)
        <-> synprint-conn-server (10.78.2.2, tiny HTTP server on port 80)

and records `tcp` on the server's veth (pcap, snaplen 256), so the capture shows what the server
received and sent. Every connection uses its own client port (curl --local-port or a Python
bind), starting at 43000. The cases, in capture order:

  normal                 two curl fetches: FIN both ways.
  syn_no_answer          the server's INPUT chain drops the SYNs: only client SYNs are captured.
  synack_never_acked     the router drops the SYN+ACKs, so the client never acknowledges one.
  post_ack               the router passes the client's SYN and handshake ACK, drops the rest.
  injected_rst_after_data  a raw-socket injector on the router sees the client's request and sends
                         the server an RST (seq = request end, TTL 200) in the client's name; the
                         server answers the request only after 1.5 s, so nothing else interferes.
                         The real client closes 0.8 s later: its FIN comes after the reset.
  so_linger_zero*        a Python client closes with SO_LINGER {1, 0} (Linux sends RST+ACK):
                         before any answer; after the whole answer (server FIN first); after two
                         data packets; after eleven (more than ten client packets: "normal").
  repeated_rsts_*        a client connects and stays quiet; the injector sends two RSTs without
                         ACK flag at the client's next sequence number, TTL 63 like the client's,
                         with acknowledgment numbers same/same 0/different/different with 0.
  zmap_like_ttl255/ttl64 a raw SYN with IP ID 54321, window 65535 and an MSS option (ZMap's
                         probe; ZMap's own TTL is 255); the client's kernel answers the SYN+ACK
                         with an RST (TTL 64), which at TTL 255 also differs from the SYN's.
  tfo_cookie, tfo_data   tcp_fastopen=3 both sides, a TCP_FASTOPEN listener and sendto
                         MSG_FASTOPEN twice: a cookie request then data in the SYN.
  ecn_*                  client tcp_ecn=1: server tcp_ecn 1 (used) and 0 (refused); the router
                         clearing the ECN bits of the client's packets (iptables TOS) with an
                         empty answer (ECN state "negotiated") and with a normal one (the server's
                         data then carry ECT(0): "negotiated_and_used"); the router marking the
                         client's ECT(0) packets CE.

The expectations (one JSON line per client connection, capture order: case, client_ip,
client_port, stage as a value or a list, ending as a list, tags_include, tags_exclude, tfo, ecn,
ecn_bleached) follow from what each case makes happen; tags_exclude is every other tag (timeout is
left out where the ending may be a timeout). They are checked against the capture by a small pcap
reader here, with the semantics of synprint's --connections (docs/CONNECTIONS.md): ECN "used"
counts ECT on data packets either way; "fin" is a FIN of the client's captured before the first
reset, "server_fin" one of the server's.
Any difference is printed and the script exits 1. With --synprint BINARY it also runs
`BINARY -r PCAP --connections --json` and prints where synprint disagrees (exit 2).

IPv4 only (the zmap tag is IPv4's); every case above works with the tools below, none is left out.
The idle timeout (120 s) never passes inside the capture (about 15 s), so connections left
open end as capture_end; their expected ending still allows timeout.

Needs root. It only creates and changes the three namespaces above (interfaces, addresses,
routes, transmit checksum offload, sysctls, iptables rules) and the processes it starts in
them, and deletes them at the end, also on errors. Stale namespaces with the same names from an
earlier run are removed first. Traffic never leaves the namespaces.

    sudo tools/netns-connections.py \\
        --out-pcap Tests/SynprintTests/Fixtures/connections.pcap \\
        --out-expected Tests/SynprintTests/Fixtures/connections.expected.jsonl
    sudo tools/netns-connections.py --synprint .build/debug/synprint   # also compare synprint
    sudo tools/netns-connections.py --keep      # leave the namespaces up for debugging

Tools used: ip, sysctl, iptables, tcpdump, curl, python3 (raw and packet sockets, no scapy).
"""
import argparse, json, os, shutil, signal, socket, struct, subprocess, sys, tempfile, time
from pathlib import Path

from netns_common import (add_namespaces, capture_statistics, end_run, ethernet_ipv4, exit_on_problems, remove_namespaces, run,
                          start_capture, stop_capture, veth)

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "Tests" / "SynprintTests" / "Fixtures"
SELF = Path(__file__).resolve()

NS_CLIENT, NS_ROUTER, NS_SERVER = "synprint-conn-client", "synprint-conn-router", "synprint-conn-server"
NAMESPACES = (NS_CLIENT, NS_ROUTER, NS_SERVER)
IF_CLIENT, IF_ROUTER_C, IF_ROUTER_S, IF_SERVER = "scc0", "scr0", "scr1", "scs0"
CLIENT, ROUTER_C, ROUTER_S, SERVER = "10.78.1.2", "10.78.1.1", "10.78.2.1", "10.78.2.2"
SERVER_PORT = 80
FIRST_CLIENT_PORT = 43000
SNAPLEN = 256
SLOW_ANSWER = 1.5  # seconds the server waits before answering /slow paths

ALL_TAGS = ["timeout", "fin", "single_rst", "multiple_rsts", "acknumsame", "acknumsame0", "acknumdiff",
            "acknumdiff0", "single_rstack", "multiple_rstacks", "rst_and_rstacks", "zmap", "rst_ttl_mismatch", "server_fin"]
OPEN_ENDINGS = ["timeout", "capture_end"]

# Per-namespace TCP sysctls used. The server's synack_retries is lowered so that the SYN+ACKs
# nobody acknowledges stop after a few retransmissions (a smaller capture).
CLIENT_BASE = {"net.ipv4.tcp_ecn": "2", "net.ipv4.tcp_fastopen": "1"}
SERVER_BASE = {"net.ipv4.tcp_ecn": "2", "net.ipv4.tcp_fastopen": "1", "net.ipv4.tcp_synack_retries": "2"}

# veth hands packets on with the checksum left to offload, so tcpdump would record half-done
# checksums; with transmit checksumming off the kernel computes them (SIOCETHTOOL, ETHTOOL_STXCSUM).
# ---- packets ------------------------------------------------------------------------------

def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ipv4_tcp(src, dst, sport, dport, seq, ack, flags, window, ttl, ipid, options=b"", payload=b""):
    """A whole IPv4+TCP packet with both checksums, for raw sockets with IP_HDRINCL."""
    options += b"\0" * (-len(options) % 4)
    doff = (20 + len(options)) // 4
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, doff << 4, flags, window, 0, 0) + options + payload
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), ipid, 0, ttl, 6, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return ip + tcp


def parse_ipv4_tcp(pkt):
    """Fields of an IPv4 TCP packet (no link header), or None."""
    if len(pkt) < 20 or pkt[0] >> 4 != 4 or pkt[9] != 6:
        return None
    ihl = (pkt[0] & 15) * 4
    total = struct.unpack("!H", pkt[2:4])[0]
    tcp = pkt[ihl:]
    if len(tcp) < 20:
        return None
    sport, dport, seq, ack, off, flags, window = struct.unpack("!HHIIBBH", tcp[:16])
    doff = (off >> 4) * 4
    return dict(src=socket.inet_ntoa(pkt[12:16]), dst=socket.inet_ntoa(pkt[16:20]), tos=pkt[1], ttl=pkt[8],
                ipid=struct.unpack("!H", pkt[4:6])[0], sport=sport, dport=dport, seq=seq, ack=ack,
                flags=flags | ((off & 1) << 8), window=window, options=tcp[20:doff],
                payload_len=max(total - ihl - doff, 0))


FIN, SYN, RST, PSH, ACK, URG, ECE, CWR = 1, 2, 4, 8, 16, 32, 64, 128


# ---- helpers run inside the namespaces (this file, re-executed with "_helper") -------------

def helper_server():
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    body = (b"<!doctype html><html><head><title>synprint connections</title></head><body>"
            b"<p>Served inside a network namespace for synprint's connection fixtures.</p></body></html>\n")

    class Handler(BaseHTTPRequestHandler):
        timeout = None  # a silent client must not make the server close (post_ack stays open)

        def do_GET(self):
            try:
                if self.path.startswith("/slow"):
                    time.sleep(SLOW_ANSWER)
                if not self.path.startswith("/empty"):  # /empty: close without an answer
                    head = ("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n"
                            "Connection: close\r\n\r\n" % len(body)).encode()
                    # One write: the answer is one segment, the capture small.
                    self.wfile.write(head + body)
            except OSError:
                pass  # the client (or an injected RST) reset the connection meanwhile
            self.close_connection = True

        def log_message(self, *args):
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def server_bind(self):
            # Fast Open on the listener (queue 16); it only answers TFO SYNs when the namespace's
            # tcp_fastopen has the server bit.
            self.socket.setsockopt(socket.IPPROTO_TCP, getattr(socket, "TCP_FASTOPEN", 23), 16)
            super().server_bind()

        def handle_error(self, request, client_address):
            pass  # resets are the point here

    server = Server(("0.0.0.0", SERVER_PORT), Handler)
    print("ready", flush=True)
    server.serve_forever()


def request_bytes(path):
    return (f"GET /{path} HTTP/1.1\r\nHost: {SERVER}\r\nUser-Agent: netns-connections\r\n"
            f"Connection: close\r\n\r\n").encode()


def client_socket(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((CLIENT, port))
    return s


def read_until_eof(s, limit):
    s.settimeout(limit)
    try:
        while s.recv(65536):
            pass
    except socket.timeout:
        pass


def helper_client(mode, port, *args):
    port = int(port)
    if mode == "hold":  # connect and stay quiet until killed
        s = client_socket(port)
        s.connect((SERVER, SERVER_PORT))
        print("connected", flush=True)
        time.sleep(600)
    elif mode == "request":  # one request, wait for the answer at most `wait` s, plain close
        path, wait = args[0], float(args[1])
        s = client_socket(port)
        s.connect((SERVER, SERVER_PORT))
        s.sendall(request_bytes(path))
        read_until_eof(s, wait)
        s.close()
    elif mode == "abort":  # request in `segments` packets, then close with SO_LINGER {1, 0}
        path, segments, read_all = args[0], int(args[1]), args[2] == "1"
        s = client_socket(port)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # one send, one segment
        s.connect((SERVER, SERVER_PORT))
        data = request_bytes(path)
        step = -(-len(data) // segments)
        for i in range(0, len(data), step):
            s.send(data[i:i + step])
            time.sleep(0.03)
        if read_all:
            read_until_eof(s, 5)  # up to the server's FIN
        else:
            time.sleep(0.2)  # the server's ACK of the data lands first
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    elif mode == "tfo":  # Fast Open: the kernel puts the data in the SYN once it has a cookie
        s = client_socket(port)
        s.sendto(request_bytes("tfo"), getattr(socket, "MSG_FASTOPEN", 0x20000000), (SERVER, SERVER_PORT))
        read_until_eof(s, 5)
        s.close()
    elif mode == "rawsyn":  # ZMap's probe: IP ID 54321, window 65535, MSS option only
        ttl = int(args[0])
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        mss = struct.pack("!BBH", 2, 4, 1460)
        raw.sendto(ipv4_tcp(CLIENT, SERVER, port, SERVER_PORT, 0x5A4D4150, 0, SYN, 65535, ttl, 54321, mss),
                   (SERVER, 0))
        time.sleep(0.5)  # SYN+ACK and the kernel's RST go by meanwhile
    else:
        raise SystemExit(f"unknown client mode {mode}")


def helper_inject(mode, port, *args):
    """Runs in the router: watches the client-side veth for the client's packets of one
    connection (AF_PACKET) and sends the server forged RSTs from the client's address
    (raw IPv4 socket, header included)."""
    port = int(port)
    sniff = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
    sniff.bind((IF_ROUTER_C, 0x0800))
    sniff.settimeout(10)
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    print("ready", flush=True)

    def wait_for(want):
        while True:
            p = parse_ipv4_tcp(sniff.recv(65535))
            if p and p["src"] == CLIENT and p["sport"] == port and p["dport"] == SERVER_PORT and want(p):
                return p

    def send_rst(seq, ack, ttl, ipid):
        raw.sendto(ipv4_tcp(CLIENT, SERVER, port, SERVER_PORT, seq, ack, RST, 0, ttl, ipid), (SERVER, 0))

    if mode == "after-data":  # RST right behind the first data packet, exactly at its end
        ttl = int(args[0])
        p = wait_for(lambda p: p["payload_len"] > 0)
        send_rst((p["seq"] + p["payload_len"]) & 0xFFFFFFFF, 0, ttl, 0)
    elif mode == "rsts":  # after the handshake ACK; acks: n = server ISN + 1, m = another, 0
        p = wait_for(lambda p: p["flags"] & (SYN | RST | FIN | ACK) == ACK and p["payload_len"] == 0)
        time.sleep(0.2)
        for i, spec in enumerate(args[0].split(",")):
            ack = {"n": p["ack"], "m": (p["ack"] + 7919) & 0xFFFFFFFF, "0": 0}[spec]
            send_rst(p["seq"], ack, 63, 0x1000 + i)  # TTL 63: as the client's packets arrive
            time.sleep(0.05)
    else:
        raise SystemExit(f"unknown inject mode {mode}")
    print("done", flush=True)


def helper_main(argv):
    kind, rest = argv[0], argv[1:]
    if kind == "server":
        helper_server()
    elif kind == "client":
        helper_client(*rest)
    elif kind == "inject":
        helper_inject(*rest)
    else:
        raise SystemExit(f"unknown helper {kind}")


# ---- namespaces ---------------------------------------------------------------------------

def build_topology():
    add_namespaces(NAMESPACES)
    veth(NS_CLIENT, IF_CLIENT, [f"{CLIENT}/24"], NS_ROUTER, IF_ROUTER_C, [f"{ROUTER_C}/24"])
    veth(NS_SERVER, IF_SERVER, [f"{SERVER}/24"], NS_ROUTER, IF_ROUTER_S, [f"{ROUTER_S}/24"])
    run("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=NS_ROUTER)
    run("ip", "-n", NS_CLIENT, "route", "add", "default", "via", ROUTER_C)
    run("ip", "-n", NS_SERVER, "route", "add", "default", "via", ROUTER_S)


def sysctls(ns, values):
    for key in values:
        # Only sysctls the namespace has its own copy of are visible in it: never the caller's.
        if run("test", "-e", "/proc/sys/" + key.replace(".", "/"), ns=ns, check=False).returncode != 0:
            raise RuntimeError(f"{key} is not per-namespace on this kernel")
    run("sysctl", "-qw", *[f"{k}={v}" for k, v in values.items()], ns=ns)


def iptables(ns, *rule, table="filter"):
    run("iptables", "-t", table, *rule, ns=ns)


def helper(ns, *args):
    return ["ip", "netns", "exec", ns, sys.executable, str(SELF), "_helper", *[str(a) for a in args]]


def start_and_wait(cmd, word, timeout=10):
    """Starts a helper and waits for its first line to be `word`."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline().strip()
    if line != word:
        proc.kill()
        raise RuntimeError(f"{' '.join(cmd[4:])}: {line!r} instead of {word!r}: {proc.stderr.read().strip()}")
    return proc


def finish(proc, timeout=10):
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise RuntimeError(f"helper did not finish: {err.strip()}")
    if proc.returncode != 0:
        raise RuntimeError(f"helper failed ({proc.returncode}): {err.strip()}")
    return out


def client(*args, timeout=15):
    r = subprocess.run(helper(NS_CLIENT, "client", *args), capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"client {' '.join(map(str, args))} failed: {r.stderr.strip()}")


def curl(port, path, connect_timeout=5, max_time=10, expect_ok=True):
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    cmd = ["ip", "netns", "exec", NS_CLIENT, "curl", "-sS", "--http1.1", "--noproxy", "*",
           "--connect-timeout", str(connect_timeout), "--max-time", str(max_time),
           "-o", "/dev/null", "-w", "%{http_code}", "-A", "netns-connections",
           f"http://{SERVER}:{SERVER_PORT}/{path}"]
    if port:
        cmd[5:5] = ["--local-port", str(port)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if expect_ok and (r.returncode != 0 or r.stdout.strip() != "200"):
        raise RuntimeError(f"curl {path}: exit {r.returncode}, status {r.stdout!r}: {r.stderr.strip()}")
    if not expect_ok and r.returncode == 0:
        raise RuntimeError(f"curl {path} succeeded but should have failed")


# ---- cases --------------------------------------------------------------------------------

class Run:
    """Runs the cases in order; each connection gets the next client port and one expectation."""

    def __init__(self):
        self.port = FIRST_CLIENT_PORT
        self.expected = []
        self.holders = []  # quiet clients, killed after the capture stopped

    def next_port(self):
        self.port += 1
        return self.port - 1

    def expect(self, case, port, stage, ending, include=(), tfo="none", ecn="not_requested", bleached=False):
        optional = {"timeout"} if "timeout" in ending else set()
        self.expected.append({
            "case": case, "client_ip": CLIENT, "client_port": port, "stage": stage, "ending": list(ending),
            "tags_include": list(include),
            "tags_exclude": [t for t in ALL_TAGS if t not in include and t not in optional],
            "tfo": tfo, "ecn": ecn, "ecn_bleached": bleached,
        })

    def normal(self):
        for _ in range(2):
            port = self.next_port()
            curl(port, "normal")
            self.expect("normal", port, "normal", ["fin"])

    def syn_no_answer(self):
        port = self.next_port()
        iptables(NS_SERVER, "-A", "INPUT", "-p", "tcp", "-s", CLIENT, "--sport", port, "--syn", "-j", "DROP")
        curl(port, "syn-no-answer", connect_timeout=2, expect_ok=False)  # SYN at 0 s, again at 1 s
        self.expect("syn_no_answer", port, "post_syn", OPEN_ENDINGS)

    def synack_never_acked(self):
        port = self.next_port()
        iptables(NS_ROUTER, "-A", "FORWARD", "-p", "tcp", "-s", SERVER, "-d", CLIENT, "--dport", port,
                 "--tcp-flags", "SYN,ACK", "SYN,ACK", "-j", "DROP")
        curl(port, "synack-never-acked", connect_timeout=2, expect_ok=False)
        self.expect("synack_never_acked", port, "post_syn", OPEN_ENDINGS)

    def post_ack(self):
        port = self.next_port()
        # SYN and the handshake ACK (52 bytes with timestamps) pass; the request, its
        # retransmissions and the FIN do not. Kept to the end: the client retries for a while.
        for rule in (["--syn", "-j", "ACCEPT"],
                     ["--tcp-flags", "ALL", "ACK", "-m", "length", "--length", "0:52", "-j", "ACCEPT"],
                     ["-j", "DROP"]):
            iptables(NS_ROUTER, "-A", "FORWARD", "-p", "tcp", "-s", CLIENT, "--sport", port, *rule)
        curl(port, "post-ack", max_time=1.5, expect_ok=False)
        self.expect("post_ack", port, "post_ack", OPEN_ENDINGS)

    def injected_rst_after_data(self):
        port = self.next_port()
        inj = start_and_wait(helper(NS_ROUTER, "inject", "after-data", port, 200), "ready")
        client("request", port, "slow-injected", 0.8)
        finish(inj)
        self.expect("injected_rst_after_data", port, "post_psh", ["reset"], ["single_rst", "rst_ttl_mismatch"])

    def so_linger_zero(self):
        for case, path, segments, read_all, stage, tags in (
                ("so_linger_zero", "slow-linger", 1, 0, "post_psh", ["single_rstack"]),
                ("so_linger_zero_after_answer", "linger-after-answer", 1, 1, "post_psh", ["single_rstack", "server_fin"]),
                ("so_linger_zero_two_data", "slow-two-data", 2, 0, "later", ["single_rstack"]),
                ("so_linger_zero_eleven_data", "slow-eleven-data", 11, 0, "normal", ["single_rstack"])):
            port = self.next_port()
            client("abort", port, path, segments, read_all)
            self.expect(case, port, stage, ["reset"], tags)

    def repeated_rsts(self):
        for spec, tag in (("n,n", "acknumsame"), ("0,0", "acknumsame0"), ("n,m", "acknumdiff"), ("n,0", "acknumdiff0")):
            port = self.next_port()
            inj = start_and_wait(helper(NS_ROUTER, "inject", "rsts", port, spec), "ready")
            self.holders.append(start_and_wait(helper(NS_CLIENT, "client", "hold", port), "connected"))
            finish(inj)
            self.expect(f"repeated_rsts_{tag}", port, "post_ack", ["reset"], ["multiple_rsts", tag])

    def zmap_like(self):
        for ttl, tags in ((255, ["zmap", "single_rst", "rst_ttl_mismatch"]), (64, ["zmap", "single_rst"])):
            port = self.next_port()
            client("rawsyn", port, ttl)
            self.expect(f"zmap_like_ttl{ttl}", port, "post_syn", ["reset"], tags)

    def tfo(self):
        sysctls(NS_CLIENT, {"net.ipv4.tcp_fastopen": "3"})
        sysctls(NS_SERVER, {"net.ipv4.tcp_fastopen": "3"})
        for case, state in (("tfo_cookie", "cookie_granted"), ("tfo_data", "data_accepted")):
            port = self.next_port()
            client("tfo", port)
            self.expect(case, port, "normal", ["fin"], tfo=state)
        sysctls(NS_CLIENT, CLIENT_BASE)
        sysctls(NS_SERVER, SERVER_BASE)

    def ecn(self):
        sysctls(NS_CLIENT, {"net.ipv4.tcp_ecn": "1"})
        for case, server_ecn, router, path, state, bleached in (
                ("ecn_used", "1", None, "ecn", "negotiated_and_used", False),
                ("ecn_refused", "0", None, "ecn", "refused", False),
                ("ecn_bleached_empty_answer", "1", "bleach", "empty-ecn", "negotiated", True),
                ("ecn_bleached", "1", "bleach", "ecn", "negotiated_and_used", True),
                ("ecn_ce", "1", "ce", "ecn", "ce_seen", False)):
            port = self.next_port()
            sysctls(NS_SERVER, {"net.ipv4.tcp_ecn": server_ecn})
            match = ["-p", "tcp", "-s", CLIENT, "--sport", port]
            if router == "bleach":  # clear the IP ECN field, keep the DSCP
                iptables(NS_ROUTER, "-A", "FORWARD", *match, "-j", "TOS", "--and-tos", "0xfc", table="mangle")
            elif router == "ce":  # as an AQM would: ECT(0) packets become CE
                iptables(NS_ROUTER, "-A", "FORWARD", *match, "-m", "ecn", "--ecn-ip-ect", "2",
                         "-j", "TOS", "--or-tos", "0x03", table="mangle")
            if path.startswith("empty"):
                client("request", port, path, 5)
            else:
                curl(port, path)
            self.expect(case, port, "normal", ["fin"], ecn=state, bleached=bleached)
        sysctls(NS_CLIENT, CLIENT_BASE)
        sysctls(NS_SERVER, SERVER_BASE)

    def all(self):
        for step in (self.normal, self.syn_no_answer, self.synack_never_acked, self.post_ack,
                     self.injected_rst_after_data, self.so_linger_zero, self.repeated_rsts, self.zmap_like,
                     self.tfo, self.ecn):
            step()
            time.sleep(0.2)  # the last packets of one case land before the next begins


def record(raw_pcap, keep):
    """Builds the namespaces, runs every case under tcpdump, takes everything down again."""
    procs, capture, r = [], None, Run()
    remove_namespaces(NAMESPACES)
    try:
        build_topology()
        sysctls(NS_CLIENT, CLIENT_BASE)
        sysctls(NS_SERVER, SERVER_BASE)
        procs.append(start_and_wait(helper(NS_SERVER, "server"), "ready"))
        curl(None, "warm-up")  # neighbour entries on every hop before recording
        capture = start_capture(NS_SERVER, IF_SERVER, raw_pcap, SNAPLEN, immediate=True)
        time.sleep(0.3)
        started = time.time()
        r.all()
        time.sleep(1)
        stats = stop_capture(capture)
        capture = None
        print(f"cases ran in {time.time() - started:.1f} s; tcpdump:", capture_statistics(stats))
        return r.expected
    finally:
        end_run([capture] + r.holders + procs, NAMESPACES, keep)


# ---- what the capture shows ----------------------------------------------------------------

def fast_open_cookie(options):
    """Length of the TFO cookie in the options (0: a request), or None."""
    i = 0
    while i < len(options):
        kind = options[i]
        if kind == 0:
            break
        if kind == 1:
            i += 1
            continue
        if i + 1 >= len(options) or options[i + 1] < 2:
            break
        length = options[i + 1]
        if kind == 34:
            return length - 2
        if kind == 254 and length >= 4 and options[i + 2:i + 4] == b"\xf9\x89":
            return length - 4
        i += length
    return None


def observe(path, timeout=120):
    """Per client connection (client ip, port), what the capture says in synprint's terms."""
    conns, last_ts = {}, 0
    for ts, _, pkt in ethernet_ipv4(path):
        p = parse_ipv4_tcp(pkt)
        if p is None:
            continue
        last_ts = ts
        p["ts"] = ts
        if p["dport"] == SERVER_PORT and p["flags"] & (SYN | ACK) == SYN:
            c = conns.setdefault((p["src"], p["sport"]), dict(syn=p, packets=[]))
            c["packets"].append((True, p))
        elif p["dport"] == SERVER_PORT and (p["src"], p["sport"]) in conns:
            conns[(p["src"], p["sport"])]["packets"].append((True, p))
        elif p["sport"] == SERVER_PORT and (p["dst"], p["dport"]) in conns:
            conns[(p["dst"], p["dport"])]["packets"].append((False, p))
    return {key: judge(c, last_ts, timeout) for key, c in conns.items()}


def judge(c, capture_end, timeout):
    syn = c["syn"]
    synack = next((p for fc, p in c["packets"] if not fc and p["flags"] & (SYN | ACK) == SYN | ACK), None)
    first_rst = next((p for _, p in c["packets"] if p["flags"] & RST), None)
    end_ts = first_rst["ts"] if first_rst else float("inf")
    before = [(fc, p) for fc, p in c["packets"] if p["ts"] < end_ts and not p["flags"] & RST]
    client_before = [p for fc, p in before if fc and not p["flags"] & SYN]
    data_before = [p for p in client_before if p["payload_len"] > 0]
    connected = any(synack and p["flags"] & ACK and p["ack"] == (synack["seq"] + 1) & 0xFFFFFFFF
                    for p in client_before) or (synack is None and bool(data_before))
    fins = [(fc, p) for fc, p in c["packets"] if p["flags"] & FIN]
    both_fin = {fc for fc, _ in fins} == {True, False}
    if first_rst:
        ending = "reset"
    elif both_fin:
        ending = "fin"
    else:
        ending = "timeout" if capture_end - c["packets"][-1][1]["ts"] >= timeout else "capture_end"

    if ending == "fin" or len(client_before) + 1 > 10:
        stage = "normal"
    elif not connected:
        stage = "post_syn"
    else:
        stage = {0: "post_ack", 1: "post_psh"}.get(len(data_before), "later")

    tags = set()
    if ending == "timeout":
        tags.add("timeout")
    if first_rst and any(fc and p["ts"] < first_rst["ts"] for fc, p in fins):
        tags.add("fin")
    if first_rst and any(not fc and p["ts"] < first_rst["ts"] for fc, p in fins):
        tags.add("server_fin")
    client_rsts = [p for fc, p in c["packets"] if fc and p["flags"] & RST]
    plain = [p for p in client_rsts if not p["flags"] & ACK]
    with_ack = [p for p in client_rsts if p["flags"] & ACK]
    if plain and with_ack:
        tags.add("rst_and_rstacks")
    elif len(plain) == 1:
        tags.add("single_rst")
    elif plain:
        tags.add("multiple_rsts")
        acks = [p["ack"] for p in plain]
        tags.add(("acknumdiff" if len(set(acks)) > 1 else "acknumsame") + ("0" if 0 in acks else ""))
    elif len(with_ack) == 1:
        tags.add("single_rstack")
    elif with_ack:
        tags.add("multiple_rstacks")
    if syn["ipid"] == 54321 and syn["window"] == 65535:
        tags.add("zmap")
    if client_rsts and abs(client_rsts[0]["ttl"] - syn["ttl"]) > 3:
        tags.add("rst_ttl_mismatch")

    cookie = fast_open_cookie(syn["options"])
    if syn["payload_len"] > 0:
        if synack is None:
            tfo = "data_sent"
        else:
            tfo = "data_accepted" if synack["ack"] == (syn["seq"] + 1 + syn["payload_len"]) & 0xFFFFFFFF else "data_refused"
    elif synack is not None and fast_open_cookie(synack["options"]):
        tfo = "cookie_granted"
    else:
        tfo = "cookie_requested" if cookie == 0 else "none"

    data_marks = {fc: [p["tos"] & 3 for f, p in c["packets"] if f == fc and p["payload_len"] > 0] for fc in (True, False)}
    if syn["flags"] & (ECE | CWR) != ECE | CWR:
        ecn = "not_requested"
    elif synack is None or synack["flags"] & (ECE | CWR) != ECE:
        ecn = "refused"
    elif 3 in data_marks[True] + data_marks[False]:
        ecn = "ce_seen"
    elif {1, 2} & set(data_marks[True] + data_marks[False]):
        ecn = "negotiated_and_used"
    else:
        ecn = "negotiated"
    bleached = ecn not in ("not_requested", "refused") and bool(data_marks[True]) and set(data_marks[True]) == {0}
    return dict(stage=stage, ending=ending, tags=tags, tfo=tfo, ecn=ecn, ecn_bleached=bleached,
                packets=len(c["packets"]))


def differences(exp, got):
    """What in `got` (stage, ending, tags, tfo, ecn, ecn_bleached) breaks the expectation."""
    out = []
    stages = exp["stage"] if isinstance(exp["stage"], list) else [exp["stage"]]
    if got["stage"] not in stages:
        out.append(f"stage {got['stage']} (want {'|'.join(stages)})")
    if got["ending"] not in exp["ending"]:
        out.append(f"ending {got['ending']} (want {'|'.join(exp['ending'])})")
    tags = set(got["tags"])
    if missing := [t for t in exp["tags_include"] if t not in tags]:
        out.append("missing tags " + ",".join(missing))
    if extra := [t for t in exp["tags_exclude"] if t in tags]:
        out.append("unwanted tags " + ",".join(extra))
    for field in ("tfo", "ecn", "ecn_bleached"):
        if field in exp and got.get(field) != exp[field]:
            out.append(f"{field} {got.get(field)} (want {exp[field]})")
    return out


def synprint_records(binary, pcap):
    r = subprocess.run([binary, "-r", str(pcap), "--connections", "--json"], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{binary} failed ({r.returncode}): {r.stderr.strip()}")
    records = {}
    for line in r.stdout.splitlines():
        if line.startswith("{"):
            ev = json.loads(line)
            if ev.get("type") == "conn":
                records[(ev["src_ip"], ev["src_port"])] = ev
    return records


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "_helper":
        return helper_main(sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out-pcap", default=str(FIXTURES / "connections.pcap"))
    ap.add_argument("--out-expected", default=str(FIXTURES / "connections.expected.jsonl"))
    ap.add_argument("--synprint", metavar="BINARY", help="also compare this synprint's conn records")
    ap.add_argument("--keep", action="store_true", help="leave the namespaces up at the end")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("netns-connections: needs root (network namespaces, sysctls, iptables, tcpdump)")
    for tool in ("ip", "sysctl", "iptables", "tcpdump", "curl"):
        if not shutil.which(tool):
            sys.exit(f"netns-connections: {tool} not found")
    # SIGTERM should still run the cleanup.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("netns-connections: terminated"))

    with tempfile.TemporaryDirectory(prefix="netns-connections-") as tmp:
        raw_pcap = Path(tmp) / "capture.pcap"
        expected = record(raw_pcap, args.keep)
        observed = observe(raw_pcap)
        for out in (args.out_pcap, args.out_expected):
            Path(out).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(raw_pcap, args.out_pcap)
    with open(args.out_expected, "w") as f:
        for exp in expected:
            f.write(json.dumps(exp, separators=(",", ":")) + "\n")

    problems = []
    print(f"\n{'case':<30} {'port':>5} {'pkts':>4}  {'stage':<9} {'ending':<11} {'tfo':<14} {'ecn':<19} tags")
    for exp in expected:
        got = observed.get((exp["client_ip"], exp["client_port"]))
        if got is None:
            problems.append(f"{exp['case']} ({exp['client_port']}): no SYN in the capture")
            continue
        problems += [f"{exp['case']} ({exp['client_port']}): {d}" for d in differences(exp, got)]
        print(f"{exp['case']:<30} {exp['client_port']:>5} {got['packets']:>4}  {got['stage']:<9} {got['ending']:<11} "
              f"{got['tfo']:<14} {got['ecn'] + (' bleached' if got['ecn_bleached'] else ''):<19} "
              f"{','.join(t for t in ALL_TAGS if t in got['tags']) or '-'}")
    if extra := set(observed) - {(e["client_ip"], e["client_port"]) for e in expected}:
        problems.append(f"connections in the capture that no case made: {sorted(extra)}")
    print(f"\n{len(expected)} connections; {os.path.getsize(args.out_pcap)} bytes in {args.out_pcap}; "
          f"expectations in {args.out_expected}")
    exit_on_problems(problems, "the capture differs from the expectations:")

    if args.synprint:
        records = synprint_records(args.synprint, args.out_pcap)
        disagreements = []
        for exp in expected:
            ev = records.get((exp["client_ip"], exp["client_port"]))
            if ev is None:
                disagreements.append(f"{exp['case']} ({exp['client_port']}): no conn record")
                continue
            got = {"stage": ev["stage"], "ending": ev["ending"], "tags": ev["tags"], "tfo": ev["tfo"],
                   "ecn": ev["ecn"], "ecn_bleached": ev["ecn_bleached"]}
            disagreements += [f"{exp['case']} ({exp['client_port']}): {d}" for d in differences(exp, got)]
        print(f"\nsynprint: {len(records)} conn records, "
              f"{'agrees with every expectation' if not disagreements else 'disagrees:'}")
        for d in disagreements:
            print("  " + d)
        if disagreements:
            sys.exit(2)


if __name__ == "__main__":
    main()
