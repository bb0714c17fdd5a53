#!/bin/sh
# One replica of the example: the worker and its pushagent in one
# container, so that `docker compose up --scale worker=N` scales the pair
# together (Compose has no pods; see ../README.md, "Why the agent runs in
# the worker's container").
#
# It runs both, and stops both when either exits or a SIGTERM/SIGINT comes
# (docker stop, scale down): the agent first, so that it deletes this
# replica's group at the gateway (delete_on_shutdown) while the network is
# still there, then the worker. It exits non-zero if either failed.
#
# The paths default to the image's; the end-to-end test (e2e/compose_test.go)
# runs this same script with its own binaries.
set -u

worker_bin=${FAUST_WORKER_BIN:-/usr/local/bin/faust-worker}
agent_bin=${PUSHAGENT_BIN:-/usr/local/bin/pushagent}
agent_config=${PUSHAGENT_CONFIG:-/etc/pushagent/agent.yaml}
agent_listen=${PUSHAGENT_LISTEN:-:9465}
# Set: the listener is secured as that exporter-toolkit web config says.
agent_web_config=${PUSHAGENT_WEB_CONFIG_FILE:-}

stopping=
trap 'stopping=1' TERM INT

"$worker_bin" &
worker=$!
if [ -n "$agent_web_config" ]; then
	set -- --web.config.file "$agent_web_config"
else
	set --
fi
"$agent_bin" run --config "$agent_config" --listen "$agent_listen" "$@" &
agent=$!

# Poll rather than wait on one child: either may exit first. wait returns
# at once when a trapped signal arrives, and reaps exited children, so
# kill -0 fails for them afterwards.
while [ -z "$stopping" ] && kill -0 "$worker" 2>/dev/null && kill -0 "$agent" 2>/dev/null; do
	sleep 1 &
	wait $!
done

kill -TERM "$agent" 2>/dev/null
# A second signal interrupts wait; keep waiting for the agent's clean stop.
while :; do
	wait "$agent"
	status=$?
	kill -0 "$agent" 2>/dev/null || break
done
kill -TERM "$worker" 2>/dev/null
wait "$worker"
worker_status=$?
[ "$status" -ne 0 ] || status=$worker_status
exit "$status"
