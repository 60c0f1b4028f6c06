#!/usr/bin/env bash
# Throwaway Debian bookworm instances with real systemd as PID 1, for package
# tests that need apt, systemctl, socket units, sysusers and the like. The
# host has no systemd of its own (no machined, no D-Bus to ask for scopes), so
# the instances are plain systemd-nspawn processes that this script puts into
# cgroups of their own and finds again through files under /tmp.
#
#   scripts/systemd-instance.sh rootfs            build (or reuse) the cached rootfs
#   scripts/systemd-instance.sh start NAME        boot an instance, wait for systemd
#   scripts/systemd-instance.sh exec NAME CMD...  run CMD inside it
#   scripts/systemd-instance.sh stop NAME         power it off and remove every trace
#
# Environment:
#   DSF_CACHE         cache directory (default /var/cache/docker-socket-filter-test)
#   DSF_BIND          space-separated HOST:CONTAINER[:OPTS] pairs bind-mounted at start
#   DSF_MIRROR        Debian mirror for debootstrap (default: the one apt uses here)
#   DSF_BOOT_TIMEOUT  seconds to wait for systemd to finish booting (default 60)
#
# Needs root. Installs debootstrap and systemd-container when they are missing.
set -euo pipefail
# debootstrap and chroot live in sbin, which a CI shell's PATH may lack.
export PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin

suite=bookworm
# A changed package list or post-install step must rebuild the cached rootfs:
# both go into the stamp compared on every use. Bump rootfs_rev when the
# customisation in build_rootfs changes.
variant=minbase
packages=systemd,systemd-sysv,dbus,curl,rpm,util-linux,man-db
rootfs_rev=2
stamp="suite=$suite variant=$variant include=$packages rev=$rootfs_rev"

cache=${DSF_CACHE:-/var/cache/docker-socket-filter-test}
cached=$cache/bookworm-rootfs
boot_timeout=${DSF_BOOT_TIMEOUT:-60}
cgroot=/sys/fs/cgroup

log() { echo "systemd-instance: $*" >&2; }
die() { log "$*"; exit 1; }

need_root() {
	[ "$(id -u)" = 0 ] || die "must run as root"
}

