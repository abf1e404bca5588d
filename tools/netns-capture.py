#!/usr/bin/env python3
"""Captures real Linux client SYNs across many path and sysctl conditions, with a labels file.

Builds three network namespaces of its own, joined by veth pairs:

    synprint-cap-client (10.77.1.2, fd77:1::2)
        <-> synprint-cap-router (10.77.1.1 | 10.77.2.1, fd77:1::1 | fd77:2::1, forwarding on)
        <-> synprint-cap-server (10.77.2.2, fd77:2::2, tiny HTTP server on port 80)

and fetches one small page per case with curl from the client namespace while tcpdump records
tcp port 80 on the server's veth. Each case varies some of: IP version, the client link MTU
(set on both ends of the client link), MSS clamping on the router (iptables/ip6tables TCPMSS
--set-mss), and client TCP sysctls (tcp_rmem maximum -> window scale, tcp_timestamps, tcp_sack,
tcp_window_scaling, tcp_ecn), plus the User-Agent. So the SYNs are what this machine's kernel
really sends; only the User-Agent claims some other OS.

Every connection gets one JSON line in the labels file (capture order): the case, addresses and
ports (curl --local-port fixes the client port), the User-Agent and its family, the true stack
("Linux"), MTU, clamp, the sysctls set, what the captured SYN shows (parsed here from the pcap)
and the verdicts synprint should give (os_mismatch, tunnel, clamped).

Baseline client sysctls are the kernel defaults (tcp_rmem "4096 131072 6291456", timestamps, SACK
and window scaling on, tcp_ecn 2, rmem_max 212992), reset before every case. IPv6 gets no
1452 clamp: TCPMSS never raises an MSS, and IPv6's own at MTU 1500 is 1440.

Needs root. It only creates and changes the three namespaces above (their interfaces, addresses,
routes, transmit checksum offload, sysctls and firewall rules) and deletes them at the end, also
on errors; a sysctl is only written when it is per-namespace on the running kernel. Stale namespaces with the same names
from an earlier run are removed first. Traffic never leaves the namespaces.

    sudo tools/netns-capture.py \\
        --out-pcap Tests/SynprintTests/Fixtures/linux-paths.pcap \\
        --out-labels Tests/SynprintTests/Fixtures/linux-paths.labels.jsonl
    sudo tools/netns-capture.py --stacks    # Tests/SynprintTests/Fixtures/stack-settings.{pcap,labels.jsonl}
    sudo tools/netns-capture.py --keep      # leave the namespaces up for debugging

With --stacks it records the stack-settings fixture instead: the same kernel under the tcp_rmem
values and first-window caps (route initrwnd) that Android and older Linux kernels ship with,
each connection labelled with the class whose defaults it reproduces and, where another class's
defaults send the very same SYN, that class ("same_as"). Route metrics stand in for what this
kernel no longer does itself: `initrwnd` for the first-window caps of kernels before 4.20 and
Android's tcp_default_init_rwnd, `window` for scales below 7.

Tools used: ip, sysctl, iptables, ip6tables, tcpdump, curl.
"""
import argparse, ipaddress, json, os, shutil, signal, struct, subprocess, sys, tempfile, time
from pathlib import Path

from netns_common import (add_namespaces, capture_statistics, end_run, exit_on_problems, pcap_frames, remove_namespaces, run,
                          start_capture, stop_capture, veth)

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "Tests" / "SynprintTests" / "Fixtures"

NS_CLIENT, NS_ROUTER, NS_SERVER = "synprint-cap-client", "synprint-cap-router", "synprint-cap-server"
NAMESPACES = (NS_CLIENT, NS_ROUTER, NS_SERVER)
IF_CLIENT, IF_ROUTER_C, IF_ROUTER_S, IF_SERVER = "spc0", "spr0", "spr1", "sps0"
CLIENT4, ROUTER4_C, ROUTER4_S, SERVER4 = "10.77.1.2", "10.77.1.1", "10.77.2.1", "10.77.2.2"
CLIENT6, ROUTER6_C, ROUTER6_S, SERVER6 = "fd77:1::2", "fd77:1::1", "fd77:2::1", "fd77:2::2"
SERVER_PORT = 80
FIRST_CLIENT_PORT = 41000
SNAPLEN = 512

