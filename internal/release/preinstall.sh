#!/bin/sh
# The service runs as its own system user, which owns nothing but
# /var/lib/pushagent (and may read /etc/pushagent through its group).
set -e
if ! getent group pushagent >/dev/null; then
	groupadd --system pushagent
fi
if ! getent passwd pushagent >/dev/null; then
	useradd --system --gid pushagent --home-dir /var/lib/pushagent --no-create-home \
		--shell /usr/sbin/nologin --comment "pushagent metrics agent" pushagent
fi
