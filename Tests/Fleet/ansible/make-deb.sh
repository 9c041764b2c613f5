#!/usr/bin/env bash
# make-deb.sh BINARY OUT.deb: a stand-in meshcap package holding only BINARY as /usr/bin/meshcap,
# for trying the mesh_vm role's meshcap_deb path (Tests/Fleet/ansible.sh OUT.deb) where no real
# package has been built. The binary's shared libraries are not packaged: it installs and runs
# only where they already are (the machine that built it).
set -euo pipefail
binary=${1:?usage: make-deb.sh BINARY OUT.deb}
out=${2:?usage: make-deb.sh BINARY OUT.deb}
version=$("$binary" --version | awk '{print $2}')
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
install -D -m 0755 "$binary" "$root/usr/bin/meshcap"
mkdir -p "$root/DEBIAN"
cat > "$root/DEBIAN/control" <<CONTROL
Package: meshcap
Version: ${version}~stand-in
Architecture: $(dpkg --print-architecture)
Maintainer: meshcap maintainers <meshcap@localhost>
Depends: iproute2, nftables | iptables
Description: meshcap (stand-in package for tests)
 Only the meshcap binary, without the units or manual page.
CONTROL
dpkg-deb --root-owner-group --build "$root" "$out" >/dev/null
echo "$out"
