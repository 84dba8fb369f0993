#!/usr/bin/env bash
# bench/proxy.sh: the reverse proxy case of issue 7. wrk -> Rockstar -> 2
# upstreams, beside wrk -> nginx (proxy_pass to an upstream block with
# keepalive) -> the same 2 upstreams, in the same run, on 127.0.0.1 only.
#
#   bench/proxy.sh                       # from anywhere in the repository
#   ROUNDS=5 DURATION=10s CONNS=64 WORKERS=2 bench/proxy.sh
#
# It builds the rockstar binary and bench/upstream (a small fasthttp server
# answering "Hello, World!"), starts two upstreams, `rockstar run` with one
# proxy host (round_robin over both) and nginx with the same upstreams
# (keepalive 128, HTTP/1.1, the same X-Forwarded-* and Via headers), checks
# that both proxies answer from both upstreams, warms both up, then runs wrk
# on each in turn, ROUNDS times, alternating which goes first. It prints
# each run's requests/s and the CPU time the proxy spent per request (the
# utime+stime of its master and workers, from /proc, before and after the
# run, over wrk's request count; the upstreams' CPU is left out, as both
# proxies share them: see bench/measure.sh), the medians, and the ratio
# Rockstar/nginx of the median requests/s (the target is >= 1.0). The last
# line is the ratios Rockstar/nginx of the median requests/s and of the
# median CPU per request:
#
#   rockstar/nginx proxy req/s: E.EE  cpu/request: F.FF
#
# Every process it starts is stopped by pid on exit. It exits 1 if a run
# had socket errors or non-2xx answers (after the last line), 2 if it
# could not run.
set -euo pipefail

ME=proxy.sh

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-3s}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
WORKERS=${WORKERS:-auto} # worker processes of both proxies: a number or auto

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

for tool in wrk curl go; do
	if ! command -v $tool >/dev/null 2>&1; then
		echo "proxy.sh: $tool is missing (apt-get install -y wrk curl; Go from go.dev)" >&2
		exit 2
	fi
done
if [[ ! -x $NGINX ]]; then
	echo "proxy.sh: nginx is missing: apt-get install -y nginx" >&2
	exit 2
fi
if [[ $WORKERS != auto && ! $WORKERS =~ ^[1-9][0-9]*$ ]]; then
	echo "proxy.sh: WORKERS=$WORKERS: want a number or auto" >&2
	exit 2
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/proxy-bench.XXXXXX")
STARTED=() # every process this script started, by pid

# ours reports whether pid is a live process of ours: an upstream, rockstar
# (master or worker) or nginx (master or worker).
ours() {
	local pid=$1 exe
	[[ -e /proc/$pid ]] || return 1
	exe=$(readlink "/proc/$pid/exe" 2>/dev/null || true)
	[[ $exe == "$WORK/upstream" || $exe == "$WORK/rockstar" || $exe == "$(readlink -f "$NGINX")" ]]
}
# shellcheck source=bench/procs.sh
source "$ROOT/bench/procs.sh" # cleanup, trapped
# shellcheck source=bench/measure.sh
source "$ROOT/bench/measure.sh" # free_port, wrk_cpu, median, ratio

# wait_hello waits up to 30s until url answers "Hello, World!"; log is
# what to show if it does not.
wait_hello() {
	local url=$1 what=$2 log=${3:-} deadline=$((SECONDS + 30))
	while ((SECONDS < deadline)); do
		if [[ $(curl -s --max-time 1 "$url" 2>/dev/null) == "Hello, World!" ]]; then
			return
		fi
		sleep 0.05
	done
	echo "proxy.sh: $what does not answer at $url" >&2
	[[ -n $log ]] && tail -20 "$log" >&2
	exit 2
}

# upstreams_seen prints the X-Upstream values of n answers from url.
upstreams_seen() {
	local url=$1 n=$2
	for _ in $(seq "$n"); do
		curl -s -D - -o /dev/null "$url" | tr -d '\r' | awk -F': ' 'tolower($1) == "x-upstream" {print $2}'
	done | sort -u | tr '\n' ' '
}

echo "building rockstar and bench/upstream..."
(cd "$ROOT" && go build -o "$WORK/rockstar" ./cmd/rockstar && go build -o "$WORK/upstream" ./bench/upstream)

UP1=$(free_port)
UP2=$(free_port)
"$WORK/upstream" -addr "127.0.0.1:$UP1" -name a >"$WORK/upstream-a.log" 2>&1 &
STARTED+=($!)
"$WORK/upstream" -addr "127.0.0.1:$UP2" -name b >"$WORK/upstream-b.log" 2>&1 &
STARTED+=($!)
wait_hello "http://127.0.0.1:$UP1/" "upstream a"
wait_hello "http://127.0.0.1:$UP2/" "upstream b"

