#!/usr/bin/env bash
# Installs what building and testing need on a Debian machine, once: Debian's
# Docker engine and CLI, static busybox for test images, systemd's
# socket-activation helper, curl. Run as root; does nothing when all is there.
set -euo pipefail

need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v docker >/dev/null || need+=(docker.io)
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
command -v systemd-socket-activate >/dev/null || need+=(systemd)
command -v curl >/dev/null || need+=(curl)
command -v setpriv >/dev/null || need+=(util-linux)
if [ ${#need[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing ${need[*]}; run as root (or install them) first" >&2
	exit 1
fi
echo "deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
