#!/usr/bin/env python3
"""Captures the TLS ClientHellos of real clients in network namespaces, with a labels file.

Builds two network namespaces of its own, joined by a veth pair:

    synprint-tls-client (10.81.0.11, .12, ...: one address per client kind)
        <-> synprint-tls-server (10.81.0.1: nginx, HTTPS on port 443, ALPN h2 and http/1.1)

and records `tcp port 443` with tcpdump on the server's veth (pcap, snaplen 2048: whole
ClientHellos). nginx runs with its own configuration in a temporary directory and a certificate
for tls.synprint.test made at run time by openssl (a throwaway CA and a server certificate, EC
P-256). Every client resolves tls.synprint.test through an /etc/hosts of its own (bind-mounted
in a private mount namespace), trusts the CA the way that client is usually told to (an NSS
database, a CA file, an environment variable, a Java trust store) and otherwise keeps its
defaults, so its ClientHello is the one it sends by default. The kinds, in address order:

    kind      address     client                                  TLS library
    chromium  10.81.0.11  chromium --headless=new --dump-dom      BoringSSL (bundled)
    firefox   10.81.0.12  firefox-esr --headless --screenshot     NSS (bundled with Firefox)
    curl      10.81.0.13  curl                                    OpenSSL (Debian's build)
    wget      10.81.0.14  wget                                    GnuTLS (Debian's build)
    gnutls    10.81.0.15  gnutls-cli, a request on stdin          GnuTLS
    openssl   10.81.0.16  openssl s_client, a request on stdin    OpenSSL
    python    10.81.0.17  Debian's python3, urllib.request        Python ssl over OpenSSL
    node      10.81.0.18  node, the https module                  Node tls over OpenSSL
    java      10.81.0.19  java Client.java, java.net.http         JSSE
    go        10.81.0.20  a net/http program built with go        Go crypto/tls

Kinds run one after another; before each, the client namespace's route to the server takes
that kind's address as its source, so no client needs a bind option. Each client is started
--runs times (default 3), one page fetch per start; a start counts when it exits 0 and nginx
logged a 200 (or a browser's 304) for / from that address. A run takes 15 to 30 seconds.

The labels file has one JSON line per client kind whose starts all worked: client_ip, kind,
library (with its version where the client reports it), version (the client's own version
string), connections (client SYNs in the capture), start and end (first and last packet of
that address, epoch seconds). Two tables are printed: per kind the address, good starts,
connections, ClientHellos and packets, with the client's version, TLS library and Debian
package; then what the ClientHellos offer (SNI, ALPN, TLS versions, cipher suites and extensions
without GREASE values, whether GREASE appears, groups, whether the extension order changes
between connections), read from the capture by a small parser here. --out-doc writes both,
per kind, as Markdown (the committed docs/TLS-CLIENTS.md). A kind whose tools are missing, or
whose starts failed, is named and the others go on; the run then exits 1.

Needs root. It only creates and changes the two namespaces above (interfaces, addresses, a
route, offloads) and runs its processes inside them with their files (profiles, homes, trust
stores, nginx's logs and temporary paths) in a temporary directory. Everything it started is
ended and the namespaces and the directory are removed at the end, on errors and on Ctrl-C.
Stale namespaces with the same names from an earlier run are removed first. Traffic never
leaves the namespaces.

    sudo tools/netns-tls.py \\
        --out-pcap Tests/SynprintTests/Fixtures/tls-clients.pcap \\
        --out-labels Tests/SynprintTests/Fixtures/tls-clients.labels.jsonl \\
        --out-doc docs/TLS-CLIENTS.md                                  # the committed fixture
    sudo tools/netns-tls.py --kinds curl,go --runs 1 \\
        --out-pcap /tmp/tls.pcap --out-labels /tmp/tls.labels.jsonl    # a quick look at some kinds

Debian packages used: iproute2, util-linux, mount, tcpdump, nginx, openssl, libnss3-tools
(certutil), chromium, firefox-esr, curl, wget, gnutls-bin, python3, nodejs, default-jdk-headless
(java runs Client.java from source, which needs the JDK's compiler), golang-go. Missing ones are
named at start; --install runs apt-get install -y for them. The script uses none of their system
services (installing nginx may start Debian's; it does not need or touch it).
"""
import argparse, ctypes, json, os, re, shutil, signal, subprocess, sys, tempfile, time
from pathlib import Path

from netns_common import (SEGMENTATION, TX_CHECKSUM, add_namespaces, capture_statistics, chosen_kinds, ethernet_ipv4,
                          exit_on_problems, remove_namespaces, run as common_run, start_capture, stop_capture, veth)

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "Tests" / "SynprintTests" / "Fixtures"

