# bench/lib.sh: what the supervisor's load scripts (zero-downtime.sh,
# soak.sh) share. Source it after setting ROOT, WORK (a temp dir it
# removes), BIN (where to build rockstar) and STARTED=() (the pids to stop);
# stopping them is bench/procs.sh's.

# ours reports whether pid is a live process of ours: wrk, or one running
# our rockstar binary (a master or a worker).
ours() {
	local pid=$1 exe
	[[ -e /proc/$pid ]] || return 1
	exe=$(readlink "/proc/$pid/exe" 2>/dev/null || true)
	[[ $exe == "$BIN" || $exe == "$(command -v wrk)" ]]
}

# shellcheck source=bench/procs.sh
source "$ROOT/bench/procs.sh" # cleanup, trapped

echo "building rockstar..." >&2
(cd "$ROOT" && go build -o "$BIN" ./cmd/rockstar)

# config WORKERS BODY [TENANT]: the config text, on ephemeral ports; a
# TENANT other than demo (the default) makes it invalid.
config() {
	cat <<CONFIG
[supervisor]
workers = $1
control_socket = "run/ctl.sock"
pid_file = "run/rockstar.pid"
shutdown_timeout = "5s"

[log]
level = "info"

[admin]
listen = "127.0.0.1:0"

[[server]]
listen = "127.0.0.1:0"

[[host]]
hostname = "hello.test"
tenant = "${3:-demo}"
respond = "$2"

[[tenant]]
id = "demo"
hosts = ["hello.test"]
CONFIG
}
