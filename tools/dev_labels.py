"""The labels of the development SYNs, as the accuracy tools read them.

One correction is made to the shipped dev_labels.jsonl: Android's connectivity check (AOSP
NetworkMonitor, Android 8 on) probes each new network under a desktop Chrome beta's User-Agent,
so the file labels those phones' SYNs Linux. `tools/fetch-captures.py --derive` labels them
Android, and `load` corrects a file derived before that rule.
"""
import json, re

FAMILY = {"Windows": "Windows", "Linux": "Linux-like", "Android": "Linux-like", "ChromeOS": "Linux-like",
          "macOS": "Apple", "iOS": "Apple", "FreeBSD": "BSD", "OpenBSD": "BSD", "NetBSD": "BSD"}

CAPTIVE_PORTAL_PROBE = re.compile(
    r"^Mozilla/5\.0 \(X11; Linux x86_64\) AppleWebKit/537\.36 \(KHTML, like Gecko\) Chrome/60\.0\.3112\.32 Safari/537\.36$")


def load(path):
    """The labels of `path`, and how many of them the captive-portal rule changed."""
    labels, changed = [], 0
    for line in open(path):
        label = json.loads(line)
        if (label.get("label_source", "").startswith("http_user_agent") and label["os_class"] != "Android"
                and CAPTIVE_PORTAL_PROBE.match(label.get("user_agent") or "")):
            label = {**label, "os_class": "Android", "os_detail": "Android"}
            changed += 1
        labels.append(label)
    return labels, changed