NS_CLIENT, NS_SERVER = "synprint-tls-client", "synprint-tls-server"
IF_CLIENT, IF_SERVER = "stlc0", "stls0"
SERVER_IP = "10.81.0.1"
SERVER_NAME = "tls.synprint.test"
URL = f"https://{SERVER_NAME}/"
SNAPLEN = 2048
RUNS = 3
DEBIAN_PYTHON = "/usr/bin/python3"  # Debian's Python, not another python3 earlier on PATH
TRUST_STORE_PASSWORD = "synprint-tls"

# kind -> (TLS library, tools it needs, the client program first; seconds a start may take)
KINDS = {
    "chromium": ("BoringSSL", ["chromium", "certutil"], 90),
    "firefox": ("NSS", ["firefox-esr", "certutil"], 90),
    "curl": ("OpenSSL", ["curl"], 30),
    "wget": ("GnuTLS", ["wget"], 30),
    "gnutls": ("GnuTLS", ["gnutls-cli"], 30),
    "openssl": ("OpenSSL", ["openssl"], 30),
    "python": ("Python ssl over OpenSSL", [DEBIAN_PYTHON], 30),
    "node": ("Node tls over OpenSSL", ["node"], 30),
    "java": ("JSSE", ["java", "javac", "keytool"], 90),
    "go": ("Go crypto/tls", ["go"], 30),
}
COMMON_TOOLS = ["ip", "ss", "tcpdump", "nginx", "openssl", "unshare", "mount"]
PACKAGES = {"ip": "iproute2", "ss": "iproute2", "tcpdump": "tcpdump", "nginx": "nginx", "openssl": "openssl",
            "unshare": "util-linux", "mount": "mount", "certutil": "libnss3-tools", "chromium": "chromium",
            "firefox-esr": "firefox-esr", "curl": "curl", "wget": "wget", "gnutls-cli": "gnutls-bin",
            DEBIAN_PYTHON: "python3", "node": "nodejs", "java": "default-jdk-headless",
            "javac": "default-jdk-headless", "keytool": "default-jdk-headless", "go": "golang-go"}

PAGE = "<!doctype html>\n<html><head><title>synprint TLS</title></head><body><p>A small page.</p></body></html>\n"
REQUEST = f"GET / HTTP/1.1\r\nHost: {SERVER_NAME}\r\nConnection: close\r\n\r\n"

PYTHON_CLIENT = r"""
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=20) as response:
    response.read()
sys.exit(response.status != 200)
"""

NODE_CLIENT = r"""
const https = require("https");
https.get(process.argv[1], response => {
    response.resume();
    response.on("end", () => process.exit(response.statusCode === 200 ? 0 : 1));
}).on("error", error => { console.error(error.message); process.exit(1); });
"""

JAVA_CLIENT = r"""
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;

public class Client {
    public static void main(String[] args) throws Exception {
        HttpResponse<String> response = HttpClient.newHttpClient().send(
                HttpRequest.newBuilder(URI.create(args[0])).build(), HttpResponse.BodyHandlers.ofString());
        System.exit(response.statusCode() == 200 ? 0 : 1);
    }
}
"""

GO_CLIENT = r"""
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
)

func main() {
	response, err := http.Get(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer response.Body.Close()
	io.Copy(io.Discard, response.Body)
	if response.StatusCode != 200 {
		os.Exit(1)
	}
}
"""


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def clean_env(home=None):
    """The caller's environment without proxies (they would redirect the clients) or desktop
    session variables; HOME, when given, keeps what clients write to their home in the run's
    directory."""
    env = {k: v for k, v in os.environ.items()
           if "proxy" not in k.lower() and not k.startswith(("XDG_", "DBUS_", "DISPLAY", "WAYLAND_"))}
    if home is not None:
        env["HOME"] = str(home)
    return env


def run(*args, ns=None, check=True, timeout=120, env=None):
    return common_run(*args, ns=ns, check=check, capture=True, timeout=timeout, env=env or clean_env())


def tool_path(tool):
    return tool if tool.startswith("/") and os.access(tool, os.X_OK) else shutil.which(tool)


def first_line(*args, env=None):
    """First non-empty line a command prints (stdout, else stderr: java -version uses stderr)."""
    r = run(*args, check=False, timeout=60, env=env)
    lines = [line.strip() for line in (r.stdout + "\n" + r.stderr).splitlines() if line.strip()]
    return lines[0] if lines else ""


def debian_package(tool):
    """The Debian package that installed a program, with its version ("-" when none did)."""
    path = tool_path(tool)
    # The program itself (symlinks resolved) first, else the name found on PATH.
    for candidate in dict.fromkeys([os.path.realpath(path), path]):
        r = run("dpkg-query", "-S", candidate, check=False)
        if r.returncode == 0:
            name = r.stdout.split(": ")[0].split(":")[0]  # "package[:arch]: path"
            return f"{name} {run('dpkg-query', '-W', '-f', '${Version}', name).stdout.strip()}"
    return "-"


