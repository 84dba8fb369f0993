#!/usr/bin/env bash
# bench/h2.sh: HTTP/2 under h2load, Rockstar beside h2o and nginx in the
# same run, and Rockstar's HTTP/2 rate as a share of its own HTTP/1.1 rate
# (wrk); Rockstar's HTTP/3 rate beside its HTTP/2 rate (bench/h3load), and
# its HTTP/1.1 over TLS beside nginx's (wrk), all on 127.0.0.1.
#
#   bench/h2.sh                       # from anywhere in the repository
#   DURATION=10 ROUNDS=3 CONNS=16 STREAMS=10 bench/h2.sh
#
# Every server answers GET / with "Hello, World!\n" (14 bytes) over TLS
# with the same self-signed ECDSA P-256 certificate (`rockstar cert`):
#
#   - Rockstar: `rockstar run`, WORKERS workers (default: one per CPU), a
#     respond host; one TLS [[server]] with protocols http1, http2 and
#     http3 (HTTP/3 on the UDP port of the same number), and one plain
#     HTTP/1.1 [[server]];
#   - nginx: `return 200`, worker_processes WORKERS, `listen ... ssl http2`,
#     and `listen ... ssl` (HTTP/1.1 over TLS only) on a port of its own;
#   - h2o: num-threads WORKERS, the body from a file (file.file).
#
# For ROUNDS rounds (default 3) it runs, in turn, h2load -t1 -cCONNS
# -mSTREAMS -D DURATION --warm-up-time 1 against each server's HTTP/2,
# bench/h3load -c CONNS -m STREAMS -d DURATION -warmup 1s against Rockstar's
# HTTP/3, then wrk -t1 -cWRK_CONNS against Rockstar's HTTP/1.1 (cleartext
# and TLS) and nginx's HTTP/1.1 over TLS, and reports the median requests
# per second of each (and h3load's median p50 and p99). The last lines are
#
#   rockstar h3: N req/s (p50 P ms, p99 Q ms)
#   rockstar h3/h2: Z.ZZ
#   rockstar h2/h1 share (tls): X.XX   rockstar h2/h1 share (cleartext): Y.YY
#   rockstar/nginx h2: A.AA   rockstar/h2o h2: B.BB
#   rockstar/nginx h1 tls: C.CC
#
# with n/a for a ratio to a server that is missing.
#
# What it needs, and the Debian package that brings each when missing:
#   h2load  apt-get install nghttp2-client
#   wrk     apt-get install wrk
#   nginx   apt-get install nginx      (skipped when missing)
#   h2o     apt-get install h2o        (skipped when missing)
#   go      to build ./cmd/rockstar and ./bench/h3load
#
# Traffic goes to 127.0.0.1 only. Every process it starts is stopped by pid
# when it ends, on Ctrl-C too. It exits 2 when it cannot run.
set -euo pipefail

DURATION=${DURATION:-10}  # seconds per h2load or wrk run
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-16}        # h2load (and h3load) connections
STREAMS=${STREAMS:-10}    # h2load (and h3load) concurrent streams per connection
WRK_CONNS=${WRK_CONNS:-64}
WORKERS=${WORKERS:-$(nproc)}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

