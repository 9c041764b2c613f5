#!/usr/bin/env bash
# A fleet watched the way an operator watches it, every part real and on loopback only: VMs
# played by network namespaces with rules `meshcap apply` wrote and real connections through
# them, one VM broken by hand (its output hook's jump deleted), `meshcap verify --prometheus`
# writing each VM's textfile, Debian's prometheus-node-exporter (textfile collector only) per
# VM, and Debian's prometheus scraping them every second with contrib's alert and recording
# rules. Then every query of every panel of contrib/grafana/meshcap.json (variables as `.*`,
# $__rate_interval as 1m) must return series through Prometheus' HTTP API, and the broken VM's
# MeshcapCaptureBroken must be pending or firing while the healthy VMs have no alert.
#
#   Tests/Fleet/prometheus.sh MESHCAP_BINARY
#
# Root (network namespaces). Prints one line per panel and a last line "prometheus: ..."; exit 1
# on a failure. Bounded: about 50 seconds.
set -euo pipefail

meshcap=$(readlink -f "$1")
here=$(cd "$(dirname "$0")/../.." && pwd)
fail() { echo "prometheus: FAIL: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "needs root (network namespaces)"
for tool in prometheus prometheus-node-exporter nft ip python3; do command -v "$tool" >/dev/null || fail "$tool is not installed"; done

work=$(mktemp -d)
vms=(vm1 vm2 vm3)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    for vm in "${vms[@]}"; do ip netns del "mcprom-$$-$vm" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "prometheus: FAIL: line $LINENO: $BASH_COMMAND" >&2' ERR

# Ports on 127.0.0.1 that nothing listens on: Prometheus, and one node_exporter per VM.
base=$((20000 + $$ % 20000))
prom_port=$base

# The VMs: a namespace each, an interface and a default route so connections leave, meshcap's
# rules applied (nft), a textfile directory.
printf 'ISTIO_SERVICE_CIDR=10.96.0.0/12\nISTIO_INBOUND_PORTS=*\nISTIO_LOCAL_EXCLUDE_PORTS=22\nPROXY_UID=1337\n' > "$work/cluster.env"
targets=
for i in "${!vms[@]}"; do
    vm=${vms[$i]} ns=mcprom-$$-${vms[$i]}
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip -n "$ns" link add d0 type veth peer name d1
    ip -n "$ns" addr add 192.0.2.1/24 dev d0
    ip -n "$ns" link set d0 up
    ip -n "$ns" link set d1 up
    ip -n "$ns" route add default dev d0
    "$meshcap" apply --netns "$ns" --backend nft --config "$work/cluster.env" > "$work/$vm.apply" 2>&1 || { cat "$work/$vm.apply" >&2; fail "apply on $vm"; }
    mkdir -p "$work/$vm"
    port=$((base + 1 + i))
    prometheus-node-exporter --web.listen-address="127.0.0.1:$port" --collector.disable-defaults --collector.textfile \
        --collector.textfile.directory="$work/$vm" > "$work/$vm.exporter.log" 2>&1 &
    pids+=($!)
    targets+="      - targets: ['127.0.0.1:$port']\n        labels: {instance: $vm}\n"
done
# vm3 broken by hand: the jump from its output hook into istio-output deleted.
ns3=mcprom-$$-vm3
handle=$(ip netns exec "$ns3" nft -a list chain inet istio-proxy-nat output | sed -n 's/.*jump istio-output.*# handle \([0-9]*\).*/\1/p')
[ -n "$handle" ] || fail "no jump to istio-output in vm3's output chain"
ip netns exec "$ns3" nft delete rule inet istio-proxy-nat output handle "$handle"

printf 'global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - %s\nscrape_configs:\n  - job_name: node\n    static_configs:\n%b' \
    "$here/contrib/prometheus/meshcap-alerts.yml" "$targets" > "$work/prometheus.yml"
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" --web.listen-address="127.0.0.1:$prom_port" \
    > "$work/prometheus.log" 2>&1 &
pids+=($!)

# 25 seconds of fleet: each second a connection from every VM to a service address (REDIRECTed
# to the proxy's port where capture works; nothing listens there, the SYN is what counts) and
# each VM's verify written for its node_exporter.
for _ in $(seq 1 25); do
    for vm in "${vms[@]}"; do
        ns=mcprom-$$-$vm
        ip netns exec "$ns" timeout 1 bash -c 'exec 3<>/dev/tcp/10.96.0.10/80' 2>/dev/null || true
        "$meshcap" verify --netns "$ns" --prometheus "$work/$vm/meshcap.prom" > /dev/null 2>&1 || true
    done
    sleep 1
done

python3 - "$here/contrib/grafana/meshcap.json" "$prom_port" <<'PYTHON'
import json, sys, urllib.parse, urllib.request
dashboard, port = json.load(open(sys.argv[1])), sys.argv[2]
def get(path, **query):
    url = f"http://127.0.0.1:{port}/api/v1/{path}?" + urllib.parse.urlencode(query)
    reply = json.load(urllib.request.urlopen(url, timeout=10))
    if reply.get("status") != "success":
        sys.exit(f"prometheus: FAIL: {url}: {reply}")
    return reply["data"]
empty = 0
panel_series = {}
for panel in dashboard["panels"]:
    for target in panel["targets"]:
        expr = target["expr"].replace("$job", ".*").replace("$instance", ".*").replace("$__rate_interval", "1m")
        series = get("query", query=expr)["result"]
        panel_series.setdefault(panel["id"], series)
        vms = sorted({s["metric"].get("instance", "?") for s in series})
        print(f"prometheus: panel {panel['id']} {panel['title']!r}: {len(series)} series ({', '.join(vms)})")
        if not series:
            empty += 1
            print(f"prometheus: FAIL: panel {panel['title']!r} returns no series: {expr}", file=sys.stderr)
def by_vm(panel):
    return {s["metric"].get("instance"): float(s["value"][1]) for s in panel_series.get(panel, [])}
def value(expr):
    result = get("query", query=expr)["result"]
    return float(result[0]["value"][1]) if result else None
# What the panels show, VM by VM: vm3's output hook is gone, vm1 and vm2 capture.
outbound = by_vm(4)
checks = {
    "panel 1: vm3 broken, vm1 and vm2 healthy": by_vm(1) == {"vm1": 1, "vm2": 1, "vm3": 0},
    "panel 2: vm3's missing-entry, none on vm1 and vm2": any(s["metric"].get("instance") == "vm3" and s["metric"].get("kind") == "missing-entry" for s in panel_series[2])
        and all(s["metric"].get("kind") == "none" for s in panel_series[2] if s["metric"].get("instance") in ("vm1", "vm2")),
    "panel 4: vm1 and vm2 send outbound connections to the proxy, vm3 none": outbound.get("vm1", 0) > 0 and outbound.get("vm2", 0) > 0 and outbound.get("vm3") == 0,
    "panel 7: drift on vm3 only": by_vm(7) == {"vm1": 0, "vm2": 0, "vm3": 1},
    "panel 9: no VM's outbound leaves uncaptured": by_vm(9) == {"vm1": 0, "vm2": 0, "vm3": 0},
    "vm3's missing-entry recorded": value('meshcap:problems:max{instance="vm3",kind="missing-entry"}') == 1,
}
alerts = get("alerts")["alerts"]
broken = [a for a in alerts if a["labels"].get("alertname") == "MeshcapCaptureBroken" and a["labels"].get("instance") == "vm3"]
checks["vm3's MeshcapCaptureBroken pending or firing"] = any(a["state"] in ("pending", "firing") for a in broken)
checks["no alert for vm1 and vm2"] = not [a for a in alerts if a["labels"].get("instance") in ("vm1", "vm2")]
for name, ok in checks.items():
    print(f"prometheus: {'ok' if ok else 'FAIL'}: {name}")
passed = sum(checks.values())
states = ", ".join(f"{a['labels']['alertname']} {a['state']} for {a['labels'].get('instance')}" for a in alerts)
queries = sum(len(p["targets"]) for p in dashboard["panels"])
print(f"prometheus: {queries} panel queries, {queries - empty} with series; alerts: {states or 'none'}; {passed}/{len(checks)} checks")
sys.exit(1 if empty or passed < len(checks) else 0)

PYTHON
