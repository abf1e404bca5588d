#!/usr/bin/env python3
"""Fetches the development captures pinned in tools/captures.json, checks them, labels their SYNs.

  tools/fetch-captures.py [--base-url URL] DIR   download into DIR the captures missing or wrong there
  tools/fetch-captures.py --check DIR            check DIR offline: missing, wrong and extra files
  add --derive to either: then write dev_syns.pcap and dev_labels.jsonl in the folder holding DIR

The captures belong to ntop/nDPI (LGPL-3.0) and cisco/mercury (BSD-2-Clause), so the repository
keeps only their list, tools/captures.json: for each file its repository, commit, path, git blob
id and licence. A file is right when its git blob id (what `git hash-object` prints) matches.
Exits 1 when a capture could not be fetched or is missing or wrong, 0 otherwise.

Labels (`label_source` in dev_labels.jsonl) of the first SYN of each connection, the first that applies:
  http_user_agent_same_flow    the User-Agent of the connection's HTTP request names the OS
  ssh_client_banner_same_flow  the connection's SSH client banner names it
  capture_file_name            the capture is named after its device (NAMED_DEVICES)
  http_user_agent_same_src_ip  the User-Agents from the same address in the capture name one class
A connection whose own User-Agent or banner names no OS stays unlabelled. The SYNs keep their IP
and TCP bytes and Ethernet header (zero addresses when the capture has none), in the order of
tools/captures.json, one second apart.
"""
import argparse, collections, hashlib, http.client, ipaddress, json, os, re, struct, sys, tempfile
import urllib.parse, urllib.request

from dev_labels import CAPTIVE_PORTAL_PROBE

PROGRAM = "fetch-captures.py"
PINNED_LIST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "captures.json")
GITHUB_RAW = "https://raw.githubusercontent.com"
TIMEOUT_SECONDS = 60

ETHERNET, RAW_IP, LINUX_SLL = 1, 101, 113
ETHERTYPE = {4: b"\x08\x00", 6: b"\x86\xdd"}
TCP, SYN, ACK = 6, 0x02, 0x10
FIRST_SECOND = 1_600_000_000  # a fixed start, so that deriving twice gives the same file
HTTP_METHODS = tuple(m + b" " for m in (b"GET", b"POST", b"HEAD", b"PUT", b"DELETE", b"OPTIONS", b"CONNECT", b"PATCH"))
USER_AGENT = re.compile(rb"\r\nUser-Agent:[ \t]*([^\r\n]*)", re.IGNORECASE)

# The first rule that matches names the class; a text that none matches names no OS. Android's
# connectivity check probes under a desktop Chrome's name (tools/dev_labels.py).
OS_CLASS_RULES = [("Android", CAPTIVE_PORTAL_PROBE)] + [(os_class, re.compile(pattern)) for os_class, pattern in (
    ("ChromeOS", r"CrOS"),
    ("Other", r"Windows Phone|Xbox"),
    ("Android", r"Android"),
    ("iOS", r"iPhone|iPad|iPod|like Mac OS X"),
    ("Windows", r"Windows|Win64|Win32|MSIE|Trident/|Microsoft NCSI|Microsoft-CryptoAPI"),
    # A CFNetwork app gives the Mac away by its architecture; on a phone it names no OS.
    ("macOS", r"Macintosh|Mac OS X|CFNetwork/.* Darwin/.*\(x86_64\)"),
    ("FreeBSD", r"FreeBSD"),
    ("OpenBSD", r"OpenBSD"),
    ("Linux", r"Linux|X11|Ubuntu"),
)]

# Captures whose file name says the device: (os_class, os_detail).
NAMED_DEVICES = {
    "ntop__nDPI__android.pcap": ("Android", "Android (file name)"),
    "ntop__nDPI__googledns_android10.pcap": ("Android", "Android 10 (file name)"),
    "ntop__nDPI__iphone.pcap": ("iOS", "iPhone (file name)"),
    "ntop__nDPI__xiaomi.pcap": ("Android", "Xiaomi phone (file name)"),
}


def complain(message):
    sys.stdout.flush()  # keeps the lines in order when both streams go to one file
    print(f"{PROGRAM}: {message}", file=sys.stderr)


def git_blob_id(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def blob_id_of_file(path):
    try:
        with open(path, "rb") as f:
            return git_blob_id(f.read())
    except FileNotFoundError:
        return None


def write_whole(folder, name, data):
    """Writes through a temporary file in the same folder and a rename: the file is whole or absent."""
    descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".part")
    try:
        with os.fdopen(descriptor, "wb") as f:
            f.write(data)
        os.chmod(temporary, 0o644)
        os.replace(temporary, os.path.join(folder, name))
    except BaseException:
        os.unlink(temporary)
        raise