def gnutls_version():
    """The version libgnutls reports of itself (gnutls_check_version(NULL))."""
    check = ctypes.CDLL("libgnutls.so.30").gnutls_check_version
    check.restype = ctypes.c_char_p
    return check(None).decode()


# ---- namespaces and the server -----------------------------------------------------------

def client_ip(kind):
    return f"10.81.0.{11 + list(KINDS).index(kind)}"


def build_topology():
    add_namespaces([NS_CLIENT, NS_SERVER])
    veth(NS_CLIENT, IF_CLIENT, [f"{client_ip(kind)}/24" for kind in KINDS], NS_SERVER, IF_SERVER, [f"{SERVER_IP}/24"],
         offloads=(TX_CHECKSUM, *SEGMENTATION))


def use_source(kind):
    """New connections from the client namespace to the server leave from the kind's address."""
    run("ip", "-n", NS_CLIENT, "route", "replace", f"{SERVER_IP}/32", "dev", IF_CLIENT, "src", client_ip(kind))


def make_pki(tmp):
    """A throwaway CA and a server certificate for SERVER_NAME (EC P-256, valid two days)."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("openssl", "req", "-x509", *ec, "-keyout", tmp / "ca.key", "-out", tmp / "ca.crt", "-days", "2",
        "-subj", "/CN=synprint-tls-ca", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("openssl", "req", *ec, "-keyout", tmp / "server.key", "-out", tmp / "server.csr", "-subj", f"/CN={SERVER_NAME}")
    (tmp / "server.ext").write_text(f"subjectAltName=DNS:{SERVER_NAME}\nbasicConstraints=CA:FALSE\n"
                                    "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
    run("openssl", "x509", "-req", "-in", tmp / "server.csr", "-CA", tmp / "ca.crt", "-CAkey", tmp / "ca.key",
        "-CAcreateserial", "-extfile", tmp / "server.ext", "-out", tmp / "server.crt", "-days", "2")


def start_nginx(tmp):
    """nginx in the server namespace, everything it writes in `tmp`; the access log names the
    client address and status of every request, which is how a client start is judged."""
    (tmp / "html").mkdir()
    (tmp / "html" / "index.html").write_text(PAGE)
    temp_paths = " ".join(f"{name}_temp_path {tmp / name};" for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (tmp / "nginx.conf").write_text(f"""daemon off;
worker_processes 1;
pid {tmp / 'nginx.pid'};
error_log {tmp / 'nginx-error.log'} warn;
events {{ worker_connections 256; }}
http {{
    log_format clients '$remote_addr $status "$request"';
    access_log {tmp / 'access.log'} clients;
    {temp_paths}
    default_type text/html;
    server {{
        listen {SERVER_IP}:443 ssl http2;
        server_name {SERVER_NAME};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_certificate {tmp / 'server.crt'};
        ssl_certificate_key {tmp / 'server.key'};
        root {tmp / 'html'};
    }}
}}
""")
    with open(tmp / "nginx.log", "w") as out:
        proc = subprocess.Popen(["ip", "netns", "exec", NS_SERVER, "nginx", "-p", str(tmp), "-c", str(tmp / "nginx.conf"),
                                 "-e", str(tmp / "nginx-error.log")], stdout=out, stderr=out, env=clean_env())
    deadline = time.time() + 15
    while not run("ss", "-Hltn", "sport = :443", ns=NS_SERVER).stdout.strip():
        if proc.poll() is not None or time.time() > deadline:
            raise RuntimeError("nginx did not start: " + (tmp / "nginx-error.log").read_text(errors="replace")[-300:])
        time.sleep(0.2)
    return proc


def good_fetches(tmp, ip):
    """Answers to / that nginx logged for a client address: 200, or 304 to a browser that
    revalidates its cached copy on a later start."""
    try:
        lines = (tmp / "access.log").read_text().splitlines()
    except FileNotFoundError:
        return 0
    return sum(1 for line in lines if line.startswith((f"{ip} 200 \"GET / ", f"{ip} 304 \"GET / ")))


# ---- clients -----------------------------------------------------------------------------

def nss_database(path, tmp):
    """An NSS database at `path` that trusts the run's CA for TLS servers (what the browsers read)."""
    path.mkdir(parents=True)
    run("certutil", "-N", "-d", f"sql:{path}", "--empty-password")
    run("certutil", "-A", "-d", f"sql:{path}", "-n", "synprint-tls-ca", "-t", "C,,", "-i", tmp / "ca.crt")


