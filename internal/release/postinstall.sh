#!/bin/sh
# /var/lib/pushagent is what systemd's StateDirectory= makes at start; it
# is made here too, so that `pushagent validate` run as the service user
# (which compiles the plugins into the cache) works before the first
# start. textfile is where the packaged config's textfile job reads *.prom
# files that cron jobs and scripts write.
set -e
install -d -o pushagent -g pushagent -m 0750 /var/lib/pushagent
install -d -o root -g pushagent -m 0755 /var/lib/pushagent/textfile
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
	if systemctl is-active --quiet pushagent; then
		systemctl restart pushagent || true
	fi
fi
echo "pushagent: edit /etc/pushagent/schedules.yaml, check it with" \
	"'sudo -u pushagent pushagent validate --config /etc/pushagent/schedules.yaml --cache-dir /var/lib/pushagent/cache'," \
	"then 'systemctl enable --now pushagent'."