def fetch(folder, captures, base_url):
    """Downloads what is missing or wrong; returns how many captures failed."""
    os.makedirs(folder, exist_ok=True)
    fetched = present = failed = 0
    for name, capture in captures.items():
        found = blob_id_of_file(os.path.join(folder, name))
        if found == capture["blob"]:
            print(f"present  {name}")
            present += 1
            continue
        url = f"{base_url.rstrip('/')}/{capture['repo']}/{capture['commit']}/{urllib.parse.quote(capture['path'])}"
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
                data = response.read()
        except (OSError, http.client.HTTPException) as error:
            complain(f"{name}: {url}: {error}")
            failed += 1
            continue
        if git_blob_id(data) != capture["blob"]:
            complain(f"{name}: {url} gave blob {git_blob_id(data)}, expected {capture['blob']}; not written")
            failed += 1
            continue
        write_whole(folder, name, data)
        print(f"fetched  {name} ({len(data)} bytes{', replacing a wrong copy' if found else ''})")
        fetched += 1
    print(f"{len(captures)} captures in {folder}: {fetched} fetched, {present} already present, {failed} failed")
    return failed


def check(folder, captures):
    """Checks the folder offline; returns how many captures are missing or wrong."""
    right = missing = wrong = 0
    for name, capture in captures.items():
        found = blob_id_of_file(os.path.join(folder, name))
        if found is None:
            complain(f"{name}: missing")
            missing += 1
        elif found != capture["blob"]:
            complain(f"{name}: blob {found}, expected {capture['blob']}")
            wrong += 1
        else:
            print(f"ok       {name}")
            right += 1
    extra = sorted(set(os.listdir(folder)) - set(captures)) if os.path.isdir(folder) else []
    for name in extra:
        complain(f"{name}: extra file, not in tools/captures.json (the tools read every file in the folder)")
    print(f"{len(captures)} captures in {folder}: {right} right, {missing} missing, {wrong} wrong; {len(extra)} extra")
    return missing + wrong


def frames(data):
    """(link type, frame) for each packet of a pcap or pcapng file."""
    if data[:4] == b"\x0a\x0d\x0d\x0a":
        yield from pcapng_frames(data)
        return
    if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        order = "<"
    elif data[:4] in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        order = ">"
    else:
        raise ValueError("neither pcap nor pcapng")
    link_type = struct.unpack_from(order + "I", data, 20)[0]
    offset = 24
    while offset + 16 <= len(data):
        captured = struct.unpack_from(order + "I", data, offset + 8)[0]
        yield link_type, data[offset + 16:offset + 16 + captured]
        offset += 16 + captured


def pcapng_frames(data):
    order, link_types, offset = "<", [], 0
    while offset + 12 <= len(data):
        if data[offset:offset + 4] == b"\x0a\x0d\x0d\x0a":
            # A section header: its byte-order magic says how to read the section.
            order = "<" if data[offset + 8:offset + 12] == b"\x4d\x3c\x2b\x1a" else ">"
            link_types = []
        block_type, length = struct.unpack_from(order + "II", data, offset)
        if block_type == 1:  # interface description
            link_types.append(struct.unpack_from(order + "H", data, offset + 8)[0])
        elif block_type == 6:  # enhanced packet
            interface, _, _, captured = struct.unpack_from(order + "IIII", data, offset + 8)
            yield link_types[interface], data[offset + 28:offset + 28 + captured]
        offset += length


def ip_and_link_header(link_type, frame):
    """The frame's IP packet and the Ethernet header it gets in dev_syns.pcap; (None, None) when not IP."""
    if link_type == ETHERNET:
        # Only untagged frames: none of the labelled SYNs carries a VLAN tag.
        return (frame[14:], frame[:14]) if frame[12:14] in ETHERTYPE.values() else (None, None)
    if link_type in (RAW_IP, LINUX_SLL):
        ip = frame if link_type == RAW_IP else frame[16:]
        ethertype = ETHERTYPE.get(ip[0] >> 4) if ip else None
        return (ip, bytes(12) + ethertype) if ethertype else (None, None)
    raise ValueError(f"link type {link_type} is not read here")


def tcp_segment(ip):
    """(IP packet cut to its own length, 4-tuple, TCP flags, payload), or None when not TCP."""
    version = ip[0] >> 4
    if version == 4 and len(ip) >= 20 and ip[9] == TCP:
        ip = ip[:struct.unpack_from(">H", ip, 2)[0]]  # without the Ethernet padding
        source, destination, tcp = ip[12:16], ip[16:20], ip[(ip[0] & 15) * 4:]
    elif version == 6 and len(ip) >= 40 and ip[6] == TCP:
        ip = ip[:40 + struct.unpack_from(">H", ip, 4)[0]]
        source, destination, tcp = ip[8:24], ip[24:40], ip[40:]
    else:
        return None
    if len(tcp) < 20:
        return None
    source_port, destination_port = struct.unpack_from(">HH", tcp)
    flow = (str(ipaddress.ip_address(source)), source_port, str(ipaddress.ip_address(destination)), destination_port)
    return ip, flow, tcp[13], tcp[(tcp[12] >> 4) * 4:]


def os_class_of(text):
    return next((os_class for os_class, pattern in OS_CLASS_RULES if pattern.search(text)), None)