def prepare(kind, tmp):
    """Sets up what a kind needs (home, trust in the CA, program); returns its command for one
    fetch, its environment, what it reads on stdin, its version string, TLS library and package."""
    home = tmp / f"home-{kind}"
    home.mkdir()
    env = clean_env(home)
    ca = tmp / "ca.crt"
    library = KINDS[kind][0]
    stdin = None
    if kind == "chromium":
        nss_database(home / ".pki" / "nssdb", tmp)  # Chromium on Linux trusts roots added there
        command = ["chromium", "--headless=new", "--no-sandbox", "--no-first-run", "--disable-background-networking",
                   f"--user-data-dir={home / 'profile'}", "--dump-dom", URL]
        version = first_line("chromium", "--version", env=env).split(" built on")[0]
        library += " (bundled)"
    elif kind == "firefox":
        profile = home / "profile"
        nss_database(profile, tmp)
        # Names through the system resolver (/etc/hosts), never DNS over HTTPS.
        (profile / "user.js").write_text('user_pref("network.trr.mode", 5);\n')
        command = ["firefox-esr", "--headless", "--no-remote", "--profile", profile, "--screenshot", home / "page.png", URL]
        version = first_line("firefox-esr", "--version", env=env)
        # Firefox loads the NSS next to it; its libnss3 names its version.
        nss = Path(os.path.realpath(tool_path("firefox-esr"))).parent / "libnss3.so"
        found = re.search(rb"Version: NSS ([0-9.]+)", nss.read_bytes()) if nss.exists() else None
        library += f" {found.group(1).decode()} (bundled)" if found else ""
    elif kind == "curl":
        command = ["curl", "-sS", "-o", "/dev/null", "--cacert", ca, URL]
        line = first_line("curl", "--version", env=env)
        version = " ".join(line.split()[:2])
        found = re.search(r"\b(OpenSSL|GnuTLS|NSS|wolfSSL|mbedTLS|BoringSSL|LibreSSL|rustls)/(\S+)", line)
        library = " ".join(found.groups()) if found else library
    elif kind == "wget":
        command = ["wget", "-q", "-O", "/dev/null", f"--ca-certificate={ca}", URL]
        version = first_line("wget", "--version", env=env).split(" built on")[0]
        features = run("wget", "--version", env=env).stdout
        library = f"GnuTLS {gnutls_version()}" if "+ssl/gnutls" in features else "OpenSSL"
    elif kind == "gnutls":
        command = ["gnutls-cli", "--x509cafile", ca, "-p", "443", SERVER_NAME]
        stdin = REQUEST
        version = first_line("gnutls-cli", "--version", env=env)
        library += f" {gnutls_version()}"
    elif kind == "openssl":
        command = ["openssl", "s_client", "-connect", f"{SERVER_NAME}:443", "-servername", SERVER_NAME,
                   "-CAfile", ca, "-verify_return_error", "-quiet"]  # -quiet: waits for the answer after stdin ends
        stdin = REQUEST
        line = first_line("openssl", "version", env=env)
        version = line.split(" (Library")[0]
        found = re.search(r"Library: OpenSSL (\S+)", line) or re.search(r"OpenSSL (\S+)", line)
        library += f" {found.group(1)}" if found else ""
    elif kind == "python":
        command = [DEBIAN_PYTHON, "-c", PYTHON_CLIENT, URL]
        env["SSL_CERT_FILE"] = str(ca)  # read by OpenSSL's default verify paths, which ssl loads
        about = run(DEBIAN_PYTHON, "-c", "import ssl, sys; print(sys.version.split()[0]); print(ssl.OPENSSL_VERSION)",
                    env=env).stdout.split("\n")
        version = f"Python {about[0]}"
        library = "Python ssl over " + " ".join(about[1].split()[:2])
    elif kind == "node":
        command = ["node", "-e", NODE_CLIENT, URL]
        env["NODE_EXTRA_CA_CERTS"] = str(ca)
        about = run("node", "-p", "process.version + ' ' + process.versions.openssl", env=env).stdout.split()
        version = f"Node.js {about[0]}"
        library = f"Node tls over OpenSSL {about[1]}"
    elif kind == "java":
        store = home / "trust.p12"
        run("keytool", "-importcert", "-noprompt", "-alias", "synprint-tls-ca", "-file", ca, "-keystore", store,
            "-storetype", "PKCS12", "-storepass", TRUST_STORE_PASSWORD, env=env)
        (home / "Client.java").write_text(JAVA_CLIENT)
        # -XX:-UsePerfData: no hsperfdata directory under the system's /tmp.
        command = ["java", "-XX:-UsePerfData", f"-Duser.home={home}", f"-Djavax.net.ssl.trustStore={store}",
                   f"-Djavax.net.ssl.trustStorePassword={TRUST_STORE_PASSWORD}", home / "Client.java", URL]
        about = run("java", "-XX:-UsePerfData", "-version", env=env).stderr
        runtime = re.search(r"^(\S+) Runtime Environment .*\(build ([^)]+)\)", about, re.M)  # "OpenJDK", its build
        version = " ".join(runtime.groups()) if runtime else about.strip().splitlines()[0]
        library += f" ({runtime.group(1)} {runtime.group(2).split('+')[0]})" if runtime else ""
    elif kind == "go":
        (home / "client.go").write_text(GO_CLIENT)
        # Built on the host before the capture: no cgo (so no C compiler needed, and Go's own
        # resolver reads /etc/hosts), no module downloads, caches in the run's directory.
        env.update(CGO_ENABLED="0", GOPROXY="off", GOFLAGS="", GOCACHE=str(home / "cache"), GOPATH=str(home / "go"))
        run("go", "build", "-o", home / "client", home / "client.go", env=env, timeout=300)
        command = [home / "client", URL]
        env["SSL_CERT_FILE"] = str(ca)
        version = run("go", "env", "GOVERSION", env=env).stdout.strip()
        library += f" ({version})"
    return dict(command=[str(a) for a in command], env=env, stdin=stdin, version=version, library=library,
                package=debian_package(KINDS[kind][1][0]))