need() {
	if ! command -v "$1" >/dev/null 2>&1; then
		echo "h2.sh: $1 is missing: $2" >&2
		exit 2
	fi
}
need h2load "apt-get install nghttp2-client"
need wrk "apt-get install wrk"
need go "install Go (go.dev/dl)"
HAVE_NGINX=1
HAVE_H2O=1
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[[ -x $NGINX ]] || { HAVE_NGINX=0; echo "h2.sh: nginx is missing (apt-get install nginx); skipping it" >&2; }
H2O=$(command -v h2o || echo /usr/bin/h2o)
[[ -x $H2O ]] || { HAVE_H2O=0; echo "h2.sh: h2o is missing (apt-get install h2o); skipping it" >&2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/h2bench.XXXXXX")
BIN=$WORK/rockstar
H3LOAD=$WORK/h3load
STARTED=() # pids of the servers this script started

ours() {
	local pid=$1 exe
	[[ -e /proc/$pid ]] || return 1
	exe=$(readlink "/proc/$pid/exe" 2>/dev/null || true)
	[[ $exe == "$BIN" || $exe == "$(readlink -f "$NGINX")" || $exe == "$(readlink -f "$H2O")" ]]
}

# shellcheck source=bench/procs.sh
source "$ROOT/bench/procs.sh" # cleanup, trapped

log() { echo "h2.sh: $*" >&2; }

# freeport prints a port on 127.0.0.1 that is free for TCP and for UDP
# (Rockstar's HTTP/3 takes the UDP port of its TLS server's number).
freeport() {
	python3 -c '
import socket
while True:
    t = socket.socket(); t.bind(("127.0.0.1", 0)); port = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        u.close(); t.close()
    print(port); break'
}

# waitport PORT LOG waits until 127.0.0.1:PORT accepts, else shows LOG.
waitport() {
	local i
	for i in $(seq 1 400); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
		sleep 0.05
	done
	log "nothing listens on 127.0.0.1:$1; $2 says:"
	tail -20 "$2" >&2 || true
	exit 2
}

log "building rockstar and h3load"
(cd "$ROOT" && go build -o "$BIN" ./cmd/rockstar && go build -o "$H3LOAD" ./bench/h3load)
"$BIN" cert -hosts bench.localhost -out "$WORK/certs" >/dev/null
CERT=$WORK/certs/cert.pem
KEY=$WORK/certs/key.pem
printf 'Hello, World!\n' >"$WORK/hello.txt"

# ---- Rockstar
RS_TLS=$(freeport)
RS_PLAIN=$(freeport)
mkdir -p "$WORK/rs"
cat >"$WORK/rs/rockstar.toml" <<EOF
[supervisor]
workers = $WORKERS
control_socket = "run/ctl.sock"
pid_file = "run/rockstar.pid"

[log]
level = "warn"

[admin]
listen = ""

[[server]]
listen = "127.0.0.1:$RS_TLS"
protocols = ["http1", "http2", "http3"]
tls_cert = "$CERT"
tls_key = "$KEY"

[[server]]
listen = "127.0.0.1:$RS_PLAIN"
protocols = ["http1"]

[[host]]
hostname = "127.0.0.1"
respond = "Hello, World!\n"
EOF
"$BIN" run -c "$WORK/rs/rockstar.toml" --log-format json >"$WORK/rs/log" 2>&1 &
STARTED+=($!)
waitport "$RS_TLS" "$WORK/rs/log"
waitport "$RS_PLAIN" "$WORK/rs/log"

# ---- nginx
if ((HAVE_NGINX)); then
	NG=$(freeport)
	NG1=$(freeport) # HTTP/1.1 over TLS only
	mkdir -p "$WORK/nginx/logs"
	cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes $WORKERS;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	keepalive_requests 100000000;
	server {
		listen 127.0.0.1:$NG ssl http2;
		ssl_certificate $CERT;
		ssl_certificate_key $KEY;
		location / {
			default_type text/plain;
			return 200 "Hello, World!\n";
		}
	}
	server {
		listen 127.0.0.1:$NG1 ssl;
		ssl_certificate $CERT;
		ssl_certificate_key $KEY;
		location / {
			default_type text/plain;
			return 200 "Hello, World!\n";
		}
	}
}
EOF
	"$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -g 'daemon off;' >"$WORK/nginx/logs/stderr" 2>&1 &
	STARTED+=($!)
	waitport "$NG" "$WORK/nginx/logs/error.log"
	waitport "$NG1" "$WORK/nginx/logs/error.log"
fi

# ---- h2o
if ((HAVE_H2O)); then
	HO=$(freeport)
	mkdir -p "$WORK/h2o"
	cat >"$WORK/h2o/h2o.conf" <<EOF
listen:
  host: 127.0.0.1
  port: $HO
  ssl:
    certificate-file: $CERT
    key-file: $KEY
    ocsp-update-interval: 0
user: $(id -un)
num-threads: $WORKERS
pid-file: $WORK/h2o/h2o.pid
error-log: $WORK/h2o/error.log
hosts:
  default:
    paths:
      /:
        file.file: $WORK/hello.txt
        file.send-compressed: OFF
EOF
	"$H2O" -c "$WORK/h2o/h2o.conf" >"$WORK/h2o/stdout" 2>&1 &
	STARTED+=($!)
	waitport "$HO" "$WORK/h2o/stdout"
fi

# h2run NAME PORT prints the req/s of one h2load run, checking the answers.
h2run() {
	local name=$1 port=$2 out rps failed
	out=$(h2load -t1 -c"$CONNS" -m"$STREAMS" -D "$DURATION" --warm-up-time=1 \
		"https://127.0.0.1:$port/" 2>&1) || true
	rps=$(sed -n 's/^finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p' <<<"$out")
	failed=$(sed -n 's/^requests: .* \([0-9]*\) failed, \([0-9]*\) errored.*/\1+\2/p' <<<"$out")
	if ! grep -q "^status codes: [0-9]* 2xx, 0 3xx, 0 4xx, 0 5xx" <<<"$out" || [[ -z $rps ]]; then
		log "$name: h2load did not get only 2xx answers:"
		echo "$out" >&2
		echo 0
		return
	fi
	if ! grep -q "Application protocol: h2" <<<"$out"; then
		log "$name: h2load did not negotiate h2"
		echo 0
		return
	fi
	log "$name h2: $rps req/s (failed+errored: $failed)"
	echo "$rps"
}