# Rockstar: one proxy host; wrk's Host header is 127.0.0.1:port.
RPORT=$(free_port)
RADMIN=$(free_port)
mkdir -p "$WORK/rockstar.d"
RWORKERS=$WORKERS
[[ $RWORKERS == auto ]] && RWORKERS='"auto"'
cat >"$WORK/rockstar.d/rockstar.toml" <<EOF
[supervisor]
workers = $RWORKERS
control_socket = "$WORK/rockstar.d/ctl.sock"
pid_file = "$WORK/rockstar.d/rockstar.pid"
shutdown_timeout = "5s"

[log]
level = "warn"

[admin]
listen = "127.0.0.1:$RADMIN"

[[server]]
listen = "127.0.0.1:$RPORT"

[[host]]
hostname = "127.0.0.1"
proxy = { upstreams = ["127.0.0.1:$UP1", "127.0.0.1:$UP2"], strategy = "round_robin" }
EOF
"$WORK/rockstar" run -c "$WORK/rockstar.d/rockstar.toml" >"$WORK/rockstar.log" 2>&1 &
RPID=$!
STARTED+=("$RPID")
wait_hello "http://127.0.0.1:$RPORT/" "rockstar" "$WORK/rockstar.log"

# nginx: the same upstreams, with keepalive connections and the same
# request headers Rockstar sends.
NPORT=$(free_port)
mkdir -p "$WORK/nginx/logs"
cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes $WORKERS;
worker_rlimit_nofile 20000;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 16384; }
http {
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    upstream backends {
        server 127.0.0.1:$UP1;
        server 127.0.0.1:$UP2;
        keepalive 128;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$NPORT;
        location / {
            proxy_pass http://backends;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
            proxy_set_header X-Forwarded-Host \$host;
            proxy_set_header Via "1.1 nginx";
            add_header Via "1.1 nginx";
        }
    }
}
EOF
"$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/error.log" -g "daemon off;" >"$WORK/nginx.log" 2>&1 &
NPID=$!
STARTED+=("$NPID")
wait_hello "http://127.0.0.1:$NPORT/" "nginx" "$WORK/nginx/error.log"

for name in rockstar nginx; do
	port=$RPORT
	[[ $name == nginx ]] && port=$NPORT
	seen=$(upstreams_seen "http://127.0.0.1:$port/" 6)
	if [[ $seen != "a b " ]]; then
		echo "proxy.sh: $name answered from upstreams [$seen], want a and b" >&2
		exit 2
	fi
done

# run_wrk NAME DURATION prints "RPS US" of one wrk run against the proxy
# NAME: its requests/s and the proxy's CPU microseconds per request.
run_wrk() {
	if [[ $1 == rockstar ]]; then
		wrk_cpu rockstar "$RPID" "http://127.0.0.1:$RPORT/" "$2"
	else
		wrk_cpu nginx "$NPID" "http://127.0.0.1:$NPORT/" "$2"
	fi
}

echo "cpus $(nproc), workers $WORKERS, wrk -t$THREADS -c$CONNS -d$DURATION, $ROUNDS rounds"
echo "warming up ($WARMUP each)..."
run_wrk rockstar "$WARMUP" >/dev/null
run_wrk nginx "$WARMUP" >/dev/null

R=() RC=() # rockstar's req/s and CPU us/request, a round each
N=() NC=() # nginx's
for round in $(seq "$ROUNDS"); do
	if ((round % 2)); then
		read -r r rc <<<"$(run_wrk rockstar "$DURATION")"
		read -r n nc <<<"$(run_wrk nginx "$DURATION")"
	else
		read -r n nc <<<"$(run_wrk nginx "$DURATION")"
		read -r r rc <<<"$(run_wrk rockstar "$DURATION")"
	fi
	R+=("$r") RC+=("$rc")
	N+=("$n") NC+=("$nc")
	printf 'round %d: rockstar %10.0f req/s %7.2f us/req   nginx %10.0f req/s %7.2f us/req\n' "$round" "$r" "$rc" "$n" "$nc"
done

RM=$(echo "${R[*]}" | median)
NM=$(echo "${N[*]}" | median)
RCM=$(echo "${RC[*]}" | median)
NCM=$(echo "${NC[*]}" | median)
printf 'median:  rockstar %10.0f req/s %7.2f us/req   nginx %10.0f req/s %7.2f us/req\n' "$RM" "$RCM" "$NM" "$NCM"
echo "ratio rockstar/nginx: $(ratio "$RM" "$NM") (target >= 1.00)"
if [[ -e $WORK/failed ]]; then
	echo "proxy.sh: some runs had errors (above)" >&2
fi
echo "rockstar/nginx proxy req/s: $(ratio "$RM" "$NM")  cpu/request: $(ratio "$RCM" "$NCM")"
[[ ! -e $WORK/failed ]] || exit 1
