#!/bin/sh
# After removal, for both formats:
#   deb: postrm remove | purge | upgrade ...   rpm: %postun 0 (erase) | 1+ (upgrade)
# Purge removes the configuration (rpm keeps a modified one as .rpmsave by
# itself). The system user stays, as Debian policy advises.
set -e

case "$1" in
purge)
	rm -rf /etc/docker-socket-filter
	;;
remove | 0) ;;
*) exit 0 ;;
esac

if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
fi
exit 0