PLAIN_MTUS = (1500, 1492)
TUNNEL_MTUS = (1480, 1460, 1440, 1420, 1400, 1380, 1280)
MTUS = PLAIN_MTUS + TUNNEL_MTUS
CLAMPS = (1200, 1360, 1400, 1452)

# Kernel defaults, set in the client namespace before every case so the result does not depend
# on how the host is tuned (a new namespace copies some values from the host).
BASELINE = {
    "net.ipv4.tcp_rmem": "4096 131072 6291456",
    "net.ipv4.tcp_timestamps": "1",
    "net.ipv4.tcp_sack": "1",
    "net.ipv4.tcp_window_scaling": "1",
    "net.ipv4.tcp_ecn": "2",
}
# The window scale follows max(tcp_rmem max, rmem_max); pinned to the kernel default when
# per-namespace so that tcp_rmem alone sets the scale (7 at the default 6 MB).
PIN = {"net.core.rmem_max": "212992"}

# tcp_rmem maximum -> window scale it should give (ilog2(max) - 15); the observed one is recorded.
RMEM_FOR_SCALE = {
    7: "4096 131072 6291456", 8: "4096 131072 12582912", 9: "4096 131072 16777216",
    10: "4096 131072 33554432", 11: "4096 131072 67108864", 12: "4096 131072 134217728",
    13: "4096 131072 268435456",
}

USER_AGENTS = [  # (short name, family, string)
    ("windows-chrome", "Windows",
     "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"),
    ("macos-safari", "Apple",
     "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15"),
    ("iphone-safari", "Apple",
     "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"),
    ("linux-firefox", "Linux-like",
     "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"),
    ("ubuntu-firefox", "Linux-like",
     "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"),
    ("android-chrome", "Linux-like",
     "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36"),
    ("chromeos-chrome", "Linux-like",
     "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"),
]

# Sysctl variants run on a plain and a tunnel path for both IP versions: (name, overrides).
VARIANTS = [(f"scale{s}", {"net.ipv4.tcp_rmem": RMEM_FOR_SCALE[s]}) for s in range(8, 14)] + [
    ("ts0", {"net.ipv4.tcp_timestamps": "0"}),
    ("sack0", {"net.ipv4.tcp_sack": "0"}),
    ("ws0", {"net.ipv4.tcp_window_scaling": "0"}),
    ("ecn1", {"net.ipv4.tcp_ecn": "1"}),
    ("ts0-sack0", {"net.ipv4.tcp_timestamps": "0", "net.ipv4.tcp_sack": "0"}),
    ("ts0-ws0", {"net.ipv4.tcp_timestamps": "0", "net.ipv4.tcp_window_scaling": "0"}),
    ("sack0-ws0", {"net.ipv4.tcp_sack": "0", "net.ipv4.tcp_window_scaling": "0"}),
    ("bare", {"net.ipv4.tcp_timestamps": "0", "net.ipv4.tcp_sack": "0", "net.ipv4.tcp_window_scaling": "0"}),
    ("ecn1-ts0", {"net.ipv4.tcp_ecn": "1", "net.ipv4.tcp_timestamps": "0"}),
]
# `--stacks`: the same kernel under the settings other stacks and older kernels ship with, each
# connection labelled with the class whose defaults it reproduces (docs/STACKS.md has the facts):
# (name, class, what it reproduces, sysctls, route metrics, class whose defaults send the same SYN
# or None). A route's `initrwnd N` caps the first window at N segments, as kernels before 4.20 did
# on their own (4 segments before 2.6.39, 10 to 3.10, 20 to 4.19) and as Android's
# tcp_default_init_rwnd (60) does. A route's `window` clamps the receive space, and with it the
# scale: this kernel no longer offers a scale below 7 from tcp_rmem alone.
STACK_SETTINGS = [
    ("linux-6", "Linux", "Linux 4.20-6.x defaults", {}, {}, None),
    ("linux-6-tuned", "Linux", "Linux 4.20-6.x with a 32 MiB tcp_rmem maximum (tuning guides)",
     {"net.ipv4.tcp_rmem": "4096 131072 33554432"}, {}, None),
    ("linux-3.11-4.19", "Linux", "Linux 3.11-4.19: 87380-byte tcp_rmem default, first window capped at 20 segments",
     {"net.ipv4.tcp_rmem": "4096 87380 6291456"}, {"initrwnd": 20}, None),
    ("linux-2.6.39-3.10", "Linux", "Linux 2.6.39-3.10: 4 MiB tcp_rmem maximum, first window capped at 10 segments",
     {"net.ipv4.tcp_rmem": "4096 87380 4194304"}, {"initrwnd": 10}, None),
    ("linux-2.6.39-3.10-small", "Linux", "Linux 2.6.39-3.10 on a host of about 4 GB: tcp_rmem maximum below 4 MiB",
     {"net.ipv4.tcp_rmem": "4096 87380 3932160"}, {"initrwnd": 10, "window": 3932160}, "Android"),
    ("linux-2.6", "Linux", "Linux 2.6 before 2.6.39: first window capped at 4 segments",
     {"net.ipv4.tcp_rmem": "4096 87380 4194304"}, {"initrwnd": 4}, None),
    ("android-5+", "Android", "Android 5+: tcp_default_init_rwnd 60 and a 16 MiB tcp_rmem maximum (5G, newer defaults)",
     {"net.ipv4.tcp_rmem": "2097152 6291456 16777216"}, {"initrwnd": 60}, None),
    ("android-lte-ca", "Android", "Android 5+ on LTE carrier aggregation: 12 MiB tcp_rmem maximum",
     {"net.ipv4.tcp_rmem": "524288 1048576 12582912"}, {"initrwnd": 60}, None),
    ("android-wifi", "Android", "Android 5+ on Wi-Fi: 2 MiB tcp_rmem maximum and rmem_max",
     {"net.ipv4.tcp_rmem": "524288 1048576 2097152"}, {"initrwnd": 60, "window": 2097152}, None),
    ("android-4", "Android", "Android 4.x: kernel 3.0-3.10 (10 segments) with rmem_max 2 MiB from init.rc",
     {"net.ipv4.tcp_rmem": "524288 1048576 2097152"}, {"initrwnd": 10, "window": 2097152}, "Linux"),
]
# Paths each stack setting is recorded through: (IP version, MTU).
STACK_PATHS = [(4, 1500), (6, 1500), (4, 1440)]

