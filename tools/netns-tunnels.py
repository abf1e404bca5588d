#!/usr/bin/env python3
"""Captures real tunnel and ordinary client traffic in network namespaces, with a labels file.

Builds its own network namespaces, joined by veth pairs:

    synprint-tun-client-N (10.79.N.2)  one per client address, N = 1, 2, ...
        <-> synprint-tun-router (10.79.N.1 on each client link | 10.79.0.1, forwarding on)
        <-> synprint-tun-server (10.79.0.2): the web content and every tunnel endpoint or proxy

and records with tcpdump on the server's veth (what a sensor in front of the server sees:
snaplen 256 unless --snaplen says otherwise, filter tcp, pcap). Each client address carries one kind of traffic:

    kind                    server port  what runs
    openvpn_tcp             1194   OpenVPN over TCP with a PKI made at run time (openssl), tun devices;
                                   curl to the server's tunnel address
    ssh_dynamic             22     ssh -D (SOCKS) through sshd; curl --socks5-hostname
    stunnel                 8443   stunnel client -> stunnel server (TLS) wrapping plain HTTP
    shadowsocks             8388   ss-local (SOCKS) -> ss-server, chacha20-ietf-poly1305
    obfs4                   9443   obfs4proxy driven through Tor's pluggable-transport environment
                                   (TOR_PT_*) without Tor: client SOCKS -> obfs4 server -> web server
    socks_dante             1080   danted; curl --socks5 (plain SOCKS, then plain HTTP)
    http_connect_tinyproxy  8888   tinyproxy: CONNECT to the HTTPS server and plain HTTP proxying
    plain_http              80     browser-like page views, many short connections
    https                   443    the same over TLS (python ssl server, curl -k)
    large_download          80     one big HTTP download, its rate capped with tc (HTB) on the server link
    interactive_ssh         22     ssh -tt with commands typed key by key, with pauses

Browsing clients (the seven tunnels, plain_http, https) fetch a few dozen objects of mixed sizes
and types (HTML/CSS/JS as markup-like text, images and fonts as random bytes) in page views with
reading pauses, 24-35 s per client. Every client path gets its own round-trip time (20-120 ms):
the kernel may lack netem, so the router passes what it forwards through a delay line of its own
(a tun device served by a small Python loop); packets therefore reach the server with TTL 62.
Clients start staggered and run at the same time: a run takes 1 (--small) to 1.5 minutes.
--small (the committed fixture, 5 MB with --snaplen 600) has 2 clients per kind, objects at 70 % of the full
sizes, longer pauses and a 0.7 MB download; the full run has 3 clients per kind and 60 MB downloads
(~50 MB pcap).

The labels file has one JSON line per client address that worked: client_ip, kind, tunnel,
server_port, start and end (first and last packet of that address in the capture, epoch
seconds) and rtt_ms. A table of kinds, addresses, fetches (typed commands for interactive_ssh),
connections, packets, bytes and seconds is printed; the run exits 1 if a client failed (the
others are still written).

Needs root. It only creates and changes the namespaces above (interfaces, addresses, routes,
offloads, tc classes on the server link, the router's tun device and policy rules) and runs its
daemons inside them with their files in a temporary directory; sshd gets private tmpfs mounts on
/run and /var/log so that no login record or runtime directory is written on the host.
Everything it started is ended and the namespaces and the directory are removed at the end, on
errors and on Ctrl-C. Stale namespaces with the same names from an earlier run are removed
first. Traffic never leaves the namespaces.

    sudo tools/netns-tunnels.py --small --snaplen 600 \\
        --out-pcap Tests/SynprintTests/Fixtures/tunnels.pcap \\
        --out-labels Tests/SynprintTests/Fixtures/tunnels.labels.jsonl     # the committed fixture
    sudo tools/netns-tunnels.py --out-pcap /tmp/tunnels-full.pcap \\
        --out-labels /tmp/tunnels-full.labels.jsonl                        # 3 clients per kind
    sudo tools/netns-tunnels.py --kinds obfs4,shadowsocks --clients 1      # a quick look at some kinds

Debian packages used: iproute2, tcpdump, curl, openssl, python3, openvpn, openssh-server,
openssh-client, stunnel4, shadowsocks-libev, obfs4proxy, dante-server, tinyproxy. Missing ones
are named at start; --install runs apt-get install -y for them. The script uses none of their
system services (installing them may start some; it does not need or touch them).
"""
import argparse, json, os, random, re, secrets, shutil, signal, subprocess, sys, tempfile, threading, time
from pathlib import Path

from netns_common import (SEGMENTATION, TX_CHECKSUM, add_namespaces, capture_statistics, chosen_kinds, ethernet_ipv4,
                          exit_on_problems, present_namespaces, remove_namespaces, run as common_run, start_capture, stop_capture, veth)

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "Tests" / "SynprintTests" / "Fixtures"

NS_PREFIX = "synprint-tun-"
NS_ROUTER, NS_SERVER = NS_PREFIX + "router", NS_PREFIX + "server"
NS_PATTERN = re.compile(r"^synprint-tun-(client-\d+|router|server)$")
SERVER_IP, ROUTER_SERVER_IP = "10.79.0.2", "10.79.0.1"
IF_SERVER, IF_ROUTER_SERVER, IF_CLIENT, IF_DELAY = "sts0", "sts1", "stc0", "stdelay"
VPN_NET, VPN_SERVER_IP = "10.79.200.0", "10.79.200.1"  # OpenVPN pool; client links stay below .200
SNAPLEN = 256
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"