ensure_host_tools() {
	local need=()
	command -v debootstrap >/dev/null || need+=(debootstrap)
	command -v systemd-nspawn >/dev/null || need+=(systemd-container)
	command -v nsenter >/dev/null || need+=(util-linux)
	[ ${#need[@]} -eq 0 ] && return 0
	log "installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2
	apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
}

# The mirror apt already reaches here, so the build works wherever the
# machine's own apt does. Both source formats are read: deb822 stanzas in
# *.sources and one-line entries in sources.list / *.list. Only an entry that
# carries the plain "bookworm" suite counts (not -security, not -updates).
apt_mirror() {
	local f files=()
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] && files+=("$f")
	done
	[ ${#files[@]} -eq 0 ] && return 0
	awk -v suite="$suite" '
		function flush() {
			if (types ~ /(^| )deb( |$)/ && enabled != "no" && (" " suites " ") ~ (" " suite " ") && uris != "" && !found) {
				split(uris, u, " "); print u[1]; found = 1
			}
			types = ""; suites = ""; uris = ""; enabled = ""
		}
		FNR == 1 { flush(); deb822 = (FILENAME ~ /\.sources$/) }
		/^[ \t]*#/ { next }
		deb822 && /^[ \t]*$/ { flush(); next }
		deb822 {
			key = tolower($1); sub(/:$/, "", key); $1 = ""; sub(/^ +/, "")
			if (key == "types") types = $0
			else if (key == "uris") uris = $0
			else if (key == "suites") suites = $0
			else if (key == "enabled") enabled = tolower($0)
			next
		}
		$1 == "deb" && !found {
			i = 2
			if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
			if ($(i + 1) == suite) { print $i; found = 1 }
		}
		END { flush() }
	' "${files[@]}"
}

# Unmounts whatever is still mounted below a directory (deepest first), then
# removes it without ever crossing into another filesystem: an interrupted
# debootstrap leaves /proc and /sys mounted inside its target.
remove_tree() {
	local dir=$1 mnt
	[ -e "$dir" ] || return 0
	while read -r mnt; do
		umount -l "$mnt" 2>/dev/null || true
	done < <(awk -v d="$dir" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r)
	rm -rf --one-file-system "$dir"
}

build_rootfs() {
	local mirror tmp
	mirror=${DSF_MIRROR:-$(apt_mirror)}
	mirror=${mirror:-http://deb.debian.org/debian}
	tmp=$(mktemp -d "$cache/.build.XXXXXX")
	# Interrupted here, the half-built tree is removed now or by the next build;
	# it is never renamed into place, so it is never used.
	trap 'remove_tree "$tmp"' EXIT
	log "building $suite rootfs from $mirror (a few minutes; cached in $cached)"
	local started=$SECONDS
	if ! debootstrap --variant="$variant" --include="$packages" "$suite" "$tmp/root" "$mirror" >"$tmp/debootstrap.log" 2>&1; then
		tail -n 40 "$tmp/debootstrap.log" >&2
		[ -f "$tmp/root/debootstrap/debootstrap.log" ] && tail -n 40 "$tmp/root/debootstrap/debootstrap.log" >&2
		die "debootstrap failed"
	fi
	# An empty machine-id makes every boot get a fresh transient one from
	# nspawn, so copies of one image never share an identity; an empty file
	# (unlike a missing one) does not count as a first boot, so no
	# systemd-firstboot prompt waits on a console nobody reads.
	: >"$tmp/root/etc/machine-id"
	rm -f "$tmp/root/var/lib/dbus/machine-id"
	# Nobody types at the console: a login prompt there would only clutter
	# the console log.
	ln -sf /dev/null "$tmp/root/etc/systemd/system/console-getty.service"
	# debootstrap copies the build machine's hostname; without one the
	# instance is named after its machine name (-M).
	rm -f "$tmp/root/etc/hostname"
	chroot "$tmp/root" apt-get clean
	rm -f "$tmp/debootstrap.log"
	echo "$stamp" >"$tmp/stamp"
	log "rootfs built in $((SECONDS - started))s"
	if [ -e "$cached" ]; then
		local old
		old=$(mktemp -d "$cache/.old.XXXXXX")
		mv "$cached" "$old/"
		mv "$tmp" "$cached"
		remove_tree "$old"
	else
		mv "$tmp" "$cached"
	fi
	trap - EXIT
}

cmd_rootfs() {
	need_root
	ensure_host_tools
	mkdir -p "$cache"
	# Builders exclusive, users (start) shared: a rebuild never swaps the tree
	# out from under a copy in progress, and two builds never race.
	exec 9>"$cache/.lock"
	flock 9
	if [ -f "$cached/stamp" ] && [ "$(cat "$cached/stamp")" = "$stamp" ] && [ -x "$cached/root/lib/systemd/systemd" ]; then
		log "reusing cached rootfs $cached"
	else
		local d
		for d in "$cache"/.build.* "$cache"/.old.*; do
			[ -e "$d" ] && remove_tree "$d"
		done
		build_rootfs
	fi
	exec 9>&-
}

check_name() {
	[[ ${1:-} =~ ^[A-Za-z0-9][A-Za-z0-9-]{0,30}$ ]] || die "bad instance name '${1:-}' (letters, digits, dashes)"
}

# The hierarchies nspawn and the container's systemd use to track processes.
# Other v1 controllers are left alone: a fresh cpuset group has no CPUs, and
# moving out of the memory group would escape this machine's own limits.
cgroup_dirs() {
	local name=$1 h
	for h in systemd unified; do
		if [ -f "$cgroot/$h/cgroup.procs" ]; then
			echo "$cgroot/$h/dsf-$name"
		fi
	done
}

nspawn_pid() {
	local dir=$1 pid
	pid=$(cat "$dir/nspawn.pid" 2>/dev/null) || return 1
	[ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = systemd-nspawn ] || return 1
	echo "$pid"
}

# The container's PID 1 is a child of systemd-nspawn whose innermost pid is 1.
container_pid() {
	local npid=$1 c
	# shellcheck disable=SC2013 # a list of pids
	for c in $(cat /proc/"$npid"/task/*/children 2>/dev/null); do
		if [ "$(awk '/^NSpid:/ { print $NF }' "/proc/$c/status" 2>/dev/null)" = 1 ]; then
			echo "$c"
			return 0
		fi
	done
	return 1
}

# Sets enter to the command prefix that runs something in every namespace of
# the container's PID 1 (nsenter -a also takes its root and working
# directory) with a clean environment: the caller's would leak host paths and
# settings into package scripts under test. No TTY is assumed, hence the
# non-interactive debconf frontend.
enter_cmd() {
	enter=(nsenter -t "$1" -a env -i
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
		HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" DEBIAN_FRONTEND=noninteractive)
}

cmd_start() {
	local name=${1:-}
	check_name "$name"
	cmd_rootfs
	local dir=/tmp/dsf-instance-$name
	if nspawn_pid "$dir" >/dev/null; then
		die "instance $name is already running (stop it first)"
	fi
	if [ -e "$dir" ] || [ -n "$(cg_pids "$name")" ]; then
		log "removing what a previous instance $name left"
		cmd_stop "$name"
	fi

	local args=(-b -D "$dir/root" -M "$name"
		# No machined and no host systemd to register with or ask for a scope.
		--register=no --keep-unit
		# There is never a TTY in CI. read-only gives the container a pty as
		# its console and copies what it prints to nspawn's stdout (the log
		# file) without touching stdin; "pipe" boots too but systemd then
		# prints nothing, and "passive" forwards nothing at all, which leaves
		# a failed boot with an empty log.
		--console=read-only --setenv=SYSTEMD_COLORS=0
		--link-journal=no)
	local bind host rest
	for bind in ${DSF_BIND:-}; do
		host=${bind%%:*}
		rest=${bind#*:}
		if [ "$host" = "$bind" ] || [ -z "$rest" ]; then
			die "DSF_BIND entry '$bind' is not HOST:CONTAINER"
		fi
		[ -e "$host" ] || die "DSF_BIND: $host does not exist"
		args+=("--bind=$(realpath "$host"):$rest")
	done

	# A start that fails or is interrupted anywhere from here leaves nothing
	# behind.
	local booted=
	trap '[ -n "$booted" ] || cmd_stop "$name"' EXIT
	trap 'exit 130' INT TERM
	mkdir -p "$dir"
	local started=$SECONDS
	exec 9<"$cache/.lock"
	flock -s 9
	cp -a --reflink=auto "$cached/root" "$dir/root"
	exec 9<&-
	local copy_s=$((SECONDS - started))

	# Two nspawns in one cgroup would each see the other's processes as part
	# of their container, so each instance gets a cgroup of its own, entered
	# by the shell that then execs nspawn. setsid keeps a ^C aimed at the
	# caller from reaching the instance; every inherited descriptor but the
	# three redirected here is closed so that a caller capturing our output
	# ($(...), a pipe) is not held open by the long-lived nspawn.
	local cgs
	cgs=$(cgroup_dirs "$name")
	# shellcheck disable=SC2086
	mkdir -p $cgs
	# shellcheck disable=SC2016 # expanded by the inner shell
	DSF_CGS=$cgs DSF_DIR=$dir setsid bash -c '
		for fd in /proc/$$/fd/*; do
			fd=${fd##*/}
			[ "$fd" -gt 2 ] && eval "exec $fd>&-"
		done
		for cg in $DSF_CGS; do echo $$ >"$cg/cgroup.procs"; done
		echo $$ >"$DSF_DIR/nspawn.pid"
		unset DSF_CGS DSF_DIR
		exec systemd-nspawn "$@"
	' nspawn "${args[@]}" </dev/null >"$dir/console.log" 2>&1 &

	local npid='' cpid='' state='' deadline=$((SECONDS + boot_timeout))
	while [ $SECONDS -lt $deadline ]; do
		npid=$(nspawn_pid "$dir") || npid=
		if [ -z "$npid" ] && [ -s "$dir/nspawn.pid" ]; then
			# Give a just-written pid a moment to exec into nspawn before
			# deciding it died.
			sleep 0.2
			npid=$(nspawn_pid "$dir") || { state="nspawn exited"; break; }
		fi
		if [ -n "$npid" ] && cpid=$(container_pid "$npid"); then
			enter_cmd "$cpid"
			state=$("${enter[@]}" timeout 10 systemctl is-system-running --wait 2>/dev/null) || true
			# "offline" (and no answer) is what systemctl says before PID 1
			# has its private bus up, so early on it means "not yet".
			case $state in
			running | degraded | maintenance | stopping) break ;;
			esac
		fi
		sleep 0.2
	done
	if [ "$state" != running ] && [ "$state" != degraded ]; then
		log "instance $name did not boot (state: ${state:-none} after $((SECONDS - started))s); console log:"
		cat "$dir/console.log" >&2 || true
		exit 1
	fi
	echo "$cpid" >"$dir/pid"
	booted=1
	trap - EXIT INT TERM
	log "instance $name $state in $((SECONDS - started))s (copy ${copy_s}s), pid $cpid"
}

cmd_exec() {
	local name=${1:-}
	check_name "$name"
	shift
	[ $# -gt 0 ] || die "usage: exec NAME CMD..."
	local dir=/tmp/dsf-instance-$name pid
	pid=$(cat "$dir/pid" 2>/dev/null) || die "instance $name is not running"
	# A pid that outlived its instance could be reused by anything.
	nspawn_pid "$dir" >/dev/null || die "instance $name is not running"
	enter_cmd "$pid"
	exec "${enter[@]}" "$@"
}

cg_pids() {
	local cg
	for cg in $(cgroup_dirs "$1"); do
		if [ -d "$cg" ]; then
			find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null || true
		fi
	done | sort -u
}

# Safe from a trap and when called twice: every step tolerates the instance
# being half-started, already stopped, or never started.
cmd_stop() {
	local name=${1:-}
	check_name "$name"
	local dir=/tmp/dsf-instance-$name npid cpid
	if npid=$(nspawn_pid "$dir"); then
		# SIGRTMIN+4 is systemd's own "power off" request, honoured at any
		# stage of boot; nspawn exits when PID 1 does. Asking nspawn with
		# SIGTERM instead can go unheard: a launcher that ignored the signal
		# (as shells do for background jobs with SIGINT) passes that on.
		if cpid=$(container_pid "$npid"); then
			kill -s RTMIN+4 "$cpid" 2>/dev/null || true
		else
			kill -TERM "$npid" 2>/dev/null || true
		fi
		for _ in $(seq 300); do
			kill -0 "$npid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$npid" 2>/dev/null; then
			log "instance $name did not power off in 30s; killing it"
		fi
	fi
	# Whatever is left in the instance's cgroups (a killed nspawn leaves its
	# container running) goes now.
	local pids
	for _ in $(seq 50); do
		pids=$(cg_pids "$name")
		[ -z "$pids" ] && break
		# shellcheck disable=SC2086
		kill -KILL $pids 2>/dev/null || true
		sleep 0.1
	done
	local cg
	for cg in $(cgroup_dirs "$name"); do
		if [ -d "$cg" ]; then
			find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null || true
			if [ -d "$cg" ]; then log "could not remove cgroup $cg"; fi
		fi
	done
	# A killed nspawn cannot tidy its own state under /run; left there, its
	# image lock (named after the root's inode) could later match another.
	if [ -d "$dir/root" ]; then
		rm -f "/run/systemd/nspawn/locks/inode-$(stat -c %d:%i "$dir/root")"
	fi
	remove_tree "/run/systemd/nspawn/propagate/$name"
	remove_tree "$dir"
}

usage() {
	sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//' >&2
	exit 2
}

main() {
	local sub=${1:-}
	[ $# -gt 0 ] && shift
	case $sub in
	rootfs) cmd_rootfs ;;
	start) need_root; cmd_start "$@" ;;
	exec) cmd_exec "$@" ;;
	stop) need_root; cmd_stop "$@" ;;
	*) usage ;;
	esac
}

main "$@"