# Second pass over the clamps, each with a different client tuning.
CLAMP_VARIANTS = [("ts0", {"net.ipv4.tcp_timestamps": "0"}),
                  ("scale10", {"net.ipv4.tcp_rmem": RMEM_FOR_SCALE[10]}),
                  ("ecn1", {"net.ipv4.tcp_ecn": "1"}),
                  ("sack0", {"net.ipv4.tcp_sack": "0"})]

SERVER_SCRIPT = r"""
import socket, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BODY = (b"<!doctype html><html><head><title>synprint capture</title></head><body>"
        b"<p>This page is served inside a network namespace so that real client SYNs can be "
        b"recorded for the synprint test fixtures.</p></body></html>\n")

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        # One write, so the whole response is one segment and the capture stays small.
        head = ("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n"
                "Connection: close\r\n\r\n" % len(BODY)).encode()
        self.wfile.write(head + BODY)
        self.close_connection = True
    def log_message(self, *args):
        pass

class DualStack(ThreadingHTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True
    def server_bind(self):
        # One socket for :: and 0.0.0.0.
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()

server = DualStack(("::", int(sys.argv[1])), Handler)
print("ready", flush=True)
server.serve_forever()
"""


def build_topology():
    add_namespaces(NAMESPACES)
    veth(NS_CLIENT, IF_CLIENT, [f"{CLIENT4}/24", f"{CLIENT6}/64"], NS_ROUTER, IF_ROUTER_C, [f"{ROUTER4_C}/24", f"{ROUTER6_C}/64"])
    veth(NS_SERVER, IF_SERVER, [f"{SERVER4}/24", f"{SERVER6}/64"], NS_ROUTER, IF_ROUTER_S, [f"{ROUTER4_S}/24", f"{ROUTER6_S}/64"])
    run("sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1", ns=NS_ROUTER)
    run("ip", "-n", NS_CLIENT, "route", "add", "default", "via", ROUTER4_C)
    run("ip", "-n", NS_CLIENT, "-6", "route", "add", "default", "via", ROUTER6_C)
    run("ip", "-n", NS_SERVER, "route", "add", "default", "via", ROUTER4_S)
    run("ip", "-n", NS_SERVER, "-6", "route", "add", "default", "via", ROUTER6_S)


