#!/usr/bin/env python3
"""make bench, last: the table of issue 25 from the medians the benchmarks just recorded
(MESHCAP_BENCH_RECORD): meshcap against the operator's tool, measured in the same run, as ratios
against their targets."""
import json
import sys

TARGETS = [
    # (row, meshcap's key, the tool's key or a key naming it, target ratio)
    ("verify, nft, one set of 10,000", "verify nft: meshcap verify", "verify nft", 0.5),
    ("verify, iptables-nft, 10,013 rules", "verify iptables-nft: meshcap verify", "verify iptables-nft", 0.5),
    ("verify, iptables-legacy, 10,013 rules", "verify iptables-legacy: meshcap verify", "verify iptables-legacy", 0.5),
]
APPLY = "apply fresh 10,000 excluded prefixes"


def main(path):
    data = json.load(open(path))
    rows = []
    for label, ours, prefix, target in TARGETS:
        tool = data[f"{prefix}: reference"]
        rows.append((label, data[ours], tool, data[f"{prefix}: {tool}"], target))
    for tool, target in (("nft -f", 0.25), ("iptables-nft-restore", 0.5)):
        rows.append((f"apply fresh, 10,000 excluded prefixes, against {tool}", data[f"{APPLY}: meshcap apply (netlink)"], tool,
                     data[f"{APPLY}: {tool}"], target))
    print("\n| work | meshcap | the operator's tool | ratio | target |")
    print("|---|---|---|---|---|")
    for label, ours, tool, theirs, target in rows:
        ratio = ours / theirs
        print(f"| {label} | {ours:.1f} ms | `{tool}` {theirs:.1f} ms | {ratio:.2f} | ≤ {target} {'✔' if ratio <= target else '✘'} |")


if __name__ == "__main__":
    main(sys.argv[1])