# h3run NAME PORT prints "req/s p50 p99" (milliseconds) of one h3load run
# against https://127.0.0.1:PORT/, or "0 0 0" when it saw errors.
h3run() {
	local name=$1 port=$2 out fig
	out=$("$H3LOAD" -url "https://127.0.0.1:$port/" -c "$CONNS" -m "$STREAMS" \
		-d "${DURATION}s" -warmup 1s -insecure 2>&1) || true
	fig=$(sed -n 's/^h3load: requests [0-9]*, req\/s \([0-9.]*\), p50 \([0-9.]*\) ms, p99 \([0-9.]*\) ms, errors 0$/\1 \2 \3/p' <<<"$out")
	if [[ -z $fig ]]; then
		log "$name: h3load saw errors or did not run:"
		echo "$out" >&2
		echo "0 0 0"
		return
	fi
	log "$name h3: $fig (req/s p50 p99)"
	echo "$fig"
}

# wrkrun NAME URL prints the req/s of one wrk run.
wrkrun() {
	local name=$1 url=$2 out rps
	out=$(wrk -t1 -c"$WRK_CONNS" -d"${DURATION}s" "$url" 2>&1) || true
	if grep -q "Non-2xx\|Socket errors" <<<"$out"; then
		log "$name: wrk saw errors:"
		echo "$out" >&2
	fi
	rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
	log "$name: ${rps:-0} req/s"
	echo "${rps:-0}"
}

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print 0; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

declare -A RES
for round in $(seq 1 "$ROUNDS"); do
	log "round $round of $ROUNDS"
	RES[rockstar_h2]+="$(h2run rockstar "$RS_TLS") "
	((HAVE_NGINX)) && RES[nginx_h2]+="$(h2run nginx "$NG") "
	((HAVE_H2O)) && RES[h2o_h2]+="$(h2run h2o "$HO") "
	read -r rps p50 p99 <<<"$(h3run rockstar "$RS_TLS")"
	RES[rockstar_h3]+="$rps "
	RES[rockstar_h3_p50]+="$p50 "
	RES[rockstar_h3_p99]+="$p99 "
	RES[rockstar_h1_tls]+="$(wrkrun "rockstar h1 tls" "https://127.0.0.1:$RS_TLS/") "
	((HAVE_NGINX)) && RES[nginx_h1_tls]+="$(wrkrun "nginx h1 tls" "https://127.0.0.1:$NG1/") "
	RES[rockstar_h1]+="$(wrkrun "rockstar h1 cleartext" "http://127.0.0.1:$RS_PLAIN/") "
done

med() { tr ' ' '\n' <<<"${RES[$1]:-}" | grep -v '^$' | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

H2=$(med rockstar_h2)
H3=$(med rockstar_h3)
H3P50=$(med rockstar_h3_p50)
H3P99=$(med rockstar_h3_p99)
H1TLS=$(med rockstar_h1_tls)
H1=$(med rockstar_h1)
NGX=$(med nginx_h2)
HOO=$(med h2o_h2)
NGX1=$(med nginx_h1_tls)
echo
echo "h2.sh: $(nproc) CPUs, $WORKERS workers/threads each, h2load -t1 -c$CONNS -m$STREAMS, h3load -c $CONNS -m $STREAMS, wrk -t1 -c$WRK_CONNS, ${DURATION}s x $ROUNDS rounds (medians)"
printf '%-28s %12s\n' "server" "req/s"
printf '%-28s %12.0f\n' "rockstar h2 (h2load)" "$H2"
((HAVE_NGINX)) && printf '%-28s %12.0f\n' "nginx h2 (h2load)" "$NGX"
((HAVE_H2O)) && printf '%-28s %12.0f\n' "h2o h2 (h2load)" "$HOO"
printf '%-28s %12.0f\n' "rockstar h3 (h3load)" "$H3"
printf '%-28s %12.0f\n' "rockstar h1 over TLS (wrk)" "$H1TLS"
((HAVE_NGINX)) && printf '%-28s %12.0f\n' "nginx h1 over TLS (wrk)" "$NGX1"
printf '%-28s %12.0f\n' "rockstar h1 cleartext (wrk)" "$H1"
printf 'rockstar h3: %.0f req/s (p50 %s ms, p99 %s ms)\n' "$H3" "$H3P50" "$H3P99"
echo "rockstar h3/h2: $(ratio "$H3" "$H2")"
echo "rockstar h2/h1 share (tls): $(ratio "$H2" "$H1TLS")   rockstar h2/h1 share (cleartext): $(ratio "$H2" "$H1")"
echo "rockstar/nginx h2: $( ((HAVE_NGINX)) && ratio "$H2" "$NGX" || echo n/a)   rockstar/h2o h2: $( ((HAVE_H2O)) && ratio "$H2" "$HOO" || echo n/a)"
echo "rockstar/nginx h1 tls: $( ((HAVE_NGINX)) && ratio "$H1TLS" "$NGX1" || echo n/a)"
