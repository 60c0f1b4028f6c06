#!/usr/bin/env bash
# Proves the packages under a real systemd: boots a throwaway Debian
# instance (scripts/systemd-instance.sh), binds the private test engine's
# socket into it at /var/run/docker.sock, installs the .deb with apt and the
# .rpm with rpm, and checks what an admin relies on. One line per check.
#
# Run through `make test-packages`, which builds both packages (the current
# version and a later one, for the upgrade) and starts the private engine.
#
#   DSF_TEST_DOCKER_HOST  the private engine (set by scripts/engine.sh)
#   DSF_DIST              where the packages are (default dist)
set -euo pipefail
cd "$(dirname "$0")/.."

instance=scripts/systemd-instance.sh
dist=$(realpath "${DSF_DIST:-dist}")
engine_sock=${DSF_TEST_DOCKER_HOST#unix://}
name=dsfpkg$$
sock=/run/docker-filtered.sock
unit=docker-socket-filter.service
passed=0
failed=0

for c in rpm dpkg-deb docker chroot; do
	command -v "$c" >/dev/null || { echo "test-packages: $c is not installed; run scripts/deps.sh as root" >&2; exit 1; }
done
deb_old=$(ls "$dist"/docker-socket-filter_*_amd64.deb)
deb_new=$(ls "$dist"/next/docker-socket-filter_*_amd64.deb)
rpm_old=$(ls "$dist"/docker-socket-filter-*.x86_64.rpm)
[ -S "$engine_sock" ] || { echo "test-packages: no engine socket at '$engine_sock'" >&2; exit 1; }

# A second instance, for installing before the engine.
early=${name}e
cleanup() {
	"$instance" stop "$name" >/dev/null 2>&1 || true
	"$instance" stop "$early" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# check DESCRIPTION CMD...: runs CMD, prints one line, keeps going.
check() {
	local desc=$1 out
	shift
	if out=$("$@" 2>&1); then
		echo "ok    $desc"
		passed=$((passed + 1))
	else
		echo "FAIL  $desc"
		printf '%s\n' "$out" | sed 's/^/      /' | tail -20
		failed=$((failed + 1))
	fi
}

# in CMD...: runs a command inside the instance.
inside() { "$instance" exec "$name" "$@"; }
# sh_in SCRIPT: runs a shell script inside the instance.
sh_in() { "$instance" exec "$name" sh -ec "$1"; }

expect_eq() { # expect_eq WANT CMD...: CMD's output is WANT, whatever its status
	local want=$1 got
	shift
	got=$("$@") || true
	[ "$got" = "$want" ] || { echo "got '$got', want '$want'"; return 1; }
}

main_pid() { inside systemctl show -p MainPID --value "$unit"; }

# --- the instance -----------------------------------------------------------
"$instance" rootfs
docker_bin=$(command -v docker)
export DSF_BIND="$engine_sock:/var/run/docker.sock $dist:/dist $docker_bin:/usr/local/bin/docker"
"$instance" start "$name"
# The engine socket's group must exist inside under the same gid, as it
# would on a host where the engine is installed.
engine_gid=$(stat -c %g "$engine_sock")
sh_in "groupadd -g $engine_gid docker"

echo "# deb: $(basename "$deb_old")"
check "deb installs with apt" inside apt-get install -y -q /dist/"$(basename "$deb_old")"
check "system user docker-socket-filter exists" inside getent passwd docker-socket-filter
check "group docker-filtered exists" inside getent group docker-filtered
check "socket unit enabled" expect_eq enabled inside systemctl is-enabled docker-socket-filter.socket
check "socket unit listening" expect_eq active inside systemctl is-active docker-socket-filter.socket
check "socket is 0660 root:docker-filtered" expect_eq "660 root docker-filtered socket" \
	inside stat -c '%a %U %G %F' "$sock"
check "service not running before the first client" expect_eq inactive inside systemctl is-active "$unit"
check "docker version through the filter as root" inside docker -H "unix://$sock" version
check "first client started the service" expect_eq active inside systemctl is-active "$unit"

sh_in "useradd -m member && usermod -aG docker-filtered member && useradd -m outsider"
check "docker-filtered member gets the shipped default (version)" \
	inside setpriv --reuid member --regid member --init-groups docker -H "unix://$sock" version
check "docker-filtered member is denied what it does not give (ps)" sh_in "
	! setpriv --reuid member --regid member --init-groups docker -H unix://$sock ps 2>err
	grep -q '(ContainerList) denied for uid=' err"
check "non-member cannot connect at all" sh_in "
	! setpriv --reuid outsider --regid outsider --init-groups curl -sS --unix-socket $sock http://d/_ping 2>err
	grep -qi 'permission denied\|couldn.t connect' err"

echo "# hardening"
check "service runs as its user with the engine's group" sh_in "
	pid=\$(systemctl show -p MainPID --value $unit)
	[ \"\$(stat -c %U /proc/\$pid)\" = docker-socket-filter ]
	grep -q '^Groups:.*\\b$engine_gid\\b' /proc/\$pid/status"
check "security settings in force (systemctl show)" sh_in "
	systemctl show $unit -p NoNewPrivileges -p ProtectSystem -p PrivateNetwork -p PrivateDevices \
		-p RestrictAddressFamilies -p CapabilityBoundingSet -p MemoryDenyWriteExecute -p ProtectHome \
		-p LimitNOFILE -p MemoryMax > show
	cat show
	grep -qx NoNewPrivileges=yes show
	grep -qx ProtectSystem=strict show
	grep -qx PrivateNetwork=yes show
	grep -qx PrivateDevices=yes show
	grep -qx RestrictAddressFamilies=AF_UNIX show
	grep -qx CapabilityBoundingSet= show
	grep -qx MemoryDenyWriteExecute=yes show
	grep -qx ProtectHome=yes show
	grep -qx LimitNOFILE=16384 show
	grep -qx MemoryMax=536870912 show"
check "peer credentials read and engine reached under the hardening" sh_in "
	uid=\$(id -u member)
	journalctl -u $unit -o cat | grep 'operation=SystemVersion' | grep -q \"uid=\$uid .*status=200\""
check "peers' /proc read under the hardening: a root host process is named a host process" sh_in "
	journalctl -u $unit -o cat | grep 'operation=SystemVersion' | grep ' uid=0 ' > rec
	cat rec
	[ -s rec ] && ! grep -q contained=true rec"
check "the unit reads another user's /proc/<pid>/cgroup and status, not its ns links" sh_in "
	sleep 60 & pid=\$!
	systemd-run --wait --pipe -q -p User=docker-socket-filter -p ProtectProc=\$(systemctl show -p ProtectProc --value $unit) \
		-p ProcSubset=pid -p CapabilityBoundingSet= -p NoNewPrivileges=yes \
		sh -c \"cat /proc/\$pid/cgroup >/dev/null && grep -q NSpid /proc/\$pid/status && ! readlink /proc/\$pid/ns/pid\"
	kill \$pid"
score=$(inside systemd-analyze security "$unit" 2>/dev/null | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
check "systemd-analyze security exposure $score <= 2.0" awk -v s="$score" 'BEGIN { exit !(s != "" && s <= 2.0) }'
check "systemd-analyze verify: no warning naming the units" sh_in "
	systemd-analyze verify /usr/lib/systemd/system/docker-socket-filter.socket \
		/usr/lib/systemd/system/$unit > verify 2>&1 || true
	cat verify
	! grep -q docker-socket-filter verify"

echo "# reload and restart"
sh_in "curl -sN --unix-socket $sock 'http://d/v1.41/events?filters=%7B%22type%22%3A%5B%22container%22%5D%7D' > /root/events 2>&1 &
	echo \$! > /root/events.pid"
pid_before=$(main_pid)
sh_in "sed -i 's/allow: \[ping, version, events\]/allow: [ping, version, events, ContainerList]/' /etc/docker-socket-filter/policy.yaml"
check "systemctl reload succeeds" inside systemctl reload "$unit"
check "reload keeps the main PID" expect_eq "$pid_before" main_pid
# SIGHUP is asynchronous: the new policy is in force within moments of
# systemctl returning, so this waits (bounded) for it.
check "reload applies the changed policy (ps now allowed)" sh_in "
	timeout 30 sh -c 'until docker -H unix://$sock ps >/dev/null 2>&1; do sleep 0.05; done'"
sh_in "cp /etc/docker-socket-filter/policy.yaml /root/good.yaml && echo 'colour: blue' >> /etc/docker-socket-filter/policy.yaml"
check "reload of a bad policy fails visibly" sh_in "! systemctl reload $unit"
check "a bad policy keeps the one in force" inside docker -H "unix://$sock" ps
sh_in "cp /root/good.yaml /etc/docker-socket-filter/policy.yaml"
event_name=dsf-pkg-event-$$
docker -H "$DSF_TEST_DOCKER_HOST" create --name "$event_name" --network none dsf-test:latest true >/dev/null
check "open events stream survives the reload" sh_in "
	kill -0 \$(cat /root/events.pid)
	timeout 30 sh -c 'until grep -q $event_name /root/events; do sleep 0.1; done'"
docker -H "$DSF_TEST_DOCKER_HOST" rm -f "$event_name" >/dev/null

sh_in "rm -f /root/loop; (for i in \$(seq 400); do curl -s --unix-socket $sock http://d/_ping || echo LOST; echo; done > /root/loop; echo done >> /root/loop) >/dev/null 2>&1 &"
sh_in "timeout 60 sh -c 'until [ \$(wc -l < /root/loop) -ge 50 ]; do sleep 0.05; done'"
pid_before=$(main_pid)
check "systemctl restart under a client loop" inside systemctl restart "$unit"
sh_in "timeout 120 sh -c 'until grep -qx done /root/loop; do sleep 0.1; done'"
check "restart lost no request (400 of 400 answered OK)" expect_eq 400 sh_in "grep -cx OK /root/loop"
check "restart changed the main PID" sh_in "[ \"\$(systemctl show -p MainPID --value $unit)\" != $pid_before ]"

echo "# upgrade: $(basename "$deb_new")"
pid_before=$(main_pid)
check "newer deb installs over the old" inside apt-get install -y -q /dist/next/"$(basename "$deb_new")"
check "upgrade kept the modified policy" inside grep -q 'events, ContainerList' /etc/docker-socket-filter/policy.yaml
check "upgrade restarted the service" sh_in "[ \"\$(systemctl show -p MainPID --value $unit)\" != $pid_before ]"
check "upgraded service answers" inside docker -H "unix://$sock" ps

echo "# purge"
deb_files=$(dpkg-deb -c "$deb_old" | awk '{print $6}' | sed 's/^\.//' | grep -v '/$')
check "apt purge succeeds" inside apt-get purge -y -q docker-socket-filter
check "no unit left" sh_in "! systemctl list-unit-files 'docker-socket-filter*' | grep -q docker-socket-filter"
check "no socket path left" sh_in "[ ! -e $sock ]"
check "no process left" sh_in "! pgrep -f /usr/bin/docker-socket-filter"
check "no file of the package left" sh_in "for f in $(echo $deb_files) /etc/docker-socket-filter; do [ ! -e \$f ] || { echo \$f; exit 1; }; done"

echo "# rpm: $(basename "$rpm_old")"
rpm_files=$(rpm -qpl "$rpm_old" | grep -v '^/etc/docker-socket-filter$' | sed 's|/usr/share/licenses/docker-socket-filter/LICENSE|/usr/share/doc/docker-socket-filter/copyright|' | sort)
check "rpm -qpl has the deb's layout" expect_eq "$(echo "$deb_files" | sort)" echo "$rpm_files"
check "rpm -qp --scripts has the maintainer scripts" sh -c "
	rpm -qp --scripts '$rpm_old' > /tmp/dsf-scripts.$$
	grep -q '^postinstall scriptlet' /tmp/dsf-scripts.$$ && grep -q '^preuninstall scriptlet' /tmp/dsf-scripts.$$ &&
	grep -q '^postuninstall scriptlet' /tmp/dsf-scripts.$$; s=\$?; rm -f /tmp/dsf-scripts.$$; exit \$s"
check "rpm installs with rpm -i --nodeps" inside rpm -i --nodeps /dist/"$(basename "$rpm_old")"
check "rpm: user and group exist" sh_in "getent passwd docker-socket-filter && getent group docker-filtered"
check "rpm: socket enabled by preset and listening" sh_in "
	[ \$(systemctl is-enabled docker-socket-filter.socket) = enabled ]
	[ \$(systemctl is-active docker-socket-filter.socket) = active ]"
check "rpm: socket is 0660 root:docker-filtered" expect_eq "660 root docker-filtered" inside stat -c '%a %U %G' "$sock"
check "rpm: docker version through the filter" inside docker -H "unix://$sock" version
check "rpm: docker-filtered member gets the shipped default" \
	inside setpriv --reuid member --regid member --init-groups docker -H "unix://$sock" version
check "rpm -e removes it" inside rpm -e docker-socket-filter
check "rpm: no unit, socket or process left" sh_in "
	! systemctl list-unit-files 'docker-socket-filter*' | grep -q docker-socket-filter
	[ ! -e $sock ]
	! pgrep -f /usr/bin/docker-socket-filter"

echo "# installed before the engine: no docker group, then an engine socket of another group"
"$instance" stop "$name" >/dev/null
# The engine is bound at a path nothing looks at yet: first there is no
# engine socket at all. Its gid gets a group that is not "docker", as on a
# host whose engine socket belongs to another group.
export DSF_BIND="$engine_sock:/run/engine.sock $dist:/dist $docker_bin:/usr/local/bin/docker"
"$instance" start "$early"
in_early() { "$instance" exec "$early" "$@"; }
sh_early() { "$instance" exec "$early" sh -ec "$1"; }
sh_early "groupadd -g $engine_gid enginegrp"
check "no docker group before the install" sh_early "! getent group docker"
check "deb installs with no engine and no docker group" in_early apt-get install -y -q /dist/"$(basename "$deb_old")"
check "install made group docker with the service user in it" sh_early "
	getent group docker | grep -q ':docker-socket-filter\$'"
check "no engine: docker version gets a JSON error naming the cause" sh_early "
	! docker -H unix://$sock version 2>err
	cat err
	grep -q 'cannot reach the Docker engine at /var/run/docker.sock: no such socket: the engine is not running' err"
check "no engine: the service runs, it did not fail" expect_eq active in_early systemctl is-active "$unit"
check "no engine: the journal says what is wrong" sh_early "
	timeout 30 sh -c 'until journalctl -u $unit -o cat | grep \"engine unreachable\" | grep -q \"no such socket\"; do sleep 0.1; done'"
# The engine appears, its socket in group enginegrp (0660), which the
# service user is not in.
sh_early "ln -s /run/engine.sock /run/docker.sock"
check "engine of another group: docker version names the group to join" sh_early "
	! docker -H unix://$sock version 2>err
	cat err
	grep -q 'permission denied: the socket is root:enginegrp mode 0660 and docker-socket-filter is not in group enginegrp' err
	grep -q 'usermod -aG enginegrp docker-socket-filter' err
	grep -q 'SupplementaryGroups=enginegrp' err"
check "engine of another group: the service restarts" in_early systemctl restart "$unit"
check "engine of another group: the journal says what to do" sh_early "
	timeout 30 sh -c 'until journalctl -u $unit -o cat | grep \"engine unreachable\" | grep -q \"usermod -aG enginegrp docker-socket-filter\"; do sleep 0.1; done'"
check "no failed unit: the socket is active, its last result success" sh_early "
	for i in 1 2 3 4 5 6 7 8 9 10; do docker -H unix://$sock version >/dev/null 2>&1 || true; done
	[ \$(systemctl is-active docker-socket-filter.socket) = active ]
	[ \$(systemctl show -p Result --value docker-socket-filter.socket) = success ]
	[ \$(systemctl show -p Result --value $unit) = success ]
	! systemctl is-failed --quiet $unit"
check "doing what the journal says makes it work" sh_early "
	usermod -aG enginegrp docker-socket-filter
	systemctl restart $unit
	docker -H unix://$sock version"
"$instance" stop "$early" >/dev/null

echo "# without systemd (a chroot, as in an image build)"
croot=$(mktemp -d /tmp/dsf-chroot.XXXXXX)
trap 'cleanup; rm -rf --one-file-system "$croot"' EXIT
cp -a --reflink=auto "${DSF_CACHE:-/var/cache/docker-socket-filter-test}/bookworm-rootfs/root" "$croot/root"
cp "$deb_old" "$croot/root/tmp/dsf.deb"
cp "$rpm_old" "$croot/root/tmp/dsf.rpm"
check "deb installs in a chroot, skipping systemctl" chroot "$croot/root" dpkg -i /tmp/dsf.deb
check "chroot: user and group created" chroot "$croot/root" sh -c "getent passwd docker-socket-filter && getent group docker-filtered"
check "chroot: socket unit enabled for the first boot" chroot "$croot/root" \
	test -L /etc/systemd/system/sockets.target.wants/docker-socket-filter.socket
check "deb purges in a chroot" chroot "$croot/root" dpkg -P docker-socket-filter
check "chroot: purge left no enable link" chroot "$croot/root" \
	test ! -e /etc/systemd/system/sockets.target.wants/docker-socket-filter.socket -a ! -L /etc/systemd/system/sockets.target.wants/docker-socket-filter.socket
check "rpm installs and erases in a chroot" chroot "$croot/root" sh -c "rpm -i --nodeps /tmp/dsf.rpm && rpm -e docker-socket-filter"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