def host_sysctl(key):
    try:
        return Path("/proc/sys", *key.split(".")).read_text().split()
    except OSError:
        return None


def probe_per_namespace(keys):
    """Which sysctls the client namespace has its own copy of.

    The kernel shows a namespace only the sysctls registered for it, so a key is per-namespace
    when it is visible there; the write below is also checked not to have reached the caller's
    namespace (and undone there if it did)."""
    result = {}
    for key in keys:
        path = "/proc/sys/" + key.replace(".", "/")
        if run("test", "-e", path, ns=NS_CLIENT, check=False).returncode != 0:
            result[key] = False
            continue
        before = host_sysctl(key)
        current = run("sysctl", "-n", key, ns=NS_CLIENT, capture=True).stdout.split()
        probe = {"net.ipv4.tcp_rmem": "4096 131072 6291457", "net.core.rmem_max": "212993"}.get(
            key, "0" if current == ["1"] else "1")
        run("sysctl", "-qw", f"{key}={probe}", ns=NS_CLIENT)
        after = host_sysctl(key)
        run("sysctl", "-qw", f"{key}={' '.join(current)}", ns=NS_CLIENT)
        if after != before:
            Path("/proc/sys", *key.split(".")).write_text(" ".join(before))
            result[key] = False
        else:
            result[key] = True
    return result


def make_cases():
    """The deterministic case list; every case is a dict with name, ip, mtu, clamp, sysctls."""
    cases = []
    for mtu in MTUS:
        for ip in (4, 6):
            cases.append(dict(name=f"v{ip}-mtu{mtu}", ip=ip, mtu=mtu, clamp=None, sysctls={}))
    for ip in (4, 6):
        for n in CLAMPS:
            if ip == 6 and n >= 1440:  # TCPMSS never raises an MSS: 1452 is a no-op on IPv6's 1440
                continue
            cases.append(dict(name=f"v{ip}-clamp{n}", ip=ip, mtu=1500, clamp=n, sysctls={}))
    for i, (vname, sysctls) in enumerate(VARIANTS):
        for ip in (4, 6):
            plain = PLAIN_MTUS[(i + ip) % len(PLAIN_MTUS)]
            tunnel = TUNNEL_MTUS[(2 * i + ip) % len(TUNNEL_MTUS)]
            cases.append(dict(name=f"v{ip}-mtu{plain}-{vname}", ip=ip, mtu=plain, clamp=None, sysctls=sysctls))
            cases.append(dict(name=f"v{ip}-mtu{tunnel}-{vname}", ip=ip, mtu=tunnel, clamp=None, sysctls=sysctls))
    for i, n in enumerate(CLAMPS):
        vname, sysctls = CLAMP_VARIANTS[i % len(CLAMP_VARIANTS)]
        for ip in (4, 6):
            if ip == 6 and n >= 1440:
                continue
            cases.append(dict(name=f"v{ip}-clamp{n}-{vname}", ip=ip, mtu=1500, clamp=n, sysctls=sysctls))
    for n in CLAMPS:  # IPv4 can take every clamp, so it gets a third pass
        cases.append(dict(name=f"v4-clamp{n}-ws0", ip=4, mtu=1500, clamp=n,
                          sysctls={"net.ipv4.tcp_window_scaling": "0"}))

    # User-Agents round-robin; then one extra case for any (UA, IP version, path kind) not yet seen.
    for i, case in enumerate(cases):
        case["ua"] = USER_AGENTS[i % len(USER_AGENTS)]
    seen = {(c["ua"][0], c["ip"], is_tunnel(c)) for c in cases}
    for ua in USER_AGENTS:
        for ip in (4, 6):
            for tunnel in (False, True):
                if (ua[0], ip, tunnel) not in seen:
                    mtu = 1420 if tunnel else 1500
                    cases.append(dict(name=f"v{ip}-mtu{mtu}-{ua[0]}", ip=ip, mtu=mtu, clamp=None, sysctls={}, ua=ua))
    names = [c["name"] for c in cases]
    dupes = {n for n in names if names.count(n) > 1}
    for c in cases:  # same conditions twice only differ by User-Agent
        if c["name"] in dupes:
            c["name"] += "-" + c["ua"][0]
    assert len({c["name"] for c in cases}) == len(cases)
    for i, c in enumerate(cases):
        c["port"] = FIRST_CLIENT_PORT + i
    return cases


