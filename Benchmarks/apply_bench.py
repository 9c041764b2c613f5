#!/usr/bin/env python3
"""make bench: apply time of `meshcap apply` (one netlink batch) against `nft -f`,
`iptables-nft-restore` and `iptables-legacy-restore` loading Istio's layout of the same config,
measured in the same run, reported as ratios.

Runs as root inside a network namespace it creates and deletes (never the host's ruleset).
Profiles: the sidecar default, and 1,000 and 10,000 excluded prefixes. meshcap applies its
default layout (interval sets from 16 prefixes on) and, as a second line, Istio's one rule per
prefix (`--layout istio`), which is also what the other tools load. Each round times every tool
once on an empty namespace ("fresh") and once over its own rules ("replace"); rounds interleave
the tools so machine noise hits all of them alike. Wall time is posix_spawn to wait4; CPU is the
child's user+sys; RSS is the child's peak.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed(argv, allowed=(0,), rss=False):
    """Wall ms, CPU ms, and with rss=True the peak RSS in MiB (else None).

    A child spawned from this process starts with Python's memory in its high-water mark, so its
    own ru_maxrss reads as at least Python's; GNU time forks from a small process and reports the
    tool's own. It adds its start-up to wall and CPU: rounds that measure rss are not timed."""
    if rss:
        record = tempfile.NamedTemporaryFile(prefix="meshcap-rss-")
        argv = ["/usr/bin/time", "-f", "%M", "-o", record.name] + argv
    start = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, os.environ,
                         file_actions=[(os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0)])
    _, status, usage = os.wait4(pid, 0)
    wall = (time.perf_counter() - start) * 1000
    if os.waitstatus_to_exitcode(status) not in allowed:
        sys.exit(f"bench: {' '.join(argv)} failed")
    peak = int(open(record.name).read().split()[-1]) / 1024 if rss else None
    return wall, (usage.ru_utime + usage.ru_stime) * 1000, peak


def record(key, value):
    """Keeps a median for `Benchmarks/summary.py` (the issue's table), in the JSON file
    MESHCAP_BENCH_RECORD names; nothing without it."""
    path = os.environ.get("MESHCAP_BENCH_RECORD")
    if not path:
        return
    data = json.load(open(path)) if os.path.exists(path) else {}
    data[key] = value
    with open(path, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)


def which(name):
    for directory in os.environ.get("PATH", "").split(":") + ["/usr/sbin", "/sbin"]:
        path = os.path.join(directory, name)
        if os.access(path, os.X_OK):
            return path
    sys.exit(f"bench: {name} not found")


def excluded(work, count):
    """A config excluding `count` prefixes 100.64.0.0/25, 100.64.1.0/25, ...: distinct, not halves of one."""
    path = os.path.join(work, f"exclude-{count}.env")
    prefixes = []
    for i in range(count):
        a = (100 << 24) | (64 << 16) | (i << 8)
        prefixes.append(f"{a >> 24}.{(a >> 16) & 255}.{(a >> 8) & 255}.0/25")
    with open(path, "w") as f:
        f.write("OUTBOUND_IPRANGES_INCLUDE=10.96.0.0/12\nOUTBOUND_IPRANGES_EXCLUDE=" + ",".join(prefixes) + "\n")
    return path


def profiles(work, counts=(10000,)):
    return [("sidecar default", os.path.join(ROOT, "Rules/sidecar-default.env"))] + \
        [(f"{count:,} excluded prefixes", excluded(work, count)) for count in counts]


