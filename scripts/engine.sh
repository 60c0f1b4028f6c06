#!/usr/bin/env bash
# Runs a command next to a private Docker engine: its own socket, data and
# exec roots under a fresh temporary directory, no iptables, no bridge, vfs
# storage. A test image (static busybox) is imported into it. The command
# gets DSF_TEST_DOCKER_HOST and DSF_TEST_IMAGE; the engine is stopped and its
# directory removed when the command ends, whatever its outcome.
#
#   scripts/engine.sh go test ./...
set -euo pipefail

root=$(mktemp -d /tmp/dsf-engine.XXXXXX)
sock=$root/docker.sock
engine_pid=

cleanup() {
	local status=$?
	if [ -n "$engine_pid" ] && kill -0 "$engine_pid" 2>/dev/null; then
		docker -H "unix://$sock" ps -aq 2>/dev/null | xargs -r docker -H "unix://$sock" rm -f >/dev/null 2>&1 || true
		kill "$engine_pid" 2>/dev/null || true
		for _ in $(seq 100); do kill -0 "$engine_pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$engine_pid" 2>/dev/null || true
	fi
	# Anything the engine left mounted must go before its files do.
	grep -o " $root/[^ ]*" /proc/self/mounts 2>/dev/null | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
	rm -rf "$root"
	exit "$status"
}
trap cleanup EXIT INT TERM

dockerd --host "unix://$sock" --data-root "$root/data" --exec-root "$root/exec" \
	--pidfile "$root/dockerd.pid" --iptables=false --ip6tables=false --bridge=none \
	--storage-driver=vfs >"$root/dockerd.log" 2>&1 &
engine_pid=$!

# Wait for the engine to answer (bounded), failing loudly with its log.
for _ in $(seq 300); do
	if docker -H "unix://$sock" version >/dev/null 2>&1; then
		break
	fi
	if ! kill -0 "$engine_pid" 2>/dev/null; then
		echo "engine: dockerd exited; its log:" >&2
		cat "$root/dockerd.log" >&2
		exit 1
	fi
	sleep 0.1
done
docker -H "unix://$sock" version >/dev/null || { echo "engine: no answer after 30s; its log:" >&2; cat "$root/dockerd.log" >&2; exit 1; }

rootfs=$root/rootfs
mkdir -p "$rootfs/bin" "$rootfs/tmp" "$rootfs/etc"
cp "$(command -v busybox)" "$rootfs/bin/busybox"
for applet in sh cat echo sleep ls true false id head tail wc env touch mkdir rm; do
	ln -s busybox "$rootfs/bin/$applet"
done
echo 'root:x:0:0:root:/:/bin/sh' >"$rootfs/etc/passwd"
echo 'root:x:0:' >"$rootfs/etc/group"
tar -C "$rootfs" -c . | docker -H "unix://$sock" import - dsf-test:latest >/dev/null

export DSF_TEST_DOCKER_HOST="unix://$sock"
export DSF_TEST_IMAGE=dsf-test:latest
export DSF_TEST_ENGINE_PID=$engine_pid
"$@"
