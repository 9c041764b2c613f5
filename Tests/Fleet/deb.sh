#!/usr/bin/env bash
# The Debian package on this machine, as an admin installs it: dpkg -i, an upgrade to a later
# version, dpkg -r, dpkg --purge. Each step must change no firewall rule of this machine (its
# own namespace's ruleset, read before and after, is compared byte for byte), removing must
# leave a namespace's live capture as it was, and purging must leave no file of the package.
#
#   Tests/Fleet/deb.sh OLD.deb NEW.deb
#
# Runs as root on a machine without meshcap installed as a package (it installs and purges
# it). Prints one line per check and a last line "deb: N checks passed"; exit 1 on a failure.
set -euo pipefail

old=$1 new=$2
checks=0
fail() { echo "deb: FAIL: $*" >&2; exit 1; }
pass() { checks=$((checks + 1)); echo "deb: ok: $*"; }
[ "$(id -u)" = 0 ] || fail "needs root (dpkg -i)"
if dpkg-query -W -f='${Status}' meshcap 2>/dev/null | grep -q installed; then
    fail "meshcap is installed as a package here already: this test installs and purges it"
fi
[ ! -e /etc/meshcap ] || fail "/etc/meshcap exists (make install?): purging the package would remove it"

ns=mcdeb-$$
work=$(mktemp -d)
cleanup() {
    ip netns del "$ns" 2>/dev/null || true
    dpkg --purge meshcap >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "deb: FAIL: line $LINENO: $BASH_COMMAND" >&2' ERR

# This machine's own ruleset, read only: nft's view (iptables-nft's tables are in it too), and
# iptables-legacy's where its modules are loaded (reading them loads nothing new).
# Without counters (-s; legacy's [packets:bytes]): the machine's own traffic moves those.
ruleset() {
    nft -s list ruleset
    if [ -e /proc/net/ip_tables_names ] && command -v iptables-legacy-save >/dev/null; then
        iptables-legacy-save | { grep -v '^#' || true; } | sed 's/ \[[0-9]*:[0-9]*\]$//'
    fi
}
ruleset > "$work/before"
unchanged() { ruleset > "$work/now"; cmp -s "$work/before" "$work/now" || { diff "$work/before" "$work/now" >&2; fail "$1 changed this machine's ruleset"; }; pass "$1 changed no rule of this machine"; }

version() { dpkg-deb -f "$1" Version; }

# Install.
dpkg -i "$old" > "$work/install.log" 2>&1 || { cat "$work/install.log" >&2; fail "dpkg -i $old"; }
unchanged "dpkg -i"
/usr/bin/meshcap --version | grep -q "^meshcap $(version "$old") " || fail "meshcap --version is not the package's version $(version "$old")"
pass "/usr/bin/meshcap --version is $(version "$old")"
for file in /usr/lib/meshcap/meshcap-with-config /usr/lib/meshcap/meshcap-unit-stop /lib/systemd/system/meshcap.service \
            /lib/systemd/system/meshcap-verify.service /lib/systemd/system/meshcap-verify.timer /usr/share/man/man1/meshcap.1.gz \
            /usr/share/bash-completion/completions/meshcap /usr/share/zsh/vendor-completions/_meshcap \
            /usr/share/fish/vendor_completions.d/meshcap.fish /usr/share/doc/meshcap/copyright /usr/share/doc/meshcap/changelog.gz \
            /usr/share/doc/meshcap/README.Debian /usr/share/doc/meshcap/examples/prometheus/meshcap-alerts.yml /etc/meshcap/README; do
    [ -e "$file" ] || fail "$file is not installed"
done
pass "binary, helpers, units, man page, completions, doc, examples and /etc/meshcap/README installed"
depends=$(dpkg-query -W -f='${Depends}' meshcap) recommends=$(dpkg-query -W -f='${Recommends}' meshcap)
[[ $depends == *libnftnl* && $depends == *libmnl* ]] || fail "Depends has no libnftnl and libmnl: $depends"
[[ $recommends == *nftables* && $recommends == *iptables* ]] || fail "Recommends has no nftables and iptables: $recommends"
pass "Depends: $depends; Recommends: $recommends"
dpkg -L meshcap | while read -r path; do [ -d "$path" ] || echo "$path"; done > "$work/files"
conffiles=$(dpkg-query -W -f='${Conffiles}' meshcap)
[[ $conffiles == *" /etc/meshcap/README "* ]] || fail "/etc/meshcap/README is no conffile: $conffiles"
pass "/etc/meshcap/README is a conffile"

# A capture applied in a namespace of ours with the installed binary, and an admin's override.
ip netns add "$ns"
printf 'ISTIO_SERVICE_CIDR=10.96.0.0/12\nISTIO_INBOUND_PORTS=*\nISTIO_LOCAL_EXCLUDE_PORTS=22\nPROXY_UID=1337\n' > /etc/meshcap/10-local.env
meshcap apply --netns "$ns" --config /etc/meshcap/10-local.env --backend nft > "$work/apply.log" 2>&1 || { cat "$work/apply.log" >&2; fail "meshcap apply in $ns"; }
ip netns exec "$ns" nft list ruleset > "$work/capture"
grep -q 'table inet istio-proxy-nat' "$work/capture" || fail "apply in $ns wrote no istio-proxy-nat table"

# Upgrade.
dpkg -i "$new" > "$work/upgrade.log" 2>&1 || { cat "$work/upgrade.log" >&2; fail "dpkg -i $new (upgrade)"; }
unchanged "the upgrade to $(version "$new")"
# The later version is the same binary under another package version (make deb DEB_VERSION=...).
[ "$(dpkg-query -W -f='${Version}' meshcap)" = "$(version "$new")" ] || fail "after the upgrade, dpkg has not $(version "$new")"
/usr/bin/meshcap --version > /dev/null || fail "after the upgrade, meshcap does not run"
[ -f /etc/meshcap/10-local.env ] || fail "the upgrade removed the admin's /etc/meshcap/10-local.env"
pass "upgraded to $(version "$new"); the admin's /etc/meshcap/10-local.env kept"

# Remove: the namespace's capture stays as it was, and the message says how to clean.
dpkg -r meshcap > "$work/remove.log" 2>&1 || { cat "$work/remove.log" >&2; fail "dpkg -r"; }
unchanged "dpkg -r"
ip netns exec "$ns" nft list ruleset | cmp -s - "$work/capture" || fail "dpkg -r changed the live capture in $ns"
grep -q "meshcap clean" "$work/remove.log" || fail "dpkg -r did not say how to remove the rules: $(cat "$work/remove.log")"
[ ! -e /usr/bin/meshcap ] && [ -f /etc/meshcap/10-local.env ] || fail "after dpkg -r the binary is still there or /etc/meshcap is gone"
pass "dpkg -r left the live capture in $ns as it was, kept /etc/meshcap, and said: $(grep -o "meshcap: the capture rules.*" "$work/remove.log")"

# Purge: no file of the package left, /etc/meshcap gone.
dpkg --purge meshcap > "$work/purge.log" 2>&1 || { cat "$work/purge.log" >&2; fail "dpkg --purge"; }
unchanged "dpkg --purge"
[ ! -e /etc/meshcap ] || fail "/etc/meshcap is still there after purge"
left=$(while read -r path; do [ -e "$path" ] && echo "$path"; done < "$work/files" || true)
[ -z "$left" ] || fail "left after purge: $left"
! dpkg-query -W meshcap >/dev/null 2>&1 || [ -z "$(dpkg-query -W -f='${Status}' meshcap | grep -v not-installed)" ] || fail "dpkg still knows meshcap"
pass "dpkg --purge left none of the $(wc -l < "$work/files") files and no /etc/meshcap"

echo "deb: $checks checks passed ($(version "$old") installed, upgraded to $(version "$new"), removed, purged)"
