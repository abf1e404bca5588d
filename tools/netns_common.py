"""What the scripts that capture real traffic in network namespaces share (netns-capture.py,
netns-connections.py, netns-tunnels.py): commands run inside a namespace, stale namespaces
removed, tcpdump started and stopped at a veth, classic pcap files read, and offloads turned off
on a veth so that captured packets carry real checksums and sizes."""
import os, signal, struct, subprocess, sys, time
from pathlib import Path

# ethtool ioctls by number (SIOCETHTOOL 0x8946): ETHTOOL_STXCSUM (0x17) turns transmit checksum
# offload off; ETHTOOL_STSO (0x1f), ETHTOOL_SGSO (0x24) and ETHTOOL_SGRO (0x2c) turn
# segmentation and receive coalescing off. Run as `python3 -c OFFLOAD_OFF DEVICE NUMBER...`
# inside the device's namespace (no ethtool binary needed).
TX_CHECKSUM = "0x17"
SEGMENTATION = ("0x1f", "0x24", "0x2c")
OFFLOAD_OFF = r"""
import ctypes, fcntl, socket, struct, sys
sock = socket.socket()
for cmd in sys.argv[2:]:
    value = ctypes.create_string_buffer(struct.pack("II", int(cmd, 16), 0), 8)
    ifreq = struct.pack("16sP", sys.argv[1].encode(), ctypes.addressof(value)).ljust(40, b"\0")
    try:
        fcntl.ioctl(sock.fileno(), 0x8946, ifreq)
    except OSError:
        if cmd == "0x17":
            raise
"""


def run(*args, ns=None, check=True, capture=False, timeout=None, env=None):
    """Runs a command, inside namespace `ns` when given; stderr is kept for the error."""
    cmd = (["ip", "netns", "exec", ns] if ns else []) + [str(a) for a in args]
    r = subprocess.run(cmd, check=False, text=True, timeout=timeout, env=env,
                       stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()[-500:]}")
    return r


def add_namespaces(names):
    for ns in names:
        run("ip", "netns", "add", ns)
        run("ip", "-n", ns, "link", "set", "lo", "up")


def veth(ns_a, if_a, addresses_a, ns_b, if_b, addresses_b, offloads=(TX_CHECKSUM,)):
    """A veth pair between two namespaces, made inside them so that no interface ever appears in
    the caller's; each end gets its addresses ("10.0.0.1/24", "fd00::1/64"), comes up, and has
    the offloads turned off (veth leaves checksums to offload, so tcpdump would record half-done
    ones)."""
    run("ip", "-n", ns_a, "link", "add", if_a, "type", "veth", "peer", "name", if_b, "netns", ns_b)
    for ns, dev, addresses in ((ns_a, if_a, addresses_a), (ns_b, if_b, addresses_b)):
        for address in addresses:
            if ":" in address:
                run("ip", "-n", ns, "-6", "addr", "add", address, "dev", dev, "nodad")  # nodad: usable at once
            else:
                run("ip", "-n", ns, "addr", "add", address, "dev", dev)
        run("ip", "-n", ns, "link", "set", dev, "up")
        run(sys.executable, "-c", OFFLOAD_OFF, dev, *offloads, ns=ns)


def present_namespaces():
    out = run("ip", "netns", "list", capture=True, check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def remove_namespaces(names):
    """Ends every process still inside these namespaces (by id: they keep a namespace alive),
    first with SIGTERM, then SIGKILL, and deletes the namespaces. Absent ones are skipped."""
    names = [ns for ns in present_namespaces() if ns in set(names)]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = []
        for ns in names:
            pids += run("ip", "netns", "pids", ns, capture=True, check=False).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), sig)
            except (ProcessLookupError, ValueError):
                pass
        if pids and sig == signal.SIGTERM:
            time.sleep(1)
    for ns in names:
        run("ip", "netns", "del", ns, check=False)


def start_capture(ns, interface, path, snaplen, words=("tcp",), immediate=False):
    """tcpdump on `interface` in `ns`, writing `path`; returns once the filter is attached.
    Immediate mode hands every packet over at once: without it, packets waiting in a partly
    filled ring block are lost when tcpdump is stopped."""
    proc = subprocess.Popen(["ip", "netns", "exec", ns, "tcpdump", "-i", interface, "-U", "-nn",
                             *(["--immediate-mode"] if immediate else []),
                             "-s", str(snaplen), "-Z", "root", "-w", str(path), *words],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()  # "listening on ..." once the filter is attached
    if "listening" not in line:
        proc.kill()
        raise RuntimeError(f"tcpdump did not start: {line.strip()}")
    return proc


def stop_capture(proc, timeout=15):
    """Stops tcpdump (SIGINT flushes the file) and returns what it printed: its statistics."""
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return err


def capture_statistics(stderr):
    """tcpdump's counts from what it printed when stopped, on one line."""
    return " / ".join(line for line in stderr.splitlines() if "packets" in line)


def end_run(procs, namespaces, keep):
    """Kills what is still running of `procs` (None entries are skipped), then removes the
    namespaces unless they are to be kept for debugging."""
    for proc in procs:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
    if keep:
        print("namespaces kept:", ", ".join(namespaces))
    else:
        remove_namespaces(namespaces)


def exit_on_problems(problems, heading="problems:"):
    """Prints the problems found and exits 1, if there are any."""
    if problems:
        print("\n" + heading)
        for problem in problems:
            print("  " + problem)
        sys.exit(1)


def pcap_frames(path):
    """Yields (link type, timestamp, original length, frame bytes) from a classic pcap file,
    either byte order, microsecond or nanosecond timestamps."""
    data = Path(path).read_bytes()
    kinds = {b"\xd4\xc3\xb2\xa1": ("<", 1e6), b"\xa1\xb2\xc3\xd4": (">", 1e6),
             b"\x4d\x3c\xb2\xa1": ("<", 1e9), b"\xa1\xb2\x3c\x4d": (">", 1e9)}
    if data[:4] not in kinds:
        raise ValueError(f"{path}: not a classic pcap file")
    end, units = kinds[data[:4]]
    linktype = struct.unpack(end + "I", data[20:24])[0]
    off = 24
    while off + 16 <= len(data):
        sec, frac, incl, orig = struct.unpack(end + "IIII", data[off:off + 16])
        yield linktype, sec + frac / units, orig, data[off + 16:off + 16 + incl]
        off += 16 + incl


def ethernet_ipv4(path):
    """Yields (timestamp, original length, IPv4 packet bytes) of the Ethernet frames that carry
    IPv4 in a classic pcap file."""
    for linktype, ts, orig, frame in pcap_frames(path):
        if linktype != 1:
            raise ValueError(f"{path}: expected Ethernet frames, found link type {linktype}")
        if len(frame) >= 34 and frame[12:14] == b"\x08\x00":
            yield ts, orig, frame[14:]


def chosen_kinds(text, known, program):
    """The kinds a comma-separated --kinds names (all of `known` when it is empty), in its
    order; an unknown one ends the run with the list of known ones."""
    kinds = list(known) if not text else [k.strip() for k in text.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in known]
    if unknown:
        sys.exit(f"{program}: unknown kinds {unknown}; known: {', '.join(known)}")
    return kinds