# kind -> (tunnel, server port, tools it needs besides the common ones)
KINDS = {
    "openvpn_tcp": (True, 1194, ["openvpn"]),
    "ssh_dynamic": (True, 22, ["/usr/sbin/sshd", "ssh", "ssh-keygen"]),
    "stunnel": (True, 8443, ["stunnel4"]),
    "shadowsocks": (True, 8388, ["ss-server", "ss-local"]),
    "obfs4": (True, 9443, ["obfs4proxy"]),
    "socks_dante": (True, 1080, ["danted"]),
    "http_connect_tinyproxy": (True, 8888, ["tinyproxy"]),
    "plain_http": (False, 80, []),
    "https": (False, 443, []),
    "large_download": (False, 80, []),
    "interactive_ssh": (False, 22, ["/usr/sbin/sshd", "ssh", "ssh-keygen"]),
}
COMMON_TOOLS = ["ip", "tc", "ss", "tcpdump", "curl", "openssl", "unshare"]
PACKAGES = {"ip": "iproute2", "tc": "iproute2", "ss": "iproute2", "tcpdump": "tcpdump", "curl": "curl",
            "openssl": "openssl", "unshare": "util-linux", "openvpn": "openvpn", "/usr/sbin/sshd": "openssh-server",
            "ssh": "openssh-client", "ssh-keygen": "openssh-client", "stunnel4": "stunnel4",
            "ss-server": "shadowsocks-libev", "ss-local": "shadowsocks-libev", "obfs4proxy": "obfs4proxy",
            "danted": "dante-server", "tinyproxy": "tinyproxy"}
SS_METHOD = "chacha20-ietf-poly1305"
LOCAL_SOCKS, LOCAL_STUNNEL = 1080, 8080  # client-side listeners, on the client's loopback

# Full run and --small: clients per kind, size factor for page objects, session seconds, reading
# pause between page views, download size and seconds. --small keeps the committed pcap small
# with fewer page views rather than much smaller objects, so that connections keep their length.
PROFILES = {
    "full": dict(clients=3, scale=1.0, seconds=(25, 35), pause=(1.0, 3.5), download=60_000_000, download_seconds=20),
    "small": dict(clients=2, scale=0.7, seconds=(24, 32), pause=(3.5, 7.0), download=700_000, download_seconds=20),
}

WEB_SERVER = r"""
import random, socket, ssl, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Fixed buffers: markup-like text for HTML/CSS/JS (low entropy, as sent uncompressed) and random
# bytes for images and fonts (as compressed formats look).
rng = random.Random(1)
words = ("div span class item title content header footer nav menu link button image width height "
         "color margin padding function return var const let document window event value data").split()
parts = []
while sum(map(len, parts)) < 1 << 20:
    parts.append('<div class="%s"><p>%s</p></div>\n' % (rng.choice(words), " ".join(rng.choices(words, k=12))))
TEXT = "".join(parts).encode()
BINARY = rng.randbytes(1 << 20)
TYPES = {"html": "text/html", "css": "text/css", "js": "application/javascript", "png": "image/png",
         "jpg": "image/jpeg", "ico": "image/x-icon", "woff2": "font/woff2"}

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as browsers and proxies use it
    timeout = 30
    def do_GET(self):
        parts = self.path.strip("/").split("/")
        try:
            if parts[0] == "o":      # /o/<size>.<ext>
                size_text, ext = parts[1].split(".")
                size = min(int(size_text), len(TEXT))
                buf = TEXT if ext in ("html", "css", "js") else BINARY
                start = (size * 7919) % (len(buf) - size + 1)
                self.send(TYPES.get(ext, "application/octet-stream"), size)
                self.wfile.write(buf[start:start + size])
                return
            if parts[0] == "big":    # /big/<size>: streamed
                size = int(parts[1])
                self.send("application/octet-stream", size)
                sent = 0
                while sent < size:
                    n = min(65536, size - sent)
                    off = sent % (len(BINARY) - 65536)
                    self.wfile.write(BINARY[off:off + n])
                    sent += n
                return
        except (ValueError, IndexError):
            pass
        self.send_error(404)
    def send(self, ctype, size):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(size))
        self.end_headers()
    def log_message(self, *args):
        pass

class Server(ThreadingHTTPServer):
    daemon_threads = True
    context = None
    def finish_request(self, request, client_address):
        # TLS handshake in the connection's own thread, so a slow client blocks nobody.
        if self.context is not None:
            request = self.context.wrap_socket(request, server_side=True)
        super().finish_request(request, client_address)
    def handle_error(self, request, client_address):
        pass

plain = Server(("0.0.0.0", 80), Handler)
tls = Server(("0.0.0.0", 443), Handler)
tls.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
tls.context.load_cert_chain(sys.argv[1], sys.argv[2])
threading.Thread(target=tls.serve_forever, daemon=True).start()
print("ready", flush=True)
plain.serve_forever()
"""

# A delay line on a tun device (IFF_TUN | IFF_NO_PI): every IPv4 packet read from it is written
# back after the one-way delay of its client (10.79.N.2, by N; either direction), in order.
DELAY_LINE = r"""
import fcntl, heapq, json, os, select, struct, sys, time
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, 0x400454ca, struct.pack("16sH", sys.argv[1].encode(), 0x1001).ljust(40, b"\0"))
os.set_blocking(fd, False)
delay = [0.0] * 256
for n, seconds in json.loads(sys.argv[2]).items():
    delay[int(n)] = seconds
print("ready", flush=True)
heap, seq = [], 0
while True:
    select.select([fd], [], [], max(0.0, heap[0][0] - time.monotonic()) if heap else None)
    now = time.monotonic()
    while True:
        try:
            pkt = os.read(fd, 65536)
        except BlockingIOError:
            break
        if len(pkt) < 20 or pkt[0] >> 4 != 4:  # IPv4 only; nothing else is routed here
            continue
        client = pkt[14] if pkt[14] else pkt[18]  # third octet of the source, else of the destination
        heapq.heappush(heap, (now + delay[client], seq, pkt))
        seq += 1
    now = time.monotonic()
    while heap and heap[0][0] <= now:
        try:
            os.write(fd, heapq.heappop(heap)[2])
        except OSError:
            pass
"""

