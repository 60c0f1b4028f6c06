#!/bin/sh
# After install or upgrade, for both formats:
#   deb: postinst configure [OLD-VERSION]   rpm: %post 1 (install) | 2+ (upgrade)
# Creates the user and group, then, where systemd runs, reloads units and
# starts the socket (Debian enables it on install; rpm follows the preset
# policy) or restarts the service after an upgrade. In a chroot or image
# build, where systemd is not PID 1, only the offline part (users, enable
# symlinks) is done.
set -e

case "$1" in
configure)
	if [ -z "$2" ]; then action=install; else action=upgrade; fi
	format=deb
	;;
1)
	action=install
	format=rpm
	;;
[0-9]*)
	action=upgrade
	format=rpm
	;;
*)
	exit 0
	;;
esac

if command -v systemd-sysusers >/dev/null 2>&1; then
	systemd-sysusers docker-socket-filter.conf
fi

# Enabling only makes symlinks, so it works in a chroot too: an image
# built with the package starts the socket on its first boot.
if [ "$action" = install ] && [ "$format" = deb ] && command -v systemctl >/dev/null 2>&1; then
	systemctl enable docker-socket-filter.socket
fi

[ -d /run/systemd/system ] || exit 0

systemctl daemon-reload
if [ "$action" = install ]; then
	if [ "$format" = deb ]; then
		systemctl start docker-socket-filter.socket
	else
		systemctl preset docker-socket-filter.socket
		if systemctl is-enabled --quiet docker-socket-filter.socket; then
			systemctl start docker-socket-filter.socket
		fi
	fi
else
	# The socket stays open in systemd: clients queue, nothing is lost.
	systemctl try-restart docker-socket-filter.service
fi
exit 0