def inner(args):
    nft, restore, legacy = which("nft"), which("iptables-nft-restore"), which("iptables-legacy-restore")
    with tempfile.TemporaryDirectory(prefix="meshcap-bench-") as work:
        empty = os.path.join(work, "empty.v4")
        with open(empty, "w") as f:
            f.write("*nat\nCOMMIT\n")
        for label, env in profiles(work, (1000, 10000)):
            script, v4 = os.path.join(work, "rules.nft"), os.path.join(work, "rules.v4")
            for backend, path in (("nft", script), ("iptables", v4)):
                with open(path, "w") as out:
                    subprocess.run([args.meshcap, "compile", "--config", env, "--backend", backend, "--layout", "istio"], stdout=out, check=True)
            rules = sum(1 for line in open(v4) if line.startswith("-A "))
            tools = {
                "meshcap apply (netlink)": [args.meshcap, "apply", "--config", env],
                "meshcap apply --layout istio": [args.meshcap, "apply", "--config", env, "--layout", "istio"],
                "nft -f": [nft, "-f", script],
                "iptables-nft-restore": [restore, v4],
                "iptables-legacy-restore": [legacy, v4],
            }
            results = {(tool, mode): [] for tool in tools for mode in ("fresh", "replace")}
            peaks = {}
            for round_ in range(args.rounds + 1):
                for tool, argv in tools.items():
                    subprocess.run([nft, "flush", "ruleset"], check=True)
                    subprocess.run([legacy, empty], check=True)
                    # Round 0 warms caches and measures peak memory; the others are timed.
                    fresh = timed(argv, rss=round_ == 0)
                    replace = timed(argv, rss=round_ == 0)
                    if round_ == 0:
                        peaks[(tool, "fresh")], peaks[(tool, "replace")] = fresh[2], replace[2]
                    else:
                        results[(tool, "fresh")].append(fresh)
                        results[(tool, "replace")].append(replace)
            compile_ms = {}
            for name, layout in (("meshcap compile --backend nft", []), ("meshcap compile --backend nft --layout istio", ["--layout", "istio"])):
                runs = [timed([args.meshcap, "compile", "--config", env, "--backend", "nft"] + layout) for _ in range(args.rounds)]
                compile_ms[name] = (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs))
            subprocess.run([nft, "flush", "ruleset"], check=True)
            report(label, rules, results, peaks, args.rounds)
            for tool in tools:
                record(f"apply fresh {label}: {tool}", statistics.median(r[0] for r in results[(tool, "fresh")]))
            for name, (wall, cpu) in compile_ms.items():
                print(f"  {name:<48}{wall:>8.1f} ms wall{cpu:>8.1f} ms CPU")


def report(label, rules, results, peaks, rounds):
    print(f"\n{label}: {rules} rules in Istio's layout, median of {rounds} rounds (min-max)")
    print(f"  {'tool':<30}{'mode':<9}{'wall ms':>22}{'CPU ms':>9}{'peak MiB':>10}")
    medians, cpu = {}, {}
    for (tool, mode), samples in results.items():
        walls = [s[0] for s in samples]
        medians[(tool, mode)] = statistics.median(walls)
        cpu[(tool, mode)] = statistics.median(s[1] for s in samples)
        print(f"  {tool:<30}{mode:<9}{statistics.median(walls):>10.1f} ({min(walls):.1f}-{max(walls):.1f})"
              f"{statistics.median(s[1] for s in samples):>9.1f}{peaks[(tool, mode)]:>10.1f}")
    for mode in ("fresh", "replace"):
        ours = medians[("meshcap apply (netlink)", mode)]
        print(f"  ratio {mode:<8} meshcap/nft -f = {ours / medians[('nft -f', mode)]:.2f}"
              f"   meshcap/iptables-nft-restore = {ours / medians[('iptables-nft-restore', mode)]:.2f}"
              f"   CPU meshcap/nft -f = {cpu[('meshcap apply (netlink)', mode)] / cpu[('nft -f', mode)]:.2f}")


def main_in_namespace(doc, inner, prefix, script):
    """Both benchmarks' entry: as root, re-run `script` with --inner inside a namespace made for it."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--meshcap", required=True)
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.meshcap = os.path.abspath(args.meshcap)
    if os.geteuid() != 0:
        sys.exit("bench: needs root (it creates a network namespace)")
    if args.inner:
        return inner(args)
    namespace = f"{prefix}-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", namespace], check=True)
    try:
        subprocess.run(["ip", "netns", "exec", namespace, "ip", "link", "set", "lo", "up"], check=True)
        subprocess.run(["ip", "netns", "exec", namespace, sys.executable, os.path.abspath(script),
                        "--meshcap", args.meshcap, "--rounds", str(args.rounds), "--inner"], check=True)
    finally:
        subprocess.run(["ip", "netns", "del", namespace])


if __name__ == "__main__":
    main_in_namespace(__doc__, inner, "mcbench", __file__)