def make_stack_cases():
    """One case per stack setting and path, with a User-Agent of the stack's own class."""
    ua = {"Linux": USER_AGENTS[3], "Android": USER_AGENTS[5]}
    cases = []
    for name, os_class, reproduces, sysctls, route, same_as in STACK_SETTINGS:
        for ip, mtu in STACK_PATHS:
            cases.append(dict(name=f"v{ip}-mtu{mtu}-{name}", ip=ip, mtu=mtu, clamp=None, sysctls=sysctls, ua=ua[os_class],
                              stack=name, os_class=os_class, reproduces=reproduces, route=route, same_as=same_as))
    for i, c in enumerate(cases):
        c["port"] = FIRST_CLIENT_PORT + i
    return cases


def is_tunnel(case):
    return case["mtu"] <= 1480 or case["clamp"] is not None


def set_mtu(mtu):
    run("ip", "-n", NS_CLIENT, "link", "set", IF_CLIENT, "mtu", mtu)
    run("ip", "-n", NS_ROUTER, "link", "set", IF_ROUTER_C, "mtu", mtu)


def set_clamp(mss):
    for tool in ("iptables", "ip6tables"):
        run(tool, "-t", "mangle", "-F", "FORWARD", ns=NS_ROUTER)
        if mss is not None:
            run(tool, "-t", "mangle", "-A", "FORWARD", "-p", "tcp", "--tcp-flags", "SYN,RST", "SYN",
                "-j", "TCPMSS", "--set-mss", mss, ns=NS_ROUTER)


def set_route(metrics):
    """The client's default routes with these metrics (initrwnd, window), or none."""
    for family, router in (("-4", ROUTER4_C), ("-6", ROUTER6_C)):
        run("ip", "-n", NS_CLIENT, family, "route", "replace", "default", "via", router,
            *[str(part) for item in (metrics or {}).items() for part in item])


def prepare_client(values):
    run("sysctl", "-qw", *[f"{k}={v}" for k, v in values.items()], ns=NS_CLIENT)
    # Cached per-destination metrics and route exceptions would carry one case into the next.
    run("ip", "-n", NS_CLIENT, "tcp_metrics", "flush", "all", check=False)
    run("ip", "-n", NS_CLIENT, "-6", "route", "flush", "cache", check=False)


