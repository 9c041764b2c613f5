#!/usr/bin/env bash
# Tests/Fleet/ansible.sh DEB_OR_BINARY
#
# The meshcap.vm Ansible collection (contrib/ansible) run for real: ansible-playbook against an
# inventory of network namespaces made here, each one an inventory host (ansible_connection=local,
# meshcap_netns naming its namespace; per-host config directories in a temporary directory, since
# every "host" shares this machine's filesystem). The plays are the collection's own
# playbooks/rollout.yml (role meshcap.vm.mesh_vm, module meshcap.vm.capture).
#
# DEB_OR_BINARY: a path ending in .deb is installed by the role (meshcap_deb) and purged at the
# end (refused when meshcap is installed already); anything else is the meshcap binary to use,
# with nothing installed. `make deb` builds the package.
#
# Needs root, ip, nft, iptables, python3, ansible-playbook (Debian: ansible-core) and the
# ansible.posix collection for its json stdout callback (Debian: ansible, which ansible-core
# recommends). Changes nothing outside the namespaces and the temporary directory (and, for a
# .deb, the package); all are removed on exit.
#
# One line per check ("ok" or "FAIL", with why below a FAIL), then "ansible: N passed, N failed";
# exit 1 when a check failed, 2 on bad usage.
set -euo pipefail

me=ansible.sh
[ $# -eq 1 ] || { echo "usage: $0 DEB_OR_BINARY" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
[ "$(id -u)" -eq 0 ] || { echo "$me: needs root (network namespaces)" >&2; exit 2; }
for tool in ansible-playbook ip nft iptables-save ip6tables-save python3; do
    command -v "$tool" >/dev/null || { echo "$me: $tool not found" >&2; exit 2; }
done

case $1 in
*.deb)
    mode=deb
    deb=$(realpath "$1")
    [ -f "$deb" ] || { echo "$me: no such file: $1" >&2; exit 2; }
    if dpkg-query -W -f '${Status}' meshcap 2>/dev/null | grep -q 'ok installed'; then
        echo "$me: the meshcap package is installed already; this test installs and purges it" >&2
        exit 2
    fi
    ;;
*)
    mode=binary
    binary=$(realpath "$1")
    [ -x "$binary" ] || { echo "$me: not an executable: $1" >&2; exit 2; }
    ;;
esac