def in_client_namespace(command, tmp):
    """The command run in the client namespace with its own /etc/hosts (a private mount
    namespace: the host's file is untouched)."""
    return ["ip", "netns", "exec", NS_CLIENT, "unshare", "--mount", "--propagation", "private",
            "sh", "-c", 'mount --bind "$0" /etc/hosts && exec "$@"', str(tmp / "hosts"), *command]


def end_client_processes():
    """Ends whatever is left in the client namespace (browser helpers), so that the next kind's
    traffic is its own."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = run("ip", "netns", "pids", NS_CLIENT, check=False).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), sig)
            except (ProcessLookupError, ValueError):
                pass
        if not pids:
            return
        time.sleep(0.5)


def start_client(kind, client, tmp, log_path):
    """One start of a client, at most the kind's time; returns its exit status (None on timeout)."""
    with open(log_path, "a") as out:
        proc = subprocess.Popen(in_client_namespace(client["command"], tmp),
                                stdin=subprocess.PIPE if client["stdin"] else subprocess.DEVNULL, stdout=out, stderr=out,
                                env=client["env"], text=True, cwd=client["env"]["HOME"], start_new_session=True)
        try:
            proc.communicate(client["stdin"], timeout=KINDS[kind][2])
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return None
        finally:
            end_client_processes()
    return proc.returncode


def log_tail(path, n=3):
    try:
        return " | ".join(Path(path).read_text(errors="replace").strip().splitlines()[-n:])
    except OSError:
        return ""


# ---- capture reading ---------------------------------------------------------------------

def read_capture(path, ips):
    """Per client address: packets, connections (client SYNs), first and last packet,
    largest frame, and for each connection the first bytes the client sent, in sequence order."""
    stats, open_streams = {}, {}
    for ts, orig, pkt in ethernet_ipv4(path):
        ihl = (pkt[0] & 15) * 4
        if pkt[9] != 6 or len(pkt) < ihl + 20:
            continue
        src, dst = ".".join(map(str, pkt[12:16])), ".".join(map(str, pkt[16:20]))
        ip = src if src in ips else dst if dst in ips else None
        if ip is None:
            continue
        s = stats.setdefault(ip, dict(packets=0, connections=0, start=ts, end=ts, max_len=0, streams=[]))
        s["packets"] += 1
        s["max_len"] = max(s["max_len"], orig)
        s["start"], s["end"] = min(s["start"], ts), max(s["end"], ts)
        if ip != src:
            continue
        tcp = pkt[ihl:int.from_bytes(pkt[2:4], "big")]
        port, seq, flags = int.from_bytes(tcp[0:2], "big"), int.from_bytes(tcp[4:8], "big"), tcp[13]
        stream = open_streams.get((ip, port))
        if flags & 0x12 == 0x02:
            if stream is None or stream["isn"] != seq:  # not a retransmitted SYN: a new connection
                stream = open_streams[(ip, port)] = dict(isn=seq, segments=[])
                s["connections"] += 1
                s["streams"].append(stream)
            continue
        payload = tcp[(tcp[12] >> 4) * 4:]
        if stream is not None and payload:
            stream["segments"].append(((seq - stream["isn"] - 1) % 2**32, payload))
    for s in stats.values():
        s["streams"] = [assemble(stream["segments"]) for stream in s.pop("streams")]
    return stats


def assemble(segments, limit=65536):
    """The stream's bytes from its start, segments placed by offset (retransmissions overlap),
    up to the first gap."""
    data = bytearray()
    for offset, payload in sorted(segments, key=lambda segment: segment[0]):
        if offset > len(data) or offset >= limit:
            break
        data += payload[len(data) - offset:]
    return bytes(data)


