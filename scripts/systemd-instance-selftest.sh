#!/usr/bin/env bash
# Proves scripts/systemd-instance.sh gives what package tests rely on: a
# booted systemd, bind mounts from the host, units that start, sysusers, and
# two instances side by side. One line per check; exits non-zero if any fails.

# The check functions run only through check, which shellcheck cannot see.
# shellcheck disable=SC2317
set -euo pipefail

si="$(dirname "$0")/systemd-instance.sh"
tmp=$(mktemp -d /tmp/dsf-selftest.XXXXXX)
failed=0

cleanup() {
	local status=$?
	bash "$si" stop t1 || status=1
	bash "$si" stop t2 || status=1
	rm -rf "$tmp"
	exit "$status"
}
trap cleanup EXIT INT TERM

# check DESCRIPTION CMD...: runs CMD, prints ok/FAIL and, on failure, its
# output, so a red run says which guarantee broke.
check() {
	local what=$1 out
	shift
	if out=$("$@" 2>&1); then
		echo "ok   $what"
	else
		echo "FAIL $what"
		printf '%s\n' "$out" | sed 's/^/     | /'
		failed=1
	fi
}

in1() { bash "$si" exec t1 "$@"; }

is_running() {
	local state
	state=$(bash "$si" exec "$1" systemctl is-system-running) || true
	[ "$state" = running ] || [ "$state" = degraded ] || { echo "state: $state"; return 1; }
}

unit_runs() {
	in1 sh -c 'printf "[Service]\nType=oneshot\nExecStart=/bin/true\n" >/etc/systemd/system/hello.service' || return
	in1 systemctl daemon-reload || return
	in1 systemctl start hello || return
	[ "$(in1 systemctl show -p Result --value hello)" = success ]
}

socket_unit() {
	in1 sh -c 'printf "[Socket]\nListenStream=/run/t.sock\nAccept=yes\n" >/etc/systemd/system/t.socket
		printf "[Service]\nExecStart=/bin/echo hello-from-socket\nStandardInput=socket\nStandardOutput=socket\n" >/etc/systemd/system/t@.service' || return
	in1 systemctl daemon-reload || return
	in1 systemctl start t.socket || return
	[ "$(in1 sh -c 'timeout 5 curl -s --http0.9 --unix-socket /run/t.sock http://x/ || true')" = hello-from-socket ]
}

sysusers() {
	in1 sh -c 'mkdir -p /etc/sysusers.d && echo "u dsf-selftest - \"selftest user\"" >/etc/sysusers.d/dsf-selftest.conf' || return
	in1 systemd-sysusers || return
	in1 getent passwd dsf-selftest
}

dynamic_user() {
	[ "$(in1 systemd-run --wait --pipe -q -p DynamicUser=yes id -un)" != root ]
}

# The use the harness exists for: apt installs a local .deb from a bound
# directory, running its maintainer script under the instance's systemd.
deb_installs() {
	local pkg=$tmp/pkg
	mkdir -p "$pkg/DEBIAN" "$pkg/usr/share/dsf-selftest"
	echo hi >"$pkg/usr/share/dsf-selftest/hi"
	printf 'Package: dsf-selftest\nVersion: 1.0\nArchitecture: all\nMaintainer: selftest <selftest@localhost>\nDescription: selftest package\n' >"$pkg/DEBIAN/control"
	printf '#!/bin/sh\nset -e\nsystemctl is-system-running >/run/dsf-selftest-postinst\n' >"$pkg/DEBIAN/postinst"
	chmod 755 "$pkg/DEBIAN/postinst"
	dpkg-deb --build --root-owner-group "$pkg" "$tmp/dsf-selftest.deb" >/dev/null || return
	in1 apt-get install -y -q /mnt/host/dsf-selftest.deb || return
	in1 test -s /run/dsf-selftest-postinst
}

stdin_passes() {
	[ "$(echo piped | in1 cat)" = piped ]
}

exit_code_passes() {
	local rc=0
	in1 sh -c 'exit 7' || rc=$?
	[ "$rc" = 7 ] || { echo "exit code $rc"; return 1; }
}

distinct() {
	[ "$(in1 hostname)" = t1 ] && [ "$(bash "$si" exec t2 hostname)" = t2 ] &&
		[ "$(in1 cat /etc/machine-id)" != "$(bash "$si" exec t2 cat /etc/machine-id)" ]
}

stopped() {
	local name
	for name in t1 t2; do
		bash "$si" stop "$name" || return
		[ ! -e "/tmp/dsf-instance-$name" ] || { echo "/tmp/dsf-instance-$name left"; return 1; }
		[ ! -e "/sys/fs/cgroup/systemd/dsf-$name" ] || { echo "cgroup dsf-$name left"; return 1; }
	done
	bash "$si" stop t1 # twice: must be a no-op
}

started=$SECONDS
# mktemp's 0700 would keep apt's unprivileged _apt user out of the bound dir.
chmod 755 "$tmp"
echo hello-from-host >"$tmp/file"
check "rootfs" bash "$si" rootfs
t0=$SECONDS
check "start t1" env DSF_BIND="$tmp:/mnt/host" bash "$si" start t1
echo "     (t1 booted in $((SECONDS - t0))s)"
check "t1 is running" is_running t1
check "bind mount visible" test "$(in1 cat /mnt/host/file 2>&1)" = hello-from-host
check "stdin passes through" stdin_passes
check "exit code passes through" exit_code_passes
check "service unit starts" unit_runs
check "socket unit answers" socket_unit
check "systemd-sysusers" sysusers
check "apt installs a local .deb" deb_installs
check "DynamicUser unit" dynamic_user
check "rpm and setpriv present" in1 sh -c 'command -v rpm && command -v setpriv'
check "start t2 beside t1" bash "$si" start t2 </dev/null
check "t2 is running" is_running t2
check "t1 still running" is_running t1
check "instances are distinct" distinct
check "stop both, twice" stopped
echo "selftest finished in $((SECONDS - started))s"
exit "$failed"
