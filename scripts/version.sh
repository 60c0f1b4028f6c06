#!/bin/sh
# Prints the version for the binary and the packages: 0.1.N, N the number
# of commits, so every build of a later commit sorts higher; 0.1.0 outside
# a git checkout. With --long, the commit follows, for the binary; --next
# gives the version a later build would have, for upgrade tests.
set -e
n=$(git rev-list --count HEAD 2>/dev/null) || n=0
if [ "${1:-}" = "--next" ]; then
	n=$((n + 1))
fi
v="0.1.$n"
if [ "${1:-}" = "--long" ]; then
	h=$(git describe --always --dirty 2>/dev/null) && v="$v+g$h"
fi
echo "$v"
