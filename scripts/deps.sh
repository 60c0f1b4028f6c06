#!/usr/bin/env bash
# Installs, on a Debian machine, every host command that `make test` and the
# scripts and tests it runs call, once; then checks them all again and fails
# naming whatever is still missing, before any test starts. Run as root to
# install; as another user it only checks. Does nothing when all is there.
#
# The list is the contract: a script or test that calls a new host command
# adds it here. Commands run inside the package-test instance come with its
# rootfs (scripts/systemd-instance.sh), not from here.
set -euo pipefail
# chroot, debootstrap and the like live in sbin, which a CI shell's PATH may lack.
export PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin

# COMMAND PACKAGE: who calls it.
required='
dockerd docker.io                  engine.sh: the private engine
docker docker.io                   engine.sh, integration tests, test-packages.sh
busybox busybox-static             engine.sh: the test image (must be static)
systemd-socket-activate systemd    integration: socket activation
setpriv util-linux                 integration: requests as other users
unshare util-linux                 integration: a host process in a pid namespace of its own
nsenter util-linux                 systemd-instance.sh: exec into the instance
flock util-linux                   systemd-instance.sh: the rootfs cache lock
setsid util-linux                  systemd-instance.sh: detach the instance
systemd-nspawn systemd-container   systemd-instance.sh: boot the instance
debootstrap debootstrap            systemd-instance.sh: build the cached rootfs
rpm rpm                            test-packages.sh: inspect the .rpm
dpkg-deb dpkg                      test-packages.sh: list the .deb
git git                            version.sh, make lint
gcc gcc                            go test -race (cgo)
gzip gzip                          make package: the man page
haproxy haproxy                    make bench: the HAProxy peer (tecnativa config)
'

# The test image runs busybox alone in an empty root: a dynamically linked
# one (Debian's plain busybox package) cannot start there.
static_busybox() {
	dpkg -s busybox-static >/dev/null 2>&1
}

missing() {
	local cmd pkg _
	while read -r cmd pkg _; do
		[ -n "$cmd" ] || continue
		if ! command -v "$cmd" >/dev/null 2>&1 || { [ "$cmd" = busybox ] && ! static_busybox; }; then
			echo "$cmd $pkg"
		fi
	done <<<"$required"
}

go_ok() {
	command -v go >/dev/null 2>&1 || {
		echo "deps: go is not installed: install the Go version go.mod names (https://go.dev/dl/); Debian's golang is too old" >&2
		return 1
	}
}

go_ok
gaps=$(missing)
if [ -z "$gaps" ]; then
	exit 0
fi
pkgs=$(awk '{ print $2 }' <<<"$gaps" | sort -u | tr '\n' ' ')
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing commands: $(awk '{ print $1 }' <<<"$gaps" | tr '\n' ' ')" >&2
	echo "deps: run 'scripts/deps.sh' as root, or apt-get install $pkgs" >&2
	exit 1
fi
echo "deps: installing $pkgs" >&2
export DEBIAN_FRONTEND=noninteractive
# Another apt run holding the lock is waited for, not raced.
apt_opts=(-o DPkg::Lock::Timeout=600)
apt-get "${apt_opts[@]}" update -qq
# shellcheck disable=SC2086 # a list of package names
apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends $pkgs >/dev/null
gaps=$(missing)
if [ -n "$gaps" ]; then
	echo "deps: still missing after installing: $(awk '{ print $1 " (" $2 ")" }' <<<"$gaps" | tr '\n' ' ')" >&2
	exit 1
fi