VERSIONS = {0x0304: "1.3", 0x0303: "1.2", 0x0302: "1.1", 0x0301: "1.0", 0x0300: "SSL3"}
GROUPS = {0x0017: "secp256r1", 0x0018: "secp384r1", 0x0019: "secp521r1", 0x001d: "x25519", 0x001e: "x448",
          0x0100: "ffdhe2048", 0x0101: "ffdhe3072", 0x0102: "ffdhe4096", 0x0103: "ffdhe6144", 0x0104: "ffdhe8192",
          0x11eb: "SecP256r1MLKEM768", 0x11ec: "X25519MLKEM768", 0x11ed: "SecP384r1MLKEM1024",
          0x6399: "X25519Kyber768Draft00", 0x0200: "MLKEM512", 0x0201: "MLKEM768", 0x0202: "MLKEM1024"}


def is_grease(value):
    """RFC 8701's reserved values 0x0a0a, 0x1a1a, ... 0xfafa."""
    return value & 0x0f0f == 0x0a0a and value >> 8 == value & 0xff


def u16s(data):
    return [int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data) - 1, 2)]


def client_hello(stream):
    """What the ClientHello at the start of a client's stream offers (TLS handshake records,
    type 22, whose first message is a ClientHello, type 1); None when the stream starts
    otherwise or is cut short."""
    handshake, offset = b"", 0
    while offset + 5 <= len(stream) and stream[offset] == 22:
        length = int.from_bytes(stream[offset + 3:offset + 5], "big")
        handshake += stream[offset + 5:offset + 5 + length]
        offset += 5 + length
        if len(handshake) >= 4 and len(handshake) >= 4 + int.from_bytes(handshake[1:4], "big"):
            break
    if len(handshake) < 4 or handshake[0] != 1 or len(handshake) < 4 + int.from_bytes(handshake[1:4], "big"):
        return None
    body = handshake[4:4 + int.from_bytes(handshake[1:4], "big")]
    legacy_version = int.from_bytes(body[0:2], "big")
    p = 34 + 1 + body[34]  # version, random, session id
    ciphers = u16s(body[p + 2:p + 2 + int.from_bytes(body[p:p + 2], "big")])
    p += 2 + int.from_bytes(body[p:p + 2], "big")
    p += 1 + body[p]  # compression methods
    end = p + 2 + int.from_bytes(body[p:p + 2], "big")
    p += 2
    extensions = []
    while p + 4 <= end:
        kind, length = int.from_bytes(body[p:p + 2], "big"), int.from_bytes(body[p + 2:p + 4], "big")
        extensions.append((kind, body[p + 4:p + 4 + length]))
        p += 4 + length
    data = dict(extensions)
    sni = None
    if 0 in data and len(data[0]) >= 5 and data[0][2] == 0:
        sni = data[0][5:5 + int.from_bytes(data[0][3:5], "big")].decode(errors="replace")
    alpn, q = [], 2
    while q < len(data.get(16, b"")):
        alpn.append(data[16][q + 1:q + 1 + data[16][q]].decode(errors="replace"))
        q += 1 + data[16][q]
    versions = u16s(data[43][1:1 + data[43][0]]) if 43 in data else [legacy_version]
    groups = u16s(data[10][2:]) if 10 in data else []
    types = [kind for kind, _ in extensions]
    return dict(sni=sni or "-", alpn=",".join(alpn) or "-",
                versions=",".join(VERSIONS.get(v, f"0x{v:04x}") for v in versions if not is_grease(v)),
                ciphers=sum(1 for c in ciphers if not is_grease(c)),
                extensions=sum(1 for t in types if not is_grease(t)),
                grease="yes" if any(is_grease(v) for v in ciphers + types + groups + versions) else "no",
                groups=",".join(GROUPS.get(g, f"0x{g:04x}") for g in groups if not is_grease(g)) or "-",
                order=tuple(t for t in types if not is_grease(t)))


def describe(hellos):
    """A kind's ClientHello facts: each the one value seen, or the values joined by ' / '; the
    extension order "fixed" or how many orders the connections used."""
    facts = {}
    for key in ("sni", "alpn", "versions", "ciphers", "extensions", "grease", "groups"):
        values = list(dict.fromkeys(str(h[key]) for h in hellos))
        facts[key] = " / ".join(values)
    orders = len({h["order"] for h in hellos})
    facts["order"] = "fixed" if orders == 1 else f"{orders} orders in {len(hellos)}"
    return facts


FACT_COLUMNS = [("sni", "SNI"), ("alpn", "ALPN"), ("versions", "versions"), ("ciphers", "suites"),
                ("extensions", "extensions"), ("grease", "GREASE"), ("groups", "groups"), ("order", "extension order")]