# veth leaves checksums to offload and hands tcpdump unsegmented super-packets; a sensor on a
# wire sees finished checksums and MTU-sized segments, so those offloads are switched off
# (SIOCETHTOOL: set tx checksum, TSO, GSO, GRO).
STOP = threading.Event()
PROCS, PROCS_LOCK = [], threading.Lock()


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def clean_env():
    # A proxy set in the caller's environment must not redirect curl.
    return {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}


def run(*args, ns=None, check=True, timeout=60):
    return common_run(*args, ns=ns, check=check, capture=True, timeout=timeout, env=clean_env())


def our_namespaces():
    return [ns for ns in present_namespaces() if NS_PATTERN.match(ns)]


def spawn(args, ns, log_path=None, env=None, stdin=subprocess.DEVNULL, stdout=None):
    """Starts a daemon inside a namespace and remembers it for the cleanup."""
    out = open(log_path, "w") if log_path else subprocess.DEVNULL
    proc = subprocess.Popen(["ip", "netns", "exec", ns] + [str(a) for a in args], stdin=stdin,
                            stdout=stdout if stdout is not None else out, stderr=out,
                            env={**clean_env(), **(env or {})}, text=True)
    if log_path:
        out.close()
    with PROCS_LOCK:
        PROCS.append(proc)
    return proc


def stop(proc, sig=signal.SIGTERM, wait=5):
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.send_signal(sig)
        proc.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    except ProcessLookupError:
        pass


def wait_for(predicate, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        if STOP.is_set():
            break
        time.sleep(0.2)
    raise RuntimeError(f"timed out waiting for {what}")


def listening(ns, port):
    return bool(run("ss", "-Hltn", f"sport = :{port}", ns=ns, check=False).stdout.strip())


def wait_listen(ns, port, proc=None, what=None, timeout=15):
    def ready():
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what or port} exited with {proc.returncode}")
        return listening(ns, port)
    wait_for(ready, timeout, f"{what or 'a listener'} on port {port} in {ns}")


def log_tail(path, n=5):
    try:
        return " | ".join(Path(path).read_text(errors="replace").strip().splitlines()[-n:])
    except OSError:
        return ""


# ---- namespaces --------------------------------------------------------------------------

class Client:
    def __init__(self, index, kind, slot):
        self.index, self.kind, self.slot = index, kind, slot
        self.ns = f"{NS_PREFIX}client-{index}"
        self.ip, self.router_ip = f"10.79.{index}.2", f"10.79.{index}.1"
        self.router_if = f"stc{index}"
        self.ok = self.failed = 0
        self.error = None
        # Round-trip time of this client's path, 20-120 ms, as between distant hosts.
        self.rtt_ms = round(random.Random(f"rtt-{index}").uniform(20, 120))


def link(ns_a, if_a, ip_a, ns_b, if_b, ip_b):
    veth(ns_a, if_a, [f"{ip_a}/24"], ns_b, if_b, [f"{ip_b}/24"], offloads=(TX_CHECKSUM, *SEGMENTATION))


