# bench/lib.sh: what the supervisor's load scripts (zero-downtime.sh,
# soak.sh) share. Source it after setting ROOT, WORK (a temp dir it
# removes), BIN (where to build rockstar) and STARTED=() (the pids to stop);
# stopping them is bench/procs.sh's.

# ours reports whether pid is a live process of ours: wrk, h2load, or one
# running our rockstar binary (a master or a worker).
ours() {
	local pid=$1 exe
	[[ -e /proc/$pid ]] || return 1
	exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
	[[ $exe == "$BIN" || $exe == "$(command -v wrk || echo -)" || $exe == "$(command -v h2load || echo -)" ]]
}

# shellcheck source=bench/procs.sh
source "$ROOT/bench/procs.sh" # cleanup, trapped

echo "building rockstar..." >&2
(cd "$ROOT" && go build -o "$BIN" ./cmd/rockstar)

# tls_lines: the [[server]] lines that make it TLS with HTTP/2, when
# TLS_CERT and TLS_KEY name a certificate; nothing otherwise.
tls_lines() {
	[[ -n ${TLS_CERT:-} ]] || return 0
	printf 'protocols = ["http1", "http2"]\ntls_cert = "%s"\ntls_key = "%s"\n' "$TLS_CERT" "$TLS_KEY"
}

# config WORKERS BODY [TENANT]: the config text, on ephemeral ports; a
# TENANT other than demo (the default) makes it invalid.
config() {
	cat <<CONFIG
[supervisor]
workers = $1
control_socket = "run/ctl.sock"
pid_file = "run/rockstar.pid"
shutdown_timeout = "${SHUTDOWN_TIMEOUT:-5s}"

[log]
level = "info"

[admin]
listen = "127.0.0.1:0"

[[server]]
listen = "127.0.0.1:0"
$(tls_lines)

[[host]]
hostname = "hello.test"
tenant = "${3:-demo}"
respond = "$2"

[[tenant]]
id = "demo"
hosts = ["hello.test"]
CONFIG
}

# count FILE MSG: how many log lines of FILE have message MSG.
count() {
	local n
	n=$(grep -c "\"message\":\"$2\"" "$1" 2>/dev/null) || true
	echo "${n:-0}"
}

# wait_log FILE MSG N TIMEOUT: wait for the N-th line with message MSG;
# after TIMEOUT seconds, show the end of FILE and return 1.
wait_log() {
	local deadline=$((SECONDS + $4))
	while (($(count "$1" "$2") < $3)); do
		if ((SECONDS >= deadline)); then
			echo "$(basename "$0"): timed out waiting for \"$2\" #$3 in $1" >&2
			tail -20 "$1" >&2
			return 1
		fi
		sleep 0.05
	done
}

# worker_pids: the current workers' pids, from `rockstar status` on the
# control socket under DIR.
worker_pids() {
	"$BIN" status -s "$DIR/run/ctl.sock" 2>/dev/null |
		awk 'h && NF { print $2 } /^SLOT/ { h = 1 }'
}