tmp=$(mktemp -d /tmp/meshcap-ansible.XXXXXX)
prefix=mca$$
hosts=(vm1 vm2 vm3 vm4 vm5 vm6)
made=()
listeners=()
cleanup() {
    local rc=$?
    local pid ns
    for pid in "${listeners[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${listeners[@]}"; do wait "$pid" 2>/dev/null || true; done
    # meshcap's journal directories of these namespaces (/run/meshcap/netns-COOKIE.INODE) go
    # with them; meshcap would prune them at its next run anyway.
    local inodes=() inode dir
    for ns in "${made[@]}"; do
        inodes+=("$(stat -L -c %i "/run/netns/$ns" 2>/dev/null || true)")
        ip netns del "$ns" 2>/dev/null || true
    done
    for inode in "${inodes[@]}"; do
        [ -n "$inode" ] || continue
        for dir in /run/meshcap/netns-*."$inode"; do
            [ -d "$dir" ] || continue
            grep -qxF "$dir" "$tmp/journals-before" 2>/dev/null || rm -rf "$dir"
        done
    done
    if [ "$mode" = deb ] && dpkg-query -W -f '${Status}' meshcap 2>/dev/null | grep -q 'ok installed'; then
        dpkg --purge meshcap >/dev/null || rc=1
    fi
    if [ -n "${KEEP_TMP:-}" ]; then echo "$me: kept $tmp" >&2; else rm -rf "$tmp"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ls -d /run/meshcap/netns-* >"$tmp/journals-before" 2>/dev/null || true

export ANSIBLE_COLLECTIONS_PATH=$repo/contrib/ansible
export ANSIBLE_STDOUT_CALLBACK=ansible.posix.json
export ANSIBLE_HOME=$tmp/ansible-home ANSIBLE_LOCAL_TEMP=$tmp/ansible-local ANSIBLE_REMOTE_TEMP=$tmp/ansible-remote
export ANSIBLE_FORKS=${#hosts[@]} ANSIBLE_NOCOLOR=1 ANSIBLE_RETRY_FILES_ENABLED=0
# No ansible.cfg from the working directory or the home directory: this one, empty.
: >"$tmp/ansible.cfg"
export ANSIBLE_CONFIG=$tmp/ansible.cfg
if ! ansible-doc -t callback ansible.posix.json >/dev/null 2>&1; then
    echo "$me: the ansible.posix.json callback is missing (Debian: apt-get install ansible; or ansible-galaxy collection install ansible.posix)" >&2
    exit 2
fi

ns() { echo "$prefix-$1"; }

# --- The fleet: one namespace per host, Envoy's two ports listened on (so doctor passes with the
# capture in force), the VM files istioctl would give each.
for h in "${hosts[@]}"; do
    ip netns add "$(ns "$h")"
    made+=("$(ns "$h")")
    ip -n "$(ns "$h")" link set lo up
    ip netns exec "$(ns "$h")" python3 -c '
import socket, time
held = []
for port in (15001, 15006):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(8)
    held.append(s)
time.sleep(600)' &
    listeners+=($!)
done

mkdir -p "$tmp/src" "$tmp/hosts"
printf 'istio-proxy:x:1337:1337::/var/lib/istio:/usr/sbin/nologin\n' >"$tmp/passwd"
printf 'istio-proxy:x:1337:\n' >"$tmp/group"
# doctor looks the control plane up in this file (a documentation address: nothing is sent to it).
printf '127.0.0.1 localhost\n192.0.2.10 istiod.istio-system.svc\n' >"$tmp/etc-hosts"
# sidecar.env as Istio's package ships it: every line commented out.
printf '# Environment variables for the sidecar (Istio VM package default)\n# ISTIO_INBOUND_PORTS=*\n' >"$tmp/src/sidecar.env"
cluster_env() { # HOST CIDR INBOUND: istioctl's cluster.env for one VM (no CIDR: from the cluster dump)
    {
        [ -z "$2" ] || echo "ISTIO_SERVICE_CIDR=$2"
        echo "ISTIO_INBOUND_PORTS=$3"
        echo "ISTIO_LOCAL_EXCLUDE_PORTS=22,15090,15021,15020"
        echo "ISTIO_CUSTOM_IP_TABLES=true"
        echo "ISTIO_NAMESPACE=payments"
        echo "ISTIO_SERVICE=$1"
    } >"$tmp/src/$1.cluster.env"
}
for h in "${hosts[@]}"; do cluster_env "$h" 10.96.0.0/12 '*'; done
cluster_env vm3 "" '*'           # vm3: ISTIO_SERVICE_CIDR from the cluster dump (10.112.0.0/16)
mkdir -p "$tmp/hosts/vm5/etc"     # vm5: one of meshcap's own files, read after cluster.env
printf 'OUTBOUND_PORTS_EXCLUDE=5432\n' >"$tmp/hosts/vm5/etc/50-db.env"

{
    echo "mesh_vms:"
    echo "  vars:"
    echo "    ansible_connection: local"
    echo "    ansible_python_interpreter: \"{{ ansible_playbook_python }}\""
    echo "    meshcap_become: false"
    if [ "$mode" = deb ]; then
        echo "    meshcap_deb: $deb"
        echo "    meshcap_deb_dir: $tmp/deb"
        echo "    meshcap_install_throttle: 1"
    else
        echo "    meshcap_install: false"
        echo "    meshcap_binary: $binary"
    fi
    echo "    meshcap_enable_unit: false"
    echo "    meshcap_config_dir: \"$tmp/hosts/{{ inventory_hostname }}/envoy\""
    echo "    meshcap_etc_dir: \"$tmp/hosts/{{ inventory_hostname }}/etc\""
    echo "    meshcap_sidecar_env_src: $tmp/src/sidecar.env"
    echo "    meshcap_cluster_env_src: \"$tmp/src/{{ inventory_hostname }}.cluster.env\""
    echo "    meshcap_passwd_file: $tmp/passwd"
    echo "    meshcap_group_file: $tmp/group"
    echo "    meshcap_doctor_args: [--hosts, $tmp/etc-hosts]"
    echo "  hosts:"
    for h in "${hosts[@]}"; do
        echo "    $h:"
        echo "      meshcap_netns: $(ns "$h")"
        [ "$h" != vm3 ] || echo "      meshcap_cluster_dump: $here/ansible/cluster-dump.json"
        [ "$h" != vm4 ] || echo "      meshcap_backend: iptables"
    done
} >"$tmp/inventory.yml"

# play NAME [ARGS...]: the rollout playbook, its JSON in $tmp/NAME.json, its exit status in
# $tmp/NAME.rc, its stderr (warnings) in $tmp/NAME.err.
play() {
    local name=$1 rc=0
    shift
    ansible-playbook -i "$tmp/inventory.yml" meshcap.vm.rollout -e meshcap_serial=${#hosts[@]} "$@" \
        >"$tmp/$name.json" 2>"$tmp/$name.err" || rc=$?
    echo "$rc" >"$tmp/$name.rc"
}

# q FILE QUERY [ARGS...]: read a play's JSON (the ansible.posix.json callback's layout).
cat >"$tmp/q.py" <<'PY'
import json, sys
try:
    data = json.load(open(sys.argv[1]))
except ValueError:
    sys.exit("%s: no JSON (the play did not run)" % sys.argv[1])
query, args = sys.argv[2], sys.argv[3:]

def results(task_suffix):
    """Each host's result of the tasks whose name ends with task_suffix, over every batch."""
    for play in data["plays"]:
        for task in play["tasks"]:
            if task["task"]["name"].endswith(task_suffix):
                for host, result in task["hosts"].items():
                    yield host, result

if query == "changed-hosts":            # hosts with any change, sorted
    print(" ".join(sorted(h for h, s in data["stats"].items() if s["changed"] > 0)))
elif query == "failed-hosts":
    print(" ".join(sorted(h for h, s in data["stats"].items() if s["failures"] > 0)))
elif query == "ran-hosts":              # hosts the play reached at all
    print(" ".join(sorted(data["stats"])))
elif query == "task-changed":           # hosts whose task (by name suffix) changed
    print(" ".join(sorted(h for h, r in results(args[0]) if r.get("changed"))))
elif query == "verify-healthy":         # hosts whose capture task returned a healthy verify
    print(" ".join(sorted(h for h, r in results(args[0]) if (r.get("verify") or {}).get("healthy") is True)))
elif query == "diff":                   # the diff the task returned for a host
    for h, r in results(args[0]):
        if h == args[1]:
            diffs = r.get("diff")
            for d in diffs if isinstance(diffs, list) else [diffs or {}]:
                print(d.get("prepared", ""), end="")
elif query == "file-diff":              # a file task's diffs for a host (loops too): before, after
    for h, r in results(args[0]):
        if h == args[1]:
            for item in r.get("results", [r]):
                diffs = item.get("diff")
                for d in diffs if isinstance(diffs, list) else [diffs or {}]:
                    print("%s\nbefore:\n%safter:\n%s" % (d.get("after_header", ""), d.get("before", ""), d.get("after", "")))
elif query == "failure":                # "TASK: msg" of a host's failed task
    for play in data["plays"]:
        for task in play["tasks"]:
            r = task["hosts"].get(args[0])
            if r and r.get("failed"):
                print("%s: %s" % (task["task"]["name"], r.get("msg")))
else:
    sys.exit("unknown query " + query)
PY
q() { python3 "$tmp/q.py" "$@"; }

passed=0
failed=0
check() { # NAME COMMAND...: one line for the check; COMMAND says why on stderr when it fails
    local name=$1
    shift
    if "$@" 2>"$tmp/why"; then
        echo "ok   $name"
        passed=$((passed + 1))
    else
        echo "FAIL $name"
        sed 's/^/       /' "$tmp/why"
        failed=$((failed + 1))
    fi
}
expect() { # WHAT WANTED GOT
    [ "$2" = "$3" ] && return 0
    echo "$1: wanted '$2', got '$3'" >&2
    return 1
}
played() { # NAME WANTED_RC: the play exited as wanted
    local rc
    rc=$(cat "$tmp/$1.rc")
    [ "$rc" = "$2" ] && return 0
    echo "ansible-playbook ($1) exited $rc, wanted $2" >&2
    sed -n '1,20p' "$tmp/$1.err" >&2
    python3 - "$tmp/$1.json" <<'PY' >&2 || true
import json, sys
try:
    plays = json.load(open(sys.argv[1]))["plays"]
except ValueError:
    plays = []
for play in plays:
    for task in play["tasks"]:
        for host, r in task["hosts"].items():
            if r.get("failed"):
                print("%s: %s: %s" % (host, task["task"]["name"], r.get("msg")))
PY
    return 1
}
all="${hosts[*]}"
capture=": Apply the capture rules"
remove=": Remove the capture rules"

# What is live in a namespace, as nft and iptables-save print it (their date comments dropped).
snapshot() {
    ip netns exec "$(ns "$1")" nft list ruleset 2>&1
    echo "--- iptables-save"
    ip netns exec "$(ns "$1")" iptables-save | sed '/^#/d'
    echo "--- ip6tables-save"
    ip netns exec "$(ns "$1")" ip6tables-save | sed '/^#/d'
}
# has_rules HOST: meshcap's nft tables or ISTIO chains in the host's namespace.
has_rules() {
    ip netns exec "$(ns "$1")" nft list tables | grep -q 'istio-proxy' && return 0
    ip netns exec "$(ns "$1")" iptables-save | grep -q 'ISTIO' && return 0
    ip netns exec "$(ns "$1")" ip6tables-save | grep -q 'ISTIO' && return 0
    return 1
}
hosts_with_rules() { # HOST...: those of them with rules
    local h out=()
    for h in "$@"; do if has_rules "$h"; then out+=("$h"); fi; done
    echo "${out[*]}"
}

# --- (a) The first run puts the capture in force everywhere.
play first
first_run() {
    played first 0 || return 1
    expect "hosts changed" "$all" "$(q "$tmp/first.json" changed-hosts)" &&
        expect "capture task changed on" "$all" "$(q "$tmp/first.json" task-changed "$capture")" &&
        expect "verify healthy on" "$all" "$(q "$tmp/first.json" verify-healthy "$capture")"
}
check "(a) first run: changed on every host (${#hosts[@]}), verify healthy on each" first_run
rules_in_place() {
    expect "hosts with rules" "$all" "$(hosts_with_rules "${hosts[@]}")" || return 1
    ip netns exec "$(ns vm3)" nft list ruleset | grep -q 'ip daddr 10.112.0.0/16 counter' ||
        { echo "vm3: no capture of 10.112.0.0/16 (ISTIO_SERVICE_CIDR from the cluster dump)" >&2; return 1; }
    ip netns exec "$(ns vm4)" iptables-save | grep -q -- '-A ISTIO_OUTPUT -d 10.96.0.0/12 -j ISTIO_REDIRECT' ||
        { echo "vm4: no ISTIO_OUTPUT rule in iptables (meshcap_backend: iptables)" >&2; return 1; }
    ip netns exec "$(ns vm5)" nft list ruleset | grep -q 'tcp dport 5432' ||
        { echo "vm5: OUTBOUND_PORTS_EXCLUDE=5432 from its own etc file not in force" >&2; return 1; }
    grep -q "^ISTIO_SERVICE_CIDR='10.112.0.0/16'" "$tmp/hosts/vm3/envoy/cluster.env" ||
        { echo "vm3: cluster.env has no ISTIO_SERVICE_CIDR from the dump" >&2; return 1; }
    if ! { cmp "$tmp/src/vm1.cluster.env" "$tmp/hosts/vm1/envoy/cluster.env" >&2 &&
        cmp "$tmp/src/sidecar.env" "$tmp/hosts/vm1/envoy/sidecar.env" >&2; }; then
        echo "vm1: the placed files are not the controller's" >&2
        return 1
    fi
}
check "(a) rules in every namespace: vm3's CIDR from the cluster dump, vm4 in iptables, vm5's own etc file; files placed as given" rules_in_place

# --- (b) Nothing to do the second time.
play second
second_run() {
    played second 0 || return 1
    expect "hosts changed" "" "$(q "$tmp/second.json" changed-hosts)"
}
check "(b) second run: changed on none" second_run

# --- (c) A config change on one host, in check mode with diffs: reported, nothing touched.
for h in "${hosts[@]}"; do snapshot "$h" >"$tmp/before-$h.rules"; done
cp "$tmp/hosts/vm1/envoy/cluster.env" "$tmp/vm1-cluster.env.before" 2>/dev/null || : >"$tmp/vm1-cluster.env.before"
sed -i 's|^ISTIO_SERVICE_CIDR=.*|ISTIO_SERVICE_CIDR=10.100.0.0/16|' "$tmp/src/vm1.cluster.env"
play check --check --diff
for h in "${hosts[@]}"; do snapshot "$h" >"$tmp/after-$h.rules"; done
check_diff() {
    played check 0 || return 1
    expect "hosts changed" "vm1" "$(q "$tmp/check.json" changed-hosts)" &&
        expect "capture task changed on" "vm1" "$(q "$tmp/check.json" task-changed "$capture")" || return 1
    q "$tmp/check.json" diff "$capture" vm1 >"$tmp/vm1.diff"
    if ! { grep -q '^-.*ip daddr 10.96.0.0/12 counter jump istio-redirect' "$tmp/vm1.diff" &&
        grep -q '^+.*ip daddr 10.100.0.0/16 counter jump istio-redirect' "$tmp/vm1.diff"; }; then
        echo "vm1's diff does not show 10.96.0.0/12 going and 10.100.0.0/16 coming:" >&2
        cat "$tmp/vm1.diff" >&2
        return 1
    fi
    q "$tmp/check.json" file-diff ": Place the staged files" vm1 >"$tmp/vm1-files.diff"
    grep -q '^ISTIO_SERVICE_CIDR=10.100.0.0/16$' "$tmp/vm1-files.diff" ||
        { echo "vm1's cluster.env diff is not shown:" >&2; cat "$tmp/vm1-files.diff" >&2; return 1; }
}
check "(c) --check --diff after vm1's config change: changed on vm1 only, meshcap's rule diff and cluster.env's diff shown" check_diff
untouched() {
    local h bad=()
    for h in "${hosts[@]}"; do cmp -s "$tmp/before-$h.rules" "$tmp/after-$h.rules" || bad+=("$h"); done
    expect "namespaces whose rules changed" "" "${bad[*]}" || { diff "$tmp/before-${bad[0]}.rules" "$tmp/after-${bad[0]}.rules" >&2; return 1; }
    cmp "$tmp/vm1-cluster.env.before" "$tmp/hosts/vm1/envoy/cluster.env" >&2 ||
        { echo "check mode replaced vm1's cluster.env" >&2; return 1; }
}
check "(c) check mode left every namespace's rules byte-identical (nft, iptables-save, ip6tables-save) and cluster.env as it was" untouched
play change
applied_change() {
    played change 0 || return 1
    expect "hosts changed" "vm1" "$(q "$tmp/change.json" changed-hosts)" || return 1
    ip netns exec "$(ns vm1)" nft list ruleset | grep -q 'ip daddr 10.100.0.0/16 counter' ||
        { echo "vm1: 10.100.0.0/16 not captured after the run" >&2; return 1; }
}
check "(c) the run after it changes vm1 only, as check mode said" applied_change

# --- (d) state absent removes every table and chain; a second time changes nothing.
play absent -e meshcap_state=absent
absent_run() {
    played absent 0 || return 1
    expect "capture removed (changed) on" "$all" "$(q "$tmp/absent.json" task-changed "$remove")" &&
        expect "hosts with an istio-proxy table or ISTIO chain left" "" "$(hosts_with_rules "${hosts[@]}")"
}
check "(d) state absent: changed on every host, no istio-proxy table (nft list tables) and no ISTIO chain (iptables-save) left" absent_run
play absent2 -e meshcap_state=absent
absent_again() {
    played absent2 0 || return 1
    expect "hosts changed" "" "$(q "$tmp/absent2.json" changed-hosts)"
}
check "(d) state absent again: changed on none" absent_again

# --- (e) A batch rollout (serial 2, max_fail_percentage 0) with a config meshcap refuses on vm2,
# in the first batch: the play ends with that batch; the later batches are not touched.
cluster_env vm2 10.96.0.0/12 80x
play rollout -e meshcap_serial=2
rollout_stops() {
    played rollout 2 || return 1
    expect "hosts failed" "vm2" "$(q "$tmp/rollout.json" failed-hosts)" &&
        expect "hosts the play reached" "vm1 vm2" "$(q "$tmp/rollout.json" ran-hosts)" || return 1
    q "$tmp/rollout.json" failure vm2 | grep -q '80x' ||
        { echo "vm2's failure does not name the refused value:" >&2; q "$tmp/rollout.json" failure vm2 >&2; return 1; }
}
check "(e) rollout, serial 2: vm2's refused config (ISTIO_INBOUND_PORTS=80x) fails it and ends the play after batch 1" rollout_stops
later_batches_clean() {
    expect "hosts with rules after the stopped rollout" "vm1" "$(hosts_with_rules "${hosts[@]}")"
}
check "(e) vm3-vm6 (later batches) have no rules, nor has vm2; vm1 (vm2's batch) has" later_batches_clean

# --- (f) The module itself on meshcap's exit 2 (doctor off, so apply is reached).
play refused --limit vm2 -e meshcap_doctor=false
module_refuses() {
    played refused 2 || return 1
    local failure
    failure=$(q "$tmp/refused.json" failure vm2)
    case $failure in
    *"$capture: meshcap diff exited 2 (bad input: nothing was changed): "*80x*) ;;
    *) echo "vm2 failed otherwise: $failure" >&2; return 1 ;;
    esac
    expect "hosts with rules" "" "$(hosts_with_rules vm2)"
}
check "(f) meshcap.vm.capture fails on meshcap's exit 2, quoting its message; nothing applied" module_refuses

echo "ansible: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
