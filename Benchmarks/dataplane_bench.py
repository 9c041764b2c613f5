#!/usr/bin/env python3
"""make bench: what capture costs each new connection, per ruleset, measured in the same run.

Runs as root inside a network namespace it creates and deletes. A client opens TCP connections
to 10.96.0.1:80, a destination every ruleset captures: it walks every exclusion before the
REDIRECT to 15001, where a listener accepts and closes. Rulesets: the sidecar default (nothing
excluded), and 10,000 excluded prefixes as meshcap's interval set (the default layout), as
Istio's one rule per prefix in nft, iptables-nft and iptables-legacy. Rounds interleave the
rulesets; each round times a batch of connections per ruleset; the median over rounds of the
time per connection is reported, and its ratio to the default profile.
"""
import os
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from apply_bench import main_in_namespace, profiles, which  # noqa: E402

CONNECTIONS = 1000
# Closed with a reset: no TIME_WAIT, so tens of thousands of connections to one address do not
# run out of source ports.
ABORT = struct.pack("ii", 1, 0)


def listen():
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", 15001))
    server.listen(4096)

    def loop():
        while True:
            conn, _ = server.accept()
            conn.close()
    threading.Thread(target=loop, daemon=True).start()


def per_connection_us():
    start = time.perf_counter()
    for _ in range(CONNECTIONS):
        with socket.create_connection(("10.96.0.1", 80), timeout=3) as conn:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, ABORT)
    return (time.perf_counter() - start) / CONNECTIONS * 1e6


def inner(args):
    nft, legacy = which("nft"), which("iptables-legacy-restore")
    # Somewhere for 10.96.0.1 to route to, so that the connection reaches nat OUTPUT.
    for command in (["ip", "link", "add", "bench0", "type", "veth", "peer", "name", "bench1"], ["ip", "link", "set", "bench0", "up"],
                    ["ip", "link", "set", "bench1", "up"],
                    ["ip", "addr", "add", "192.0.2.1/24", "dev", "bench0"], ["ip", "route", "add", "10.96.0.0/12", "dev", "bench0"]):
        subprocess.run(command, check=True)
    listen()
    with tempfile.TemporaryDirectory(prefix="meshcap-bench-") as work:
        (_, default), (_, big) = profiles(work)
        empty, v4 = os.path.join(work, "empty.v4"), os.path.join(work, "rules.v4")
        with open(empty, "w") as f:
            f.write("*nat\nCOMMIT\n")
        with open(v4, "w") as out:
            subprocess.run([args.meshcap, "compile", "--config", big, "--backend", "iptables"], stdout=out, check=True)
        rulesets = {
            "sidecar default (nft)": [args.meshcap, "apply", "--config", default],
            "10,000 excluded, set (nft, default)": [args.meshcap, "apply", "--config", big],
            "10,000 excluded, a rule each (nft)": [args.meshcap, "apply", "--config", big, "--layout", "istio"],
            "10,000 excluded, a rule each (iptables-nft)": [which("iptables-nft-restore"), v4],
            "10,000 excluded, a rule each (iptables-legacy)": [legacy, v4],
        }
        samples = {name: [] for name in rulesets}
        for round_ in range(args.rounds + 1):
            for name, argv in rulesets.items():
                subprocess.run([nft, "flush", "ruleset"], check=True)
                subprocess.run([legacy, empty], check=True)
                subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                cost = per_connection_us()
                if round_ > 0:  # round 0 warms caches
                    samples[name].append(cost)
        subprocess.run([nft, "flush", "ruleset"], check=True)
        subprocess.run([legacy, empty], check=True)
    base = statistics.median(samples["sidecar default (nft)"])
    print(f"\nper new connection to a captured destination, {CONNECTIONS} connections a round, median of {args.rounds} rounds (min-max)")
    print(f"  {'ruleset':<48}{'us':>22}{'ratio to default':>18}")
    for name, values in samples.items():
        median = statistics.median(values)
        print(f"  {name:<48}{median:>8.1f} ({min(values):.1f}-{max(values):.1f}){median / base:>14.2f}")


if __name__ == "__main__":
    main_in_namespace(__doc__, inner, "mcdpbench", __file__)
