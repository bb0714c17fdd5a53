#!/usr/bin/env bash
# Peak RSS of one `pushagent once` whose six starlark collectors each call a
# server answering with 6 MiB of response headers (past the default
# max_response of 4 MiB), beside a baseline: the same six calls to a server
# answering with small headers. Both servers are python3's http.server on
# 127.0.0.1. Prints the median (and all) of RUNS runs of each, in kB.
#
#   bash scripts/bigheader-rss.sh            # RUNS=5
#   PUSHAGENT=/path/to/other/pushagent bash scripts/bigheader-rss.sh
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-5}
agent=${PUSHAGENT:-bin/pushagent}
make -s bin/pushagent plugins/starlark.wasm >&2
tmp=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$tmp"' EXIT

serve() { # port, header bytes
	python3 - "$1" "$2" 2>/dev/null <<'PY' &
import http.server, sys
port, size = int(sys.argv[1]), int(sys.argv[2])
big = "<" * size
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("X-Big", big)
        self.send_header("Content-Length", "3")
        self.end_headers()
        self.wfile.write(b"ok\n")
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
PY
	pids+=($!)
	# (a client giving up on the headers resets the connection: quiet)
}

config() { # port
	printf 'gateway:\n  url: http://127.0.0.1:1\njobs:\n  - name: calls\n    every: 1m\n    collectors:\n'
	for i in 0 1 2 3 4 5; do
		cat <<YAML
      - name: call$i
        plugin: $PWD/plugins/starlark.wasm
        allow_hosts: ["127.0.0.1:$1"]
        timeout: 60s
        memory_limit: 128MiB
        config:
          script: |
            r = http.get("http://127.0.0.1:$1/")
            metrics.gauge("call_status", r.status, help="status")
YAML
	done
}

serve 18701 100
serve 18702 $((6 << 20))
config 18701 >"$tmp/small.yaml"
config 18702 >"$tmp/big.yaml"
sleep 1
# Warm the compilation cache, so no run compiles.
"$agent" once --config "$tmp/small.yaml" --cache-dir "$tmp/cache" >/dev/null 2>&1 || true

measure() { # config
	local all=()
	for _ in $(seq "$runs"); do
		/usr/bin/time -o "$tmp/rss" -f '%M' "$agent" once --config "$1" --cache-dir "$tmp/cache" >/dev/null 2>&1 || true
		all+=("$(tail -1 "$tmp/rss")")
	done
	printf '%s\n' "${all[@]}" | sort -n | awk -v all="${all[*]}" '{v[NR]=$1} END {printf "median %d kB (runs: %s)\n", v[int((NR+1)/2)], all}'
}
echo "small headers: $(measure "$tmp/small.yaml")"
echo "6 MiB headers: $(measure "$tmp/big.yaml")"