def write_doc(path, rows):
    """docs/TLS-CLIENTS.md: the facts table of the run that made the fixture."""
    lines = [
        "# TLS ClientHellos of real clients",
        "",
        "`tools/netns-tls.py` runs real TLS clients, installed as Debian packages (the package column),",
        "against nginx in two network namespaces and records what they send to port 443. Its output is",
        "the fixture `Tests/SynprintTests/Fixtures/tls-clients.pcap` with `tls-clients.labels.jsonl`",
        "(one client address per kind, `client_ip` to `kind`, `library` and `version`). Every client",
        "keeps its defaults except for trusting the run's CA, and fetches `https://tls.synprint.test/`",
        "in separate starts, so each connection begins with a full handshake.",
        "",
        "What the captured ClientHellos offer, per client. Suites and extensions are counted without",
        "GREASE values (RFC 8701); GREASE says whether any appear (suites, extensions, groups or",
        "versions). Versions are those of `supported_versions`, else the legacy version. Groups are",
        "`supported_groups` in the client's order. Where connections of one client differ, the values",
        "are joined by ` / `; the extension order is `fixed` when every connection used the same one.",
        "",
        "| kind | client | TLS library | package | ClientHellos | " + " | ".join(title for _, title in FACT_COLUMNS) + " |",
        "|" + "---|" * (5 + len(FACT_COLUMNS)),
    ]
    for row in rows:
        cells = ([row["kind"], row["version"], row["library"], row["package"], str(row["hellos"])]
                 + [row["facts"][k] for k, _ in FACT_COLUMNS])
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    lines += [
        "",
        "Regenerate (root; the Debian packages the script lists; 15 to 30 seconds):",
        "",
        "```sh",
        "sudo tools/netns-tls.py \\",
        "    --out-pcap Tests/SynprintTests/Fixtures/tls-clients.pcap \\",
        "    --out-labels Tests/SynprintTests/Fixtures/tls-clients.labels.jsonl \\",
        "    --out-doc docs/TLS-CLIENTS.md",
        "```",
        "",
    ]
    Path(path).write_text("\n".join(lines))


# ---- main --------------------------------------------------------------------------------

def missing_tools(tools):
    return sorted({t for t in tools if not tool_path(t)})


