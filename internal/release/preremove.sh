#!/bin/sh
# Stop the service before its binary goes; an upgrade restarts it in
# postinstall. (Debian passes "remove"/"upgrade", RPM the number of
# versions left: 0 on removal.)
set -e
case "$1" in
remove | 0)
	if [ -d /run/systemd/system ]; then
		systemctl disable --now pushagent || true
	fi
	;;
esac
