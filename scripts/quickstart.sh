#!/usr/bin/env bash
# README command 1: run the agent on the bundled schedules.yaml against a
# local Pushgateway, and show what it pushed.
#
# Starts prometheus-pushgateway on 127.0.0.1:9091 unless one already answers
# there, starts bin/pushagent, waits for the first pushes (compiling the
# plugins, then at most two of the bundled 10s intervals), prints the
# pushed series as the gateway serves them, then keeps the agent in the
# foreground until Ctrl-C.
# QUICKSTART_EXIT=1 stops after printing (used by the tests).
#
# Ctrl-C in a terminal signals the whole foreground process group at once.
# The gateway runs in a session of its own (setsid), so only this script
# stops it, after the agent has stopped and deleted its groups there
# (delete_on_shutdown); a stop by Ctrl-C ends with status 0.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

gateway=${PUSHGATEWAY_URL:-http://127.0.0.1:9091}
export PUSHGATEWAY_URL=$gateway
pids=()
cleanup() {
	# Agent first (newest first), so it can still delete its groups at the
	# gateway (delete_on_shutdown) before the gateway goes.
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		kill "${pids[i]}" 2>/dev/null || true
		wait "${pids[i]}" 2>/dev/null || true
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! curl -fsS "$gateway/-/ready" >/dev/null 2>&1; then
	addr=${gateway#http://}
	echo "quickstart: starting prometheus-pushgateway on $addr"
	setsid prometheus-pushgateway --web.listen-address="$addr" --persistence.file="" \
		>/tmp/pushagent-quickstart-gateway.log 2>&1 &
	pids+=($!)
	for _ in $(seq 50); do
		curl -fsS "$gateway/-/ready" >/dev/null 2>&1 && break
		sleep 0.1
	done
fi

echo "quickstart: starting bin/pushagent run --config schedules.yaml"
bin/pushagent run --config schedules.yaml &
agent=$!
pids+=("$agent")

# The first start compiles the plugins (seconds on an idle machine, much
# longer on a busy one), then two intervals of the bundled jobs (10s each)
# plus jitter.
deadline=$((SECONDS + 120))
until curl -fsS "$gateway/metrics" | grep -q '^pushagent_collector_success{.*job="textfile"' &&
	curl -fsS "$gateway/metrics" | grep -q '^pushagent_collector_success{.*job="node"'; do
	if ((SECONDS > deadline)); then
		echo "quickstart: no pushes at $gateway within 120 s (compiling the plugins, then two intervals)" >&2
		exit 1
	fi
	kill -0 "$agent" 2>/dev/null || { echo "quickstart: the agent exited" >&2; exit 1; }
	sleep 0.5
done

echo
echo "quickstart: pushed series at $gateway/metrics (excerpt):"
curl -fsS "$gateway/metrics" | grep -E '^(pushagent_collector_success|backup_|node_load1|node_memory_MemAvailable_bytes|push_time_seconds)' | sort
echo
if [[ ${QUICKSTART_EXIT:-0} == 1 ]]; then
	exit 0
fi
echo "quickstart: the agent keeps pushing every 10s; Ctrl-C stops it (and the gateway it started)."
# From here Ctrl-C is the way out: the agent gets it too and shuts down
# (a TERM sent to this script alone is passed on to it); wait for it, then
# stop the gateway (cleanup).
trap 'kill -TERM "$agent" 2>/dev/null || true' INT TERM
while :; do
	status=0
	wait "$agent" || status=$?
	# wait also returns when a trapped signal arrives, the agent still
	# shutting down: wait again until it has exited.
	kill -0 "$agent" 2>/dev/null || break
done
if ((status == 0)); then
	echo "quickstart: the agent stopped; stopping the gateway"
fi
exit "$status"