def os_detail_of(os_class, agent):
    """The class with the version the User-Agent gives."""
    if os_class == "Windows":
        match = re.search(r"Windows NT [\d.]+", agent)
        return match.group() if match else "Windows"
    if os_class == "Android":
        match = re.search(r"Android (\d[\d.]*)", agent)
        return f"Android {match.group(1)}" if match else "Android"
    if os_class == "iOS":
        match = re.search(r"OS (\d+(?:_\d+)+)", agent)
        return f"iOS {match.group(1).replace('_', '.')}" if match else "iOS"
    if os_class == "macOS":
        match = re.search(r"Mac OS X (\d+(?:[._]\d+)+)", agent)
        if match:
            return f"macOS {match.group(1).replace('_', '.')}"
        return "macOS (CFNetwork app)" if "CFNetwork/" in agent else "macOS"
    return os_class


def labelled_syns(name, capture, data):
    """(packet index, 4-tuple, link header + IP packet, label) for each labelled SYN of a capture."""
    syns, agent_of_flow, agents_of_address, banner_of_flow = [], {}, collections.defaultdict(set), {}
    for index, (link_type, frame) in enumerate(frames(data)):
        ip, link_header = ip_and_link_header(link_type, frame)
        segment = ip and tcp_segment(ip)
        if not segment:
            continue
        packet, flow, flags, payload = segment
        if flags & (SYN | ACK) == SYN:
            syns.append((index, flow, link_header + packet))
        if payload.startswith(HTTP_METHODS):
            agent = USER_AGENT.search(payload)
            if agent:
                text = agent.group(1).decode("latin-1").strip()
                agent_of_flow.setdefault(flow, text)
                agents_of_address[flow[0]].add(text)
        elif payload.startswith(b"SSH-"):
            banner_of_flow.setdefault(flow, payload.split(b"\r\n")[0].decode("latin-1").strip())

    def label(flow):
        if flow in agent_of_flow:
            agent = agent_of_flow[flow]
            os_class = os_class_of(agent)
            return os_class and (os_class, os_detail_of(os_class, agent), "http_user_agent_same_flow", agent)
        if flow in banner_of_flow:
            banner = banner_of_flow[flow]
            os_class = os_class_of(banner)
            return os_class and (os_class, banner, "ssh_client_banner_same_flow", banner)
        if name in NAMED_DEVICES:
            return (*NAMED_DEVICES[name], "capture_file_name", capture["path"])
        # Sorted, so that the evidence quoted is the same on every run.
        agents = sorted(agent for agent in agents_of_address[flow[0]] if os_class_of(agent))
        if agents and len({os_class_of(agent) for agent in agents}) == 1:
            os_class = os_class_of(agents[0])
            return os_class, os_detail_of(os_class, agents[0]), "http_user_agent_same_src_ip", agents[0]
        return None

    seen = set()
    for index, flow, packet in syns:
        if flow in seen:  # a retransmission
            continue
        seen.add(flow)
        found = label(flow)
        if found:
            yield index, flow, packet, found


def derive(folder, captures):
    """Writes dev_syns.pcap and dev_labels.jsonl in the folder that holds the captures folder."""
    out = os.path.dirname(os.path.abspath(folder))
    pcap = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, ETHERNET)]
    labels, counts = [], collections.Counter()
    for name, capture in captures.items():
        with open(os.path.join(folder, name), "rb") as f:
            data = f.read()
        for packet_index, flow, packet, (os_class, os_detail, source, evidence) in labelled_syns(name, capture, data):
            index = len(labels)
            counts[os_class] += 1
            pcap.append(struct.pack("<IIII", FIRST_SECOND + index, 0, len(packet), len(packet)) + packet)
            labels.append(json.dumps({
                "index": index, "src_ip": flow[0], "src_port": flow[1], "dst_ip": flow[2], "dst_port": flow[3],
                "os_class": os_class, "os_detail": os_detail, "label_source": source, "user_agent": evidence,
                "capture": name, "capture_packet_index": packet_index,
            }) + "\n")
    write_whole(out, "dev_syns.pcap", b"".join(pcap))
    write_whole(out, "dev_labels.jsonl", "".join(labels).encode())
    print(f"{len(labels)} labelled SYNs ({', '.join(f'{c} {n}' for c, n in counts.most_common())}) "
          f"in {os.path.join(out, 'dev_syns.pcap')} and {os.path.join(out, 'dev_labels.jsonl')}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", metavar="DIR", help="the captures folder, e.g. ../shared/data/dev/captures")
    parser.add_argument("--check", action="store_true", help="check DIR offline instead of downloading")
    parser.add_argument("--derive", action="store_true",
                        help="then write dev_syns.pcap and dev_labels.jsonl in the folder holding DIR")
    parser.add_argument("--base-url", metavar="URL", default=GITHUB_RAW,
                        help=f"where <repo>/<commit>/<path> is served (default {GITHUB_RAW})")
    options = parser.parse_args()
    with open(PINNED_LIST) as f:
        captures = json.load(f)
    failed = check(options.folder, captures) if options.check else fetch(options.folder, captures, options.base_url)
    if failed:
        if options.derive:
            complain(f"nothing derived: {failed} captures are missing or wrong")
        sys.exit(1)
    if options.derive:
        derive(options.folder, captures)


if __name__ == "__main__":
    main()