def build_topology(clients):
    add_namespaces([NS_ROUTER, NS_SERVER] + [c.ns for c in clients])
    run("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=NS_ROUTER)
    link(NS_SERVER, IF_SERVER, SERVER_IP, NS_ROUTER, IF_ROUTER_SERVER, ROUTER_SERVER_IP)
    run("ip", "-n", NS_SERVER, "route", "add", "default", "via", ROUTER_SERVER_IP)
    for c in clients:
        link(c.ns, IF_CLIENT, c.ip, NS_ROUTER, c.router_if, c.router_ip)
        run("ip", "-n", c.ns, "route", "add", "default", "via", c.router_ip)
    start_delay_line(clients)


def start_delay_line(clients):
    """Gives every client path its round-trip time. This kernel may lack netem, so the router
    sends everything it forwards through a tun device served by DELAY_LINE: packets that arrive
    on a veth are routed into the tun (policy rules by input interface), come back out of it
    after half the client's RTT, and are then routed on as usual."""
    table = {c.index: c.rtt_ms / 2000 for c in clients}
    p = spawn([sys.executable, "-c", DELAY_LINE, IF_DELAY, json.dumps(table)], NS_ROUTER, stdout=subprocess.PIPE)
    if p.stdout.readline().strip() != "ready":
        raise RuntimeError("delay line did not start")
    run("ip", "-n", NS_ROUTER, "link", "set", IF_DELAY, "up", "txqueuelen", "10000")
    # Packets come back from the tun with the client's address as source: no reverse-path check.
    run("sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0", f"net.ipv4.conf.{IF_DELAY}.rp_filter=0", ns=NS_ROUTER)
    run("ip", "-n", NS_ROUTER, "route", "add", "default", "dev", IF_DELAY, "table", "79")
    for dev in [IF_ROUTER_SERVER] + [c.router_if for c in clients]:
        run("ip", "-n", NS_ROUTER, "rule", "add", "iif", dev, "lookup", "79")


# ---- server side -------------------------------------------------------------------------

class Servers:
    """The daemons in the server namespace and the material they share with the clients."""

    def __init__(self, tmp, kinds):
        self.tmp, self.kinds = Path(tmp), kinds
        self.obfs4_args = None
        self.ss_password = secrets.token_hex(12)

    def file(self, name, text):
        path = self.tmp / name
        path.write_text(text)
        return path

    def make_pki(self):
        # A throwaway CA and one server and one client certificate (EC P-256, valid two days).
        t = self.tmp
        def ossl(*args):
            run("openssl", *args)
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        ossl("req", "-x509", *ec, "-keyout", t / "ca.key", "-out", t / "ca.crt", "-days", "2", "-subj", "/CN=synprint-tun-ca")
        for name in ("server", "client"):
            ossl("req", *ec, "-keyout", t / f"{name}.key", "-out", t / f"{name}.csr", "-subj", f"/CN=synprint-tun-{name}")
            ossl("x509", "-req", "-in", t / f"{name}.csr", "-CA", t / "ca.crt", "-CAkey", t / "ca.key",
                 "-CAcreateserial", "-out", t / f"{name}.crt", "-days", "2")
        if {"ssh_dynamic", "interactive_ssh"} & self.kinds:
            for name in ("ssh_host", "ssh_client"):
                run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "synprint-tun", "-f", t / name)
            shutil.copyfile(t / "ssh_client.pub", t / "authorized_keys")

    def start(self):
        t = self.tmp
        self.make_pki()
        if "large_download" in self.kinds:
            # Root of the per-client rate caps; everything else goes through the unlimited class.
            run("tc", "qdisc", "add", "dev", IF_SERVER, "root", "handle", "1:", "htb", "default", "1", ns=NS_SERVER)
            run("tc", "class", "add", "dev", IF_SERVER, "parent", "1:", "classid", "1:1", "htb", "rate", "10gbit",
                ns=NS_SERVER)
        web = spawn([sys.executable, "-c", WEB_SERVER, t / "server.crt", t / "server.key"], NS_SERVER,
                    stdout=subprocess.PIPE)
        if web.stdout.readline().strip() != "ready":
            raise RuntimeError("web server did not start")
        if "openvpn_tcp" in self.kinds:
            p = spawn(["openvpn", "--mode", "server", "--tls-server", "--proto", "tcp-server", "--local", SERVER_IP,
                       "--port", "1194", "--dev", "tun", "--topology", "subnet",
                       "--server", VPN_NET, "255.255.255.0", "--ca", t / "ca.crt", "--cert", t / "server.crt",
                       "--key", t / "server.key", "--dh", "none", "--duplicate-cn", "--keepalive", "10", "60",
                       "--verb", "3"], NS_SERVER, t / "openvpn-server.log")
            wait_listen(NS_SERVER, 1194, p, "openvpn server")
        if {"ssh_dynamic", "interactive_ssh"} & self.kinds:
            conf = self.file("sshd_config", "\n".join([
                f"ListenAddress {SERVER_IP}:22", f"HostKey {t / 'ssh_host'}", f"AuthorizedKeysFile {t / 'authorized_keys'}",
                "PermitRootLogin prohibit-password", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
                "UsePAM no", "StrictModes no", "UseDNS no", "PrintMotd no", "PrintLastLog no", "PidFile none",
                "AllowTcpForwarding yes", "X11Forwarding no", "MaxStartups 100", "LogLevel INFO", ""]))
            # Private tmpfs over /run and /var/log: sshd needs /run/sshd, and a pty login would
            # otherwise write utmp, wtmp and lastlog records on the host.
            setup = ("mount -t tmpfs -o mode=755 synprint-tun /run && mkdir -m 755 /run/sshd && "
                     "mount -t tmpfs -o mode=755 synprint-tun /var/log && exec /usr/sbin/sshd -D -e -f \"$0\"")
            p = spawn(["unshare", "--mount", "--propagation", "private", "sh", "-c", setup, conf], NS_SERVER,
                      t / "sshd.log")
            wait_listen(NS_SERVER, 22, p, "sshd")
        if "stunnel" in self.kinds:
            conf = self.file("stunnel-server.conf", "\n".join([
                "foreground = yes", "pid =", "debug = 4", "[web]", f"accept = {SERVER_IP}:8443", "connect = 127.0.0.1:80",
                f"cert = {t / 'server.crt'}", f"key = {t / 'server.key'}", ""]))
            p = spawn(["stunnel4", conf], NS_SERVER, t / "stunnel-server.log")
            wait_listen(NS_SERVER, 8443, p, "stunnel server")
        if "shadowsocks" in self.kinds:
            p = spawn(["ss-server", "-s", SERVER_IP, "-p", "8388", "-k", self.ss_password, "-m", SS_METHOD, "-t", "60"],
                      NS_SERVER, t / "ss-server.log")
            wait_listen(NS_SERVER, 8388, p, "ss-server")
        if "obfs4" in self.kinds:
            self.start_obfs4_server()
        if "socks_dante" in self.kinds:
            conf = self.file("danted.conf", "\n".join([
                "logoutput: stderr", f"internal: {SERVER_IP} port = 1080", f"external: {SERVER_IP}",
                "clientmethod: none", "socksmethod: none", "user.privileged: root", "user.notprivileged: nobody",
                "client pass { from: 10.79.0.0/16 to: 0.0.0.0/0 }",
                "socks pass { from: 10.79.0.0/16 to: 0.0.0.0/0 command: connect }", ""]))
            p = spawn(["danted", "-f", conf, "-p", t / "danted.pid", "-N", "2"], NS_SERVER, t / "danted.log")
            wait_listen(NS_SERVER, 1080, p, "danted")
        if "http_connect_tinyproxy" in self.kinds:
            conf = self.file("tinyproxy.conf", "\n".join([
                "Port 8888", f"Listen {SERVER_IP}", "Timeout 120", "MaxClients 200", "Allow 10.79.0.0/16",
                "ConnectPort 443", "DisableViaHeader Yes", "LogLevel Warning", ""]))
            p = spawn(["tinyproxy", "-d", "-c", conf], NS_SERVER, t / "tinyproxy.log")
            wait_listen(NS_SERVER, 8888, p, "tinyproxy")

    def start_obfs4_server(self):
        # Tor's managed-proxy protocol, spoken by hand: obfs4proxy reads its orders from TOR_PT_*
        # and answers on stdout with the address and the cert clients need. Decoded streams go to
        # the ORPort, here straight to the web server.
        state = self.tmp / "obfs4-server"
        state.mkdir()
        env = {"TOR_PT_MANAGED_TRANSPORT_VER": "1", "TOR_PT_STATE_LOCATION": str(state),
               "TOR_PT_SERVER_TRANSPORTS": "obfs4", "TOR_PT_SERVER_BINDADDR": f"obfs4-{SERVER_IP}:9443",
               "TOR_PT_ORPORT": "127.0.0.1:80"}
        p = spawn(["obfs4proxy"], NS_SERVER, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        deadline = time.time() + 15
        while time.time() < deadline:
            line = p.stdout.readline().strip()
            if not line:
                raise RuntimeError("obfs4proxy server exited")
            if line.startswith("SMETHOD obfs4 ") and "ARGS:" in line:
                self.obfs4_args = dict(kv.split("=", 1) for kv in line.split("ARGS:", 1)[1].split(","))
            elif line.startswith(("SMETHOD-ERROR", "ENV-ERROR", "VERSION-ERROR")):
                raise RuntimeError("obfs4proxy server: " + line)
            elif line == "SMETHODS DONE":
                break
        if not self.obfs4_args or "cert" not in self.obfs4_args:
            raise RuntimeError("obfs4proxy server gave no cert")
        # Keep reading its stdout so a full pipe never blocks it.
        threading.Thread(target=lambda: [None for _ in p.stdout], daemon=True).start()


# ---- client sessions ---------------------------------------------------------------------

def page_view(rng, scale):
    """One browser page view: an HTML document, then its objects (size in bytes, extension)."""
    def size(lo, hi):  # log-uniform: many small objects, a few large ones
        return max(200, int(scale * lo * (hi / lo) ** rng.random()))
    html = (size(5_000, 45_000), "html")
    objects = []
    for _ in range(rng.randint(3, 7)):
        ext = rng.choice(["css", "js", "js", "png", "png", "jpg", "jpg", "ico", "woff2"])
        lo, hi = {"css": (2_000, 30_000), "js": (3_000, 60_000), "png": (1_000, 50_000), "jpg": (5_000, 90_000),
                  "ico": (300, 2_000), "woff2": (15_000, 40_000)}[ext]
        objects.append((size(lo, hi), ext))
    return html, objects


def curl(c, urls, extra=(), timeout=40):
    """Fetches the URLs in one curl process (connections reused as a browser would); counts 200s."""
    args = ["curl", "-sS", "-A", USER_AGENT, "--connect-timeout", "10", "--max-time", str(timeout),
            "-w", "%{http_code}\\n", *extra]
    for url in urls:
        args += ["-o", "/dev/null", url]
    try:
        r = run(*args, ns=c.ns, check=False, timeout=timeout + 10)
    except subprocess.TimeoutExpired:
        c.failed += len(urls)
        return
    good = r.stdout.split().count("200")
    c.ok += good
    c.failed += len(urls) - good
    if good < len(urls) and c.error is None:
        c.error = f"curl exit {r.returncode}: {r.stderr.strip()[-200:]}"


def browse(c, rng, profile, target):
    """Page views with reading pauses until the session's time is up. target(rng) gives the base
    URL and curl arguments for one page view."""
    end = time.time() + rng.uniform(*profile["seconds"])
    while time.time() < end and not STOP.is_set():
        base, extra = target(rng)
        (hsize, hext), objects = page_view(rng, profile["scale"])
        curl(c, [f"{base}/o/{hsize}.{hext}"], extra)
        curl(c, [f"{base}/o/{s}.{e}" for s, e in objects], [*extra, "-Z", "--parallel-max", "4"])
        STOP.wait(rng.uniform(*profile["pause"]))


def ssh_args(tmp):
    return ["ssh", "-F", "/dev/null", "-i", Path(tmp) / "ssh_client", "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR"]


def session(c, servers, profile, tmp):
    """One client's whole session: its tunnel client up, the traffic, the tunnel client down."""
    rng = random.Random(f"{c.kind}-{c.slot}")
    tmp = Path(tmp)
    procs = []
    socks = f"127.0.0.1:{LOCAL_SOCKS}"
    web = f"http://{SERVER_IP}"
    try:
        if c.kind == "openvpn_tcp":
            p = spawn(["openvpn", "--client", "--proto", "tcp-client", "--remote", SERVER_IP, "1194", "--nobind",
                       "--dev", "tun", "--ca", tmp / "ca.crt", "--cert", tmp / "client.crt", "--key", tmp / "client.key",
                       "--connect-retry-max", "1", "--verb", "3"], c.ns, tmp / f"openvpn-{c.index}.log")
            procs.append(p)
            wait_for(lambda: "Initialization Sequence Completed" in log_tail(tmp / f"openvpn-{c.index}.log", 50)
                     or p.poll() is not None, 30, "openvpn client")
            if p.poll() is not None:
                raise RuntimeError("openvpn client exited: " + log_tail(tmp / f"openvpn-{c.index}.log"))
            browse(c, rng, profile, lambda r: (f"http://{VPN_SERVER_IP}", []))
        elif c.kind == "ssh_dynamic":
            p = spawn([*ssh_args(tmp), "-N", "-D", socks, "-o", "ExitOnForwardFailure=yes",
                       "-o", "ServerAliveInterval=15", f"root@{SERVER_IP}"], c.ns, tmp / f"ssh-{c.index}.log")
            procs.append(p)
            wait_listen(c.ns, LOCAL_SOCKS, p, "ssh -D")
            browse(c, rng, profile, lambda r: (web, ["--socks5-hostname", socks]))
        elif c.kind == "stunnel":
            conf = tmp / f"stunnel-client-{c.index}.conf"
            conf.write_text("\n".join(["foreground = yes", "pid =", "debug = 4", "[web]", "client = yes",
                                       f"accept = 127.0.0.1:{LOCAL_STUNNEL}", f"connect = {SERVER_IP}:8443", ""]))
            p = spawn(["stunnel4", conf], c.ns, tmp / f"stunnel-{c.index}.log")
            procs.append(p)
            wait_listen(c.ns, LOCAL_STUNNEL, p, "stunnel client")
            browse(c, rng, profile, lambda r: (f"http://127.0.0.1:{LOCAL_STUNNEL}", []))
        elif c.kind == "shadowsocks":
            p = spawn(["ss-local", "-s", SERVER_IP, "-p", "8388", "-b", "127.0.0.1", "-l", LOCAL_SOCKS,
                       "-k", servers.ss_password, "-m", SS_METHOD], c.ns, tmp / f"ss-local-{c.index}.log")
            procs.append(p)
            wait_listen(c.ns, LOCAL_SOCKS, p, "ss-local")
            browse(c, rng, profile, lambda r: (web, ["--socks5-hostname", socks]))
        elif c.kind == "obfs4":
            state = tmp / f"obfs4-client-{c.index}"
            state.mkdir()
            env = {"TOR_PT_MANAGED_TRANSPORT_VER": "1", "TOR_PT_STATE_LOCATION": str(state),
                   "TOR_PT_CLIENT_TRANSPORTS": "obfs4"}
            p = spawn(["obfs4proxy"], c.ns, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            procs.append(p)
            local = None
            while local is None:
                line = p.stdout.readline().strip()
                if not line:
                    raise RuntimeError("obfs4proxy client exited")
                if line.startswith("CMETHOD obfs4 socks5 "):
                    local = line.split()[3]
                elif line.startswith(("CMETHOD-ERROR", "ENV-ERROR", "VERSION-ERROR")):
                    raise RuntimeError("obfs4proxy client: " + line)
            threading.Thread(target=lambda: [None for _ in p.stdout], daemon=True).start()
            # The bridge's arguments travel in the SOCKS5 user name and password, which the
            # transport joins; split so that neither is empty.
            user = f"cert={servers.obfs4_args['cert']}:;iat-mode={servers.obfs4_args.get('iat-mode', '0')}"
            # The SOCKS target is the bridge itself; what comes out of it reaches the web server.
            browse(c, rng, profile, lambda r: (f"http://{SERVER_IP}:9443", ["--socks5", local, "--proxy-user", user]))
        elif c.kind == "socks_dante":
            browse(c, rng, profile, lambda r: (web, ["--socks5", f"{SERVER_IP}:1080"]))
        elif c.kind == "http_connect_tinyproxy":
            proxy = ["-x", f"http://{SERVER_IP}:8888"]
            # Mostly HTTPS through CONNECT, some plain HTTP through the same proxy.
            browse(c, rng, profile, lambda r: (f"https://{SERVER_IP}", [*proxy, "-k"]) if r.random() < 0.65
                   else (web, proxy))
        elif c.kind == "plain_http":
            browse(c, rng, profile, lambda r: (web, []))
        elif c.kind == "https":
            browse(c, rng, profile, lambda r: (f"https://{SERVER_IP}", ["-k"]))
        elif c.kind == "large_download":
            size, seconds = profile["download"], profile["download_seconds"]
            rate_kbit = size * 8 // 1000 // seconds
            # The server's send rate for this client is capped (an HTB class of its own on the
            # server's link, see Servers.start): the sending socket is held back by its qdisc and
            # loses nothing. A queue on the router instead drops up to a quarter of the packets
            # at slow rates (slow start overshoots a few-packet buffer).
            cls = f"1:{c.index + 16:x}"
            run("tc", "class", "add", "dev", IF_SERVER, "parent", "1:", "classid", cls, "htb",
                "rate", f"{rate_kbit}kbit", "ceil", f"{rate_kbit}kbit", ns=NS_SERVER)
            run("tc", "filter", "add", "dev", IF_SERVER, "parent", "1:", "protocol", "ip", "prio", "1", "u32",
                "match", "ip", "dst", f"{c.ip}/32", "flowid", cls, ns=NS_SERVER)
            r = run("curl", "-sS", "-A", USER_AGENT, "--max-time", str(seconds * 3), "-o", "/dev/null",
                    "-w", "%{http_code} %{size_download}", f"{web}/big/{size}", ns=c.ns, check=False,
                    timeout=seconds * 3 + 10)
            if r.stdout.split() == ["200", str(size)]:
                c.ok += 1
            else:
                c.failed += 1
                c.error = f"download: {r.stdout!r} {r.stderr.strip()[-200:]}"
        elif c.kind == "interactive_ssh":
            interactive_ssh(c, rng, profile, tmp)
    except Exception as e:  # one client failing must not stop the others
        c.error = c.error or str(e)
        c.failed += 1
    finally:
        for p in procs:  # closes the tunnel connection inside the capture
            stop(p)


def interactive_ssh(c, rng, profile, tmp):
    """A terminal session: commands typed a key at a time (each key one packet, echoed back by
    the remote pty), with thinking pauses between commands."""
    p = spawn([*ssh_args(tmp), "-tt", f"root@{SERVER_IP}", "/bin/sh"], c.ns, tmp / f"ssh-tty-{c.index}.log",
              stdin=subprocess.PIPE)
    commands = ["uptime", "ls /usr/share | head -n 15", "date", "for i in $(seq 10); do echo $i; sleep 0.5; done",
                "cat /etc/os-release", "df -h / | tail -n 1", "echo $((6 * 7))", "ls -l /etc | head -n 25",
                "id", "hostname", "free -m"]
    end = time.time() + rng.uniform(*profile["seconds"])
    try:
        STOP.wait(1.5)  # login and prompt
        for i, cmd in enumerate(commands):
            if time.time() > end or STOP.is_set() or p.poll() is not None:
                break
            for ch in cmd + "\n":
                p.stdin.write(ch)
                p.stdin.flush()
                STOP.wait(rng.uniform(0.05, 0.25))
            c.ok += 1
            STOP.wait(rng.uniform(1.0, 3.0))
        p.stdin.write("exit\n")
        p.stdin.flush()
        p.wait(timeout=10)
        if p.returncode != 0:
            raise RuntimeError(f"ssh exited with {p.returncode}: {log_tail(tmp / f'ssh-tty-{c.index}.log')}")
    except (BrokenPipeError, subprocess.TimeoutExpired) as e:
        raise RuntimeError(f"interactive ssh: {e}: {log_tail(tmp / f'ssh-tty-{c.index}.log')}")
    finally:
        stop(p)


# ---- capture and pcap reading ------------------------------------------------------------

def per_client_stats(path, clients):
    """Packets, bytes, connections (client SYNs), first and last packet per client address."""
    by_ip = {c.ip: c for c in clients}
    stats = {}
    for ts, orig, pkt in ethernet_ipv4(path):
        if pkt[9] != 6:
            continue
        src, dst = ".".join(map(str, pkt[12:16])), ".".join(map(str, pkt[16:20]))
        ip = src if src in by_ip else dst if dst in by_ip else None
        if ip is None:
            continue
        s = stats.setdefault(ip, dict(packets=0, bytes=0, connections=0, start=ts, end=ts, max_len=0))
        s["packets"] += 1
        s["bytes"] += orig
        s["max_len"] = max(s["max_len"], orig)
        s["start"], s["end"] = min(s["start"], ts), max(s["end"], ts)
        tcp = pkt[(pkt[0] & 15) * 4:]
        if ip == src and len(tcp) >= 14 and tcp[13] & 0x12 == 0x02:
            s["connections"] += 1
    return stats


# ---- main --------------------------------------------------------------------------------

def tool_path(tool):
    return tool if tool.startswith("/") and os.access(tool, os.X_OK) else shutil.which(tool)


def check_tools(kinds, install):
    missing = sorted({t for t in COMMON_TOOLS + [t for k in kinds for t in KINDS[k][2]] if not tool_path(t)})
    if missing and install:
        packages = sorted({PACKAGES[t] for t in missing})
        log("installing " + " ".join(packages))
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "install", "-y", *packages], check=True, env=env)
        missing = [t for t in missing if not tool_path(t)]
    if missing:
        packages = " ".join(sorted({PACKAGES[t] for t in missing}))
        sys.exit(f"netns-tunnels: missing {', '.join(missing)}: apt-get install -y {packages} (or run with --install)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out-pcap", default=str(FIXTURES / "tunnels.pcap"))
    ap.add_argument("--out-labels", default=str(FIXTURES / "tunnels.labels.jsonl"))
    ap.add_argument("--small", action="store_true",
                    help="the committed fixture: 2 clients per kind, smaller objects and download")
    ap.add_argument("--clients", type=int, help="clients per kind (default 3, --small 2)")
    ap.add_argument("--kinds", help="comma-separated kinds to run (default all): " + ",".join(KINDS))
    ap.add_argument("--install", action="store_true", help="apt-get install missing packages")
    ap.add_argument("--snaplen", type=int, default=SNAPLEN,
                    help=f"bytes kept per packet (default {SNAPLEN}, as many sensors keep; 0 keeps whole packets)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("netns-tunnels: needs root (network namespaces, tc, tcpdump, daemons inside the namespaces)")
    kinds = chosen_kinds(args.kinds, KINDS, "netns-tunnels")
    profile = dict(PROFILES["small" if args.small else "full"])
    if args.clients:
        profile["clients"] = args.clients
    if not 1 <= profile["clients"] * len(kinds) <= 150:
        sys.exit("netns-tunnels: 1 to 150 clients in all")
    check_tools(kinds, args.install)

    def terminate(*_):
        raise KeyboardInterrupt
    # SIGTERM cleans up like Ctrl-C; SIGINT too when started with it ignored (a background job).
    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, signal.default_int_handler)

    # Client addresses 10.79.1.2, 10.79.2.2, ... in kind order, slot by slot.
    clients = [Client(1 + slot * len(kinds) + i, kind, slot) for slot in range(profile["clients"])
               for i, kind in enumerate(kinds)]
    tmp = tempfile.mkdtemp(prefix="netns-tunnels-")
    os.chmod(tmp, 0o755)  # daemons that drop to nobody (danted's children) still read their files
    capture = None
    started_at = time.time()
    try:
        remove_namespaces(our_namespaces())
        log(f"building {len(clients) + 2} namespaces")
        build_topology(clients)
        log("starting the servers")
        servers = Servers(tmp, set(kinds))
        servers.start()
        raw = Path(tmp) / "capture.pcap"
        capture = start_capture(NS_SERVER, IF_SERVER, raw, args.snaplen)
        with PROCS_LOCK:
            PROCS.append(capture)
        time.sleep(0.5)
        # Staggered starts: kinds a second apart, each further client of a kind ~10 s later.
        threads = []
        t0 = time.time()
        schedule = random.Random(42)
        for c in clients:
            offset = 0.5 + kinds.index(c.kind) * 1.0 + c.slot * 10.0 + schedule.uniform(0, 1)
            def worker(c=c, offset=offset):
                if STOP.wait(max(0.0, t0 + offset - time.time())):
                    return
                session(c, servers, profile, tmp)
            th = threading.Thread(target=worker, daemon=True)
            th.start()
            threads.append(th)
        log(f"{len(clients)} client sessions running ({profile['clients']} per kind)")
        # Sessions end by themselves in about a minute; these bounds only catch a hung daemon.
        deadline = time.time() + 240
        while any(th.is_alive() for th in threads):
            if time.time() > deadline:
                if STOP.is_set():
                    log("sessions did not stop: going on without them")
                    break
                log("sessions still running after 240 s: stopping them")
                STOP.set()
                deadline = time.time() + 30
            time.sleep(0.5)
        for c in clients:
            if c.error:
                log(f"{c.kind} {c.ip}: {c.error}")
        time.sleep(1.0)  # the last FIN/ACKs
        log("tcpdump: " + capture_statistics(stop_capture(capture)))
        capture = None
        stats = per_client_stats(raw, clients)
        Path(args.out_pcap).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(raw, args.out_pcap)
    except KeyboardInterrupt:
        STOP.set()
        sys.exit("netns-tunnels: interrupted, cleaned up")
    finally:
        STOP.set()
        if capture is not None and capture.poll() is None:
            capture.kill()
        with PROCS_LOCK:
            procs = list(PROCS)
        for p in procs:
            stop(p, wait=3)
        remove_namespaces(our_namespaces())
        shutil.rmtree(tmp, ignore_errors=True)

    # A client counts when its session had no more than a few failed fetches and it left packets.
    problems, labels = [], []
    for c in clients:
        s = stats.get(c.ip)
        good = s is not None and c.ok > 0 and c.failed <= max(1, c.ok // 10) and not (c.error and c.ok == 0)
        if not good:
            problems.append(f"{c.kind} {c.ip}: {c.ok} ok, {c.failed} failed, "
                            f"{s['packets'] if s else 0} packets: {c.error or '-'}")
            continue
        if s["max_len"] > 1514:
            problems.append(f"{c.kind} {c.ip}: a {s['max_len']}-byte frame (offload still on?)")
        tunnel, port, _ = KINDS[c.kind]
        labels.append({"client_ip": c.ip, "kind": c.kind, "tunnel": tunnel, "server_port": port,
                       "start": round(s["start"], 6), "end": round(s["end"], 6), "rtt_ms": c.rtt_ms})
    Path(args.out_labels).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out_labels, "w") as f:
        for label in labels:
            f.write(json.dumps(label) + "\n")

    # One row per client address, then the kind's totals (seconds: first to last packet).
    labelled = {l["client_ip"] for l in labels}
    head = (f"{'kind':<24} {'tunnel':<6} {'client':<12} {'rtt ms':>6} {'fetches':>7} {'conns':>6} {'packets':>8} "
            f"{'bytes':>11} {'seconds':>7}")
    print("\n" + head + "\n" + "-" * len(head))
    for kind in kinds:
        tunnel = "yes" if KINDS[kind][0] else "no"
        cs = [c for c in clients if c.kind == kind and c.ip in labelled]
        if not cs:
            print(f"{kind:<24} {tunnel:<6} (none worked)")
            continue
        for c in cs:
            s = stats[c.ip]
            print(f"{kind:<24} {tunnel:<6} {c.ip:<12} {c.rtt_ms:>6} {c.ok:>7} {s['connections']:>6} {s['packets']:>8} "
                  f"{s['bytes']:>11} {s['end'] - s['start']:>7.1f}")
        ss = [stats[c.ip] for c in cs]
        span = max(s["end"] for s in ss) - min(s["start"] for s in ss)
        print(f"{kind:<24} {tunnel:<6} {f'{len(cs)} clients':<12} {'':>6} {sum(c.ok for c in cs):>7} "
              f"{sum(s['connections'] for s in ss):>6} {sum(s['packets'] for s in ss):>8} {sum(s['bytes'] for s in ss):>11} "
              f"{span:>7.1f}")
    print(f"\n{len(labels)} client addresses labelled; {os.path.getsize(args.out_pcap)} bytes in {args.out_pcap}; "
          f"labels in {args.out_labels}; {time.time() - started_at:.0f} s")
    exit_on_problems(problems)


if __name__ == "__main__":
    main()
