#!/bin/sh
# Before removal, for both formats:
#   deb: prerm remove | upgrade NEW-VERSION   rpm: %preun 0 (erase) | 1+ (upgrade)
# On removal (not upgrade), stop and disable the units while their files
# still exist.
set -e

case "$1" in
remove | 0) ;;
*) exit 0 ;;
esac

command -v systemctl >/dev/null 2>&1 || exit 0
if [ -d /run/systemd/system ]; then
	systemctl disable --now docker-socket-filter.service docker-socket-filter.socket || true
else
	# Offline (a chroot): remove the enable symlinks only.
	systemctl disable docker-socket-filter.service docker-socket-filter.socket || true
fi
exit 0
