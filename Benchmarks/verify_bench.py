#!/usr/bin/env python3
"""make bench: the time `meshcap verify` takes to read and report counters, against the tools an
operator reads them with today (`nft list ruleset`, `iptables-save -c`), on the same rules, in
the same run, as ratios.

Runs as root inside a network namespace it creates and deletes. 10,000 excluded prefixes (one
rule each) plus the sidecar default's rules, applied by meshcap with each backend in turn;
rounds interleave the tools; medians of wall time (posix_spawn to wait4), CPU and peak RSS.
"""
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from apply_bench import main_in_namespace, profiles, record, timed, which  # noqa: E402


def inner(args):
    with tempfile.TemporaryDirectory(prefix="meshcap-vbench-") as work:
        env = profiles(work)[1][1]
        for backend, flags, reference in (
            ("nft", ["--backend", "nft"], [which("nft"), "list", "ruleset"]),
            ("iptables-nft", ["--backend", "iptables", "--iptables-variant", "nft"], [which("iptables-nft-save"), "-c"]),
            ("iptables-legacy", ["--backend", "iptables", "--iptables-variant", "legacy"], [which("iptables-legacy-save"), "-c"]),
        ):
            subprocess.run([args.meshcap, "clean"], check=True, capture_output=True)
            subprocess.run([args.meshcap, "apply", "--config", env] + flags, check=True, capture_output=True)
            tools = {
                "meshcap verify": [args.meshcap, "verify"] + flags,
                "meshcap verify --json": [args.meshcap, "verify", "--json"] + flags,
                " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(reference)): reference,
            }
            samples, peaks = {tool: [] for tool in tools}, {}
            for round_ in range(args.rounds + 1):
                for tool, argv in tools.items():
                    # Round 0 warms caches and measures peak memory; the others are timed.
                    result = timed(argv, allowed=(0, 1), rss=round_ == 0)
                    if round_ == 0:
                        peaks[tool] = result[2]
                    else:
                        samples[tool].append(result)
            report(backend, samples, peaks, args.rounds)
        subprocess.run([args.meshcap, "clean"], check=True, capture_output=True)


def report(backend, samples, peaks, rounds):
    print(f"\nverify, {backend}, 10,000 excluded prefixes (nft: one set; iptables: a rule each): median of {rounds} rounds (min-max)")
    print(f"  {'tool':<28}{'wall ms':>22}{'CPU ms':>9}{'peak MiB':>10}")
    medians = {}
    for tool, runs in samples.items():
        walls = [r[0] for r in runs]
        medians[tool] = statistics.median(walls)
        print(f"  {tool:<28}{medians[tool]:>10.1f} ({min(walls):.1f}-{max(walls):.1f})"
              f"{statistics.median(r[1] for r in runs):>9.1f}{peaks[tool]:>10.1f}")
    reference = list(samples)[-1]
    for tool in samples:
        record(f"verify {backend}: {tool}", medians[tool])
    record(f"verify {backend}: reference", reference)
    for tool in list(samples)[:-1]:
        print(f"  ratio {tool} / {reference} = {medians[tool] / medians[reference]:.2f}")


if __name__ == "__main__":
    main_in_namespace(__doc__, inner, "mcvbench", __file__)