def install(tools):
    packages = sorted({PACKAGES[t] for t in tools})
    log("installing " + " ".join(packages))
    subprocess.run(["apt-get", "install", "-y", *packages], check=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out-pcap", default=str(FIXTURES / "tls-clients.pcap"))
    ap.add_argument("--out-labels", default=str(FIXTURES / "tls-clients.labels.jsonl"))
    ap.add_argument("--out-doc", help="also write the ClientHello facts as Markdown (docs/TLS-CLIENTS.md)")
    ap.add_argument("--kinds", help="comma-separated kinds to run (default all): " + ",".join(KINDS))
    ap.add_argument("--runs", type=int, default=RUNS, help=f"starts of each client, one fetch each (default {RUNS})")
    ap.add_argument("--install", action="store_true", help="apt-get install missing packages")
    ap.add_argument("--snaplen", type=int, default=SNAPLEN, help=f"bytes kept per packet (default {SNAPLEN})")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("netns-tls: needs root (network namespaces, tcpdump, mounts inside the namespaces)")
    kinds = chosen_kinds(args.kinds, KINDS, "netns-tls")
    if not 1 <= args.runs <= 10:
        sys.exit("netns-tls: --runs from 1 to 10")

    wanted = COMMON_TOOLS + [t for k in kinds for t in KINDS[k][1]]
    if args.install and missing_tools(wanted):
        install(missing_tools(wanted))
    missing = missing_tools(COMMON_TOOLS)
    if missing:
        packages = " ".join(sorted({PACKAGES[t] for t in missing}))
        sys.exit(f"netns-tls: missing {', '.join(missing)}: apt-get install -y {packages} (or run with --install)")
    problems = []
    for kind in list(kinds):
        missing = missing_tools(KINDS[kind][1])
        if missing:
            packages = " ".join(sorted({PACKAGES[t] for t in missing}))
            problems.append(f"{kind}: missing {', '.join(missing)} (apt-get install -y {packages}); not run")
            log(problems[-1])
            kinds.remove(kind)

    def terminate(*_):
        raise KeyboardInterrupt
    # SIGTERM cleans up like Ctrl-C; SIGINT too when started with it ignored (a background job).
    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, signal.default_int_handler)

    tmp = Path(tempfile.mkdtemp(prefix="netns-tls-"))
    os.chmod(tmp, 0o755)  # nginx's workers (nobody) read the page
    nginx = capture = None
    started_at = time.time()
    prepared, results = {}, {}
    try:
        remove_namespaces([NS_CLIENT, NS_SERVER])
        log("building the namespaces, the certificates and the server")
        build_topology()
        make_pki(tmp)
        (tmp / "hosts").write_text(f"127.0.0.1 localhost\n{SERVER_IP} {SERVER_NAME}\n")
        nginx = start_nginx(tmp)
        for kind in kinds:
            try:
                prepared[kind] = prepare(kind, tmp)
            except Exception as e:  # one client failing must not stop the others
                problems.append(f"{kind}: could not be set up: {str(e)[-300:]}")
                log(problems[-1])
        raw = tmp / "capture.pcap"
        capture = start_capture(NS_SERVER, IF_SERVER, raw, args.snaplen, words=("tcp", "port", "443"), immediate=True)
        time.sleep(0.5)
        for kind in prepared:
            client = prepared[kind]
            log(f"{kind} ({client['version']}; {client['library']}; {client['package']}) from {client_ip(kind)}")
            use_source(kind)
            ok, failures = 0, []
            for _ in range(args.runs):
                before = good_fetches(tmp, client_ip(kind))
                status = start_client(kind, client, tmp, tmp / f"{kind}.log")
                if status == 0 and good_fetches(tmp, client_ip(kind)) > before:
                    ok += 1
                else:
                    failures.append("timed out" if status is None else f"exit {status}")
            results[kind] = (ok, failures)
            if failures:
                log(f"{kind}: {len(failures)} of {args.runs} starts failed ({', '.join(failures)}): "
                    f"{log_tail(tmp / f'{kind}.log')}")
        time.sleep(1.0)  # the last FIN/ACKs
        log("tcpdump: " + capture_statistics(stop_capture(capture)))
        capture = None
        stats = read_capture(raw, {client_ip(k) for k in prepared})
        Path(args.out_pcap).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(raw, args.out_pcap)
    except KeyboardInterrupt:
        sys.exit("netns-tls: interrupted, cleaned up")
    finally:
        for proc in (capture, nginx):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        remove_namespaces([NS_CLIENT, NS_SERVER])
        shutil.rmtree(tmp, ignore_errors=True)

    # A kind counts when every start fetched the page and each gave a ClientHello.
    labels, rows = [], []
    for kind in prepared:
        ip, (ok, failures) = client_ip(kind), results[kind]
        client = prepared[kind]
        s = stats.get(ip)
        hellos = [h for h in (client_hello(stream) for stream in s["streams"]) if h] if s else []
        if failures or len(hellos) < ok:
            problems.append(f"{kind} {ip}: {ok} of {args.runs} starts fetched the page ({', '.join(failures) or '-'}), "
                            f"{len(hellos)} ClientHellos, {s['packets'] if s else 0} packets; see its log above")
            continue
        if s["max_len"] > 1514:
            problems.append(f"{kind} {ip}: a {s['max_len']}-byte frame (offload still on?)")
        labels.append({"client_ip": ip, "kind": kind, "library": client["library"], "version": client["version"],
                       "connections": s["connections"], "start": round(s["start"], 6), "end": round(s["end"], 6)})
        rows.append(dict(kind=kind, ip=ip, ok=ok, version=client["version"], library=client["library"],
                         package=client["package"], hellos=len(hellos),
                         connections=s["connections"], packets=s["packets"], facts=describe(hellos)))
    Path(args.out_labels).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out_labels, "w") as f:
        for label in labels:
            f.write(json.dumps(label) + "\n")

    head = f"{'kind':<9} {'client':<11} {'starts':>6} {'conns':>5} {'hellos':>6} {'packets':>7}  version; library; package"
    print("\n" + head + "\n" + "-" * len(head))
    for r in rows:
        print(f"{r['kind']:<9} {r['ip']:<11} {r['ok']:>6} {r['connections']:>5} {r['hellos']:>6} {r['packets']:>7}  "
              f"{r['version']}; {r['library']}; {r['package']}")
    widths = {key: max([len(title)] + [len(r["facts"][key]) for r in rows]) for key, title in FACT_COLUMNS}
    head = f"{'kind':<9} " + " ".join(f"{title:<{widths[key]}}" for key, title in FACT_COLUMNS)
    print("\n" + head + "\n" + "-" * len(head))
    for r in rows:
        print(f"{r['kind']:<9} " + " ".join(f"{r['facts'][key]:<{widths[key]}}" for key, _ in FACT_COLUMNS))
    if args.out_doc:
        write_doc(args.out_doc, rows)
    print(f"\n{len(labels)} client kinds labelled; {os.path.getsize(args.out_pcap)} bytes in {args.out_pcap}; "
          f"labels in {args.out_labels}{f'; facts in {args.out_doc}' if args.out_doc else ''}; "
          f"{time.time() - started_at:.0f} s")
    exit_on_problems(problems)


if __name__ == "__main__":
    main()