def start_server():
    proc = subprocess.Popen(["ip", "netns", "exec", NS_SERVER, sys.executable, "-c", SERVER_SCRIPT, str(SERVER_PORT)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.stdout.readline().strip() != "ready":
        proc.kill()
        raise RuntimeError("HTTP server did not start: " + proc.stderr.read())
    return proc


def curl(ip, path, user_agent, port=None):
    host = SERVER4 if ip == 4 else f"[{SERVER6}]"
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    r = subprocess.run(["ip", "netns", "exec", NS_CLIENT, "curl", "-sS", "-g", "--http1.1", "--noproxy", "*",
                        *(["--local-port", str(port)] if port else []), "--connect-timeout", "5", "--max-time", "10",
                        "-o", "/dev/null", "-w", "%{http_code}", "-A", user_agent,
                        f"http://{host}:{SERVER_PORT}/{path}"],
                       capture_output=True, text=True, env=env)
    if r.returncode != 0 or r.stdout.strip() != "200":
        raise RuntimeError(f"{path}: curl exit {r.returncode}, status {r.stdout!r}: {r.stderr.strip()}")


def warm_up():
    # Resolves ARP/neighbour entries on every hop before recording: otherwise the first IPv6
    # SYN can wait about a second in a neighbour queue and be retransmitted.
    for ip in (4, 6):
        curl(ip, "warm-up", "netns-capture warm-up")


def fetch(case):
    curl(case["ip"], case["name"], case["ua"][2], port=case["port"])


# ---- pcap reading -------------------------------------------------------------------------

def ip_payload(linktype, pkt):
    """(version, src, dst, ttl, tos/traffic class, df, tcp bytes) or None for non-TCP."""
    if linktype == 1:  # Ethernet, with 802.1Q/802.1ad tags skipped
        etype, off = struct.unpack("!H", pkt[12:14])[0], 14
        while etype in (0x8100, 0x88A8) and len(pkt) >= off + 4:
            etype, off = struct.unpack("!H", pkt[off + 2:off + 4])[0], off + 4
        if etype not in (0x0800, 0x86DD):
            return None
        pkt = pkt[off:]
    elif linktype not in (101, 228, 229):  # raw IP
        raise ValueError(f"unsupported link type {linktype}")
    if not pkt:
        return None
    version = pkt[0] >> 4
    if version == 4:
        ihl = (pkt[0] & 15) * 4
        if pkt[9] != 6:
            return None
        df = bool(struct.unpack("!H", pkt[6:8])[0] & 0x4000)
        return 4, ipaddress.ip_address(pkt[12:16]), ipaddress.ip_address(pkt[16:20]), pkt[8], pkt[1], df, pkt[ihl:]
    if version == 6:
        nxt, off = pkt[6], 40
        while nxt in (0, 43, 60):  # hop-by-hop, routing, destination options
            nxt, off = pkt[off], off + (pkt[off + 1] + 1) * 8
        if nxt != 6:
            return None
        tclass = (struct.unpack("!I", pkt[0:4])[0] >> 20) & 0xFF
        return 6, ipaddress.ip_address(pkt[8:24]), ipaddress.ip_address(pkt[24:40]), pkt[7], tclass, None, pkt[off:]
    return None


def tcp_options(opts):
    """p0f-style layout text plus mss and window scale."""
    layout, mss, ws, i = [], None, None, 0
    while i < len(opts):
        kind = opts[i]
        if kind == 0:
            layout.append(f"eol+{len(opts) - i - 1}")
            break
        if kind == 1:
            layout.append("nop")
            i += 1
            continue
        if i + 1 >= len(opts) or opts[i + 1] < 2:
            layout.append(f"?{kind}")
            break
        length = opts[i + 1]
        body = opts[i + 2:i + length]
        if kind == 2 and length == 4:
            layout.append("mss")
            mss = struct.unpack("!H", body)[0]
        elif kind == 3 and length == 3:
            layout.append("ws")
            ws = body[0]
        elif kind == 4:
            layout.append("sok")
        elif kind == 5:
            layout.append("sack")
        elif kind == 8:
            layout.append("ts")
        else:
            layout.append(f"?{kind}")
        i += length
    return ",".join(layout), mss, ws


def analyse(path):
    """Client SYNs and the first request payload per (client ip, client port)."""
    syns, requests, synacks = {}, {}, {}
    for linktype, _, _, pkt in pcap_frames(path):
        parsed = ip_payload(linktype, pkt)
        if parsed is None:
            continue
        version, src, dst, ttl, tos, df, tcp = parsed
        if len(tcp) < 20:
            continue
        sport, dport, _, _, off_flags, window = struct.unpack("!HHIIHH", tcp[:16])
        doff, flags = (off_flags >> 12) * 4, off_flags & 0x1FF
        if dport == SERVER_PORT:
            key = (str(src), sport)
            if flags & 0x02 and not flags & 0x10:
                layout, mss, ws = tcp_options(tcp[20:doff])
                syns.setdefault(key, []).append(dict(
                    mss=mss, window=window, window_scale=ws, options=layout,
                    ecn=bool(flags & 0xC0) or bool(tos & 3), ttl=ttl, df=df))
            elif len(tcp) > doff and key not in requests:
                requests[key] = tcp[doff:]
        elif sport == SERVER_PORT and flags & 0x12 == 0x12:
            synacks[(str(dst), dport)] = synacks.get((str(dst), dport), 0) + 1
    return syns, requests, synacks


def request_user_agent(payload):
    for line in payload.split(b"\r\n"):
        if line.lower().startswith(b"user-agent:"):
            return line.split(b":", 1)[1].strip().decode("latin-1")
    return None


# ---- main ---------------------------------------------------------------------------------

def expected_window(case, effective):
    """What Linux should offer: tcp_rmem default / 2 (scaling ratio), rounded down to the
    client's own MSS (the router clamps only the option), at most 65535."""
    mss = case["mtu"] - (40 if case["ip"] == 4 else 60)
    space = int(effective["net.ipv4.tcp_rmem"].split()[1]) // 2
    window = space - space % mss
    route = case.get("route") or {}
    if "initrwnd" in route:
        window = min(window, route["initrwnd"] * mss)
    return min(window, 65535)


def expected_scale(case, effective):
    """ilog2(max(tcp_rmem max, rmem_max)) - 15, clamped by a route's window and at least 7 (this
    kernel's floor), or None when it cannot be known (rmem_max not ours) or no scale option is sent."""
    if effective.get("net.ipv4.tcp_window_scaling") == "0":
        return None
    if "net.core.rmem_max" not in effective:
        return None
    space = max(int(effective["net.ipv4.tcp_rmem"].split()[2]), int(effective["net.core.rmem_max"]), 1 << 22)
    space = min(space, (case.get("route") or {}).get("window", space))
    return min(max(space.bit_length() - 1 - 15, 0), 14)


def record(cases, raw_pcap, keep):
    """Builds the namespaces, runs every case under tcpdump, and takes everything down again.
    Returns the cases actually run and the client sysctls in force for each."""
    server = capture = None
    remove_namespaces(NAMESPACES)
    try:
        build_topology()
        per_ns = probe_per_namespace(list(BASELINE) + list(PIN))
        for key, ok in per_ns.items():
            print(f"sysctl {key}: {'per-namespace' if ok else 'NOT per-namespace, left alone'}")
        base = {k: v for k, v in {**BASELINE, **PIN}.items() if per_ns[k]}
        skipped = [c for c in cases if any(not per_ns[k] for k in c["sysctls"])]
        if skipped:
            print(f"skipping {len(skipped)} cases that need sysctls this kernel keeps global")
            cases = [c for c in cases if c not in skipped]
        set_clamp(None)  # fails here, before any capture, when TCPMSS is not available
        # The server's SYN+ACKs then follow the same kernel defaults on every host.
        run("sysctl", "-qw", *[f"{k}={v}" for k, v in base.items()], ns=NS_SERVER)
        server = start_server()
        warm_up()
        capture = start_capture(NS_SERVER, IF_SERVER, raw_pcap, SNAPLEN, ("tcp", "port", str(SERVER_PORT)), immediate=True)
        time.sleep(0.3)
        effective_by_case = []
        for case in cases:
            effective = {**base, **case["sysctls"]}
            effective_by_case.append(effective)
            set_mtu(case["mtu"])
            set_clamp(case["clamp"])
            set_route(case.get("route"))
            prepare_client(effective)
            fetch(case)
            time.sleep(0.05)  # let the last ACK of this connection land before the next SYN
        time.sleep(0.5)
        stats = stop_capture(capture)
        capture = None
        print("tcpdump:", capture_statistics(stats))
        return cases, effective_by_case
    finally:
        end_run((capture, server), NAMESPACES, keep)


def make_labels(cases, effective_by_case, raw_pcap):
    """One label per case from what the capture shows, and the list of anything unexpected."""
    syns, requests, synacks = analyse(raw_pcap)
    problems, labels = [], []
    for case, effective in zip(cases, effective_by_case):
        client = str(ipaddress.ip_address(CLIENT4 if case["ip"] == 4 else CLIENT6))
        key = (client, case["port"])
        found = syns.get(key, [])
        if len(found) != 1:
            problems.append(f"{case['name']}: {len(found)} SYNs in the capture (want 1)")
        if synacks.get(key, 0) != 1:
            problems.append(f"{case['name']}: {synacks.get(key, 0)} SYN+ACKs")
        if request_user_agent(requests.get(key, b"")) != case["ua"][2]:
            problems.append(f"{case['name']}: request User-Agent missing or different")
        obs = found[0] if found else None
        if obs:
            want_mss = case["clamp"] or case["mtu"] - (40 if case["ip"] == 4 else 60)
            if obs["mss"] != want_mss:
                problems.append(f"{case['name']}: MSS {obs['mss']}, want {want_mss}")
            if obs["window"] != expected_window(case, effective):
                problems.append(f"{case['name']}: window {obs['window']}, want {expected_window(case, effective)}")
            want_ws = expected_scale(case, effective)
            if effective.get("net.ipv4.tcp_window_scaling") == "0" and obs["window_scale"] is not None:
                problems.append(f"{case['name']}: window scale option sent although tcp_window_scaling=0")
            if want_ws is not None and obs["window_scale"] != want_ws:
                problems.append(f"{case['name']}: window scale {obs['window_scale']}, want {want_ws}")
        ua_name, family, ua = case["ua"]
        labels.append({
            "case": case["name"], "ip_version": case["ip"],
            "client_ip": client, "client_port": case["port"],
            "server_ip": str(ipaddress.ip_address(SERVER4 if case["ip"] == 4 else SERVER6)),
            "server_port": SERVER_PORT,
            "user_agent": ua, "ua_name": ua_name, "ua_family": family, "os_class": case.get("os_class", "Linux"),
            **({"stack": case["stack"], "reproduces": case["reproduces"], "route": case["route"],
                "same_as": case["same_as"]} if "stack" in case else {}),
            "mtu": case["mtu"], "clamp_mss": case["clamp"],
            "sysctls": case["sysctls"], "sysctls_effective": effective,
            "observed": {k: obs[k] for k in ("mss", "window", "window_scale", "options", "ecn", "ttl", "df")} if obs else None,
            "expect": {"os_mismatch": family in ("Windows", "Apple"), "tunnel": is_tunnel(case),
                       "clamped": case["clamp"] is not None},
        })
    return labels, problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--stacks", action="store_true",
                    help="record the stack-settings fixture (other stacks' and older kernels' settings) instead")
    ap.add_argument("--out-pcap")
    ap.add_argument("--out-labels")
    ap.add_argument("--keep", action="store_true", help="leave the namespaces up at the end")
    args = ap.parse_args()
    fixture = "stack-settings" if args.stacks else "linux-paths"
    args.out_pcap = args.out_pcap or str(FIXTURES / f"{fixture}.pcap")
    args.out_labels = args.out_labels or str(FIXTURES / f"{fixture}.labels.jsonl")
    if os.geteuid() != 0:
        sys.exit("netns-capture: needs root (network namespaces, sysctls, iptables, tcpdump)")
    for tool in ("ip", "sysctl", "iptables", "ip6tables", "tcpdump", "curl"):
        if not shutil.which(tool):
            sys.exit(f"netns-capture: {tool} not found")
    # SIGTERM should still run the cleanup.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("netns-capture: terminated"))

    with tempfile.TemporaryDirectory(prefix="netns-capture-") as tmp:
        raw_pcap = Path(tmp) / "capture.pcap"
        cases, effective_by_case = record(make_stack_cases() if args.stacks else make_cases(), raw_pcap, args.keep)
        labels, problems = make_labels(cases, effective_by_case, raw_pcap)
        for out in (args.out_pcap, args.out_labels):
            Path(out).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(raw_pcap, args.out_pcap)
    with open(args.out_labels, "w") as f:
        for label in labels:
            f.write(json.dumps(label, separators=(",", ":")) + "\n")

    print(f"\n{'case':<34} {'ip':>2} {'mtu':>5} {'clamp':>5} {'mss':>5} {'window':>6} {'scale':>5} {'ecn':>3}  options")
    for label in labels:
        o = label["observed"] or {}
        scale = o.get("window_scale")
        print(f"{label['case']:<34} {label['ip_version']:>2} {label['mtu']:>5} {label['clamp_mss'] or '-':>5} "
              f"{o.get('mss', '?'):>5} {o.get('window', '?'):>6} {'-' if scale is None else scale:>5} "
              f"{'yes' if o.get('ecn') else 'no':>3}  {o.get('options', '?')}")
    print(f"\n{len(labels)} connections; {os.path.getsize(args.out_pcap)} bytes in {args.out_pcap}; "
          f"labels in {args.out_labels}")
    exit_on_problems(problems)


if __name__ == "__main__":
    main()
