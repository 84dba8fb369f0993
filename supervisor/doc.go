// Package supervisor is Rockstar's master process: it loads the config,
// owns the listening sockets, starts one worker process per slot on them,
// watches, reloads, upgrades and stops the workers, and serves the control
// socket and the admin endpoint. A worker is the same binary started in
// worker mode: its runtime is package supervisor/child, and the two speak
// only through package supervisor/wire (environment, descriptors, control
// messages, the shared region's layout). This package never imports child,
// nor child this one (TestImportRules in wire).
//
// Files, by idea:
//
//	master.go             Options, New, Run: the master's life, its loop and stop
//	generation.go         a generation of workers: spawn, readiness, retire
//	proc.go               one worker process and its control channel
//	health.go             health probes; a hung worker is replaced
//	reload.go             HUP and `rockstar reload`; TTIN/TTOU (Scale)
//	upgrade.go            USR2: exec the new binary, hand over the sockets
//	systemd.go            what systemd is told: ready, reloading, stopping, status, watchdog
//	sockets.go            the SO_REUSEPORT TCP sockets per address and slot
//	sockets_udp.go        their UDP twins for HTTP/3
//	control.go            the control socket: status, reload, stop, version, api
//	status.go             Status, as `rockstar status` and /status show it
//	version.go            BuildInfo: the version, VCS revision and linker stamps
//	admin.go              the admin HTTP endpoint: health, metrics, status
//	api.go                the runtime API: /v1 hosts and tenants, validated, persisted, pushed
//	admin_api.go          /v1 on the admin endpoint: the bearer token
//	acme.go               automatic HTTPS: certificates from the ACME CA into acmestore
//	acme_limit.go         acme.on_demand_rate: how many certificates on demand
//	acme_log.go           certmagic's log lines into the master's log
//	statuspage.go         /status/, the live page (statuspage.html)
//	metrics.go            /metrics: all workers' counters, from the region
//	metrics_runtime.go    /metrics: the master's go_* and process_*, the build, workers' memory
//	traffic.go            request rates for the status page
//	upstreams.go          health checks of proxy upstreams, pushed to workers
//	upstream_metrics.go   the upstreams' series of /metrics
//	shared.go             the region the workers share: its sizing
//	shared_master.go      the master's end: buckets, tables, areas, series
//	shared_handover.go    the region across a binary upgrade
//	limits.go             where each limit keeps its state; pushed to workers
//	cluster_limits.go     cluster-scoped limits: the lease manager
//	                      (package supervisor/cluster) told of their buckets; metrics
//	cachemem.go           the response cache's memory: a store per tenant, per layout
//	cache_api.go          /v1/cache/TENANT: purges, applied here and published
//	cachepurge.go         purges to and from other machines over Redis pub/sub
//	cache_metrics.go      the response cache's series of /metrics
//	logs.go               the log keys; USR1 reopens the access logs
//	tuning.go             the workers' Go runtime settings
//
// # Sockets
//
// For every [[server]] address the master opens one SO_REUSEPORT TCP
// socket per worker slot and keeps it for as long as the address is
// configured: a worker that dies or is replaced leaves its queued
// connections to the next worker of its slot instead of having them reset.
//
// SO_REUSEPORT would also let a second server of the same user bind the
// address and take half its traffic. So before the master opens the first
// socket of an address (at start, and for an address a reload adds) it
// checks that no other process listens there (netutil.CheckAddrFree), and
// refuses one that does, with an error naming the address and, where /proc
// shows it, the pids that hold it: `rockstar run` then exits 1 before it
// starts a worker or writes the pid file, and a reload fails and leaves
// the old config serving (closing what it had opened for other added
// addresses). Its own sockets, those a binary upgrade handed over
// included, do not count. The check is made again once the address is
// bound, so that two masters starting at the same moment both give it
// up rather than share it.
//
// # Binary upgrade
//
// USR2 execs the binary now on disk as a new master and hands it every
// listening socket (FDSpec in ROCKSTAR_INHERIT) and the memory region the
// workers share (shared.go, shared_handover.go, wire/layout.go): its memfd, where each
// limit keeps its state, and the master's restart, reload and upstream
// counts. So
// no counter of /metrics goes down across an upgrade and a spent rate
// limit stays spent. A region of another layout version, or one that the
// new config's limits do not fit, is not adopted: the new master logs why
// and starts a fresh one. Once the new master is ready the old one drains
// its workers and exits; if it fails, the old one keeps serving.
//
// # systemd
//
// Under systemd ($NOTIFY_SOCKET set; deploy/systemd/rockstar.service) the
// master tells the service manager, with github.com/coreos/go-systemd's
// sd_notify, each datagram one or more of these assignments:
//
//   - READY=1, MAINPID=<its pid> and STATUS= when its first generation's
//     workers are all ready and it serves.
//   - RELOADING=1 with MONOTONIC_USEC=<CLOCK_MONOTONIC in µs> when a reload
//     begins (HUP, which Type=notify-reload sends, or `rockstar reload`),
//     and READY=1 with STATUS= when it ends, whether it worked or failed:
//     a failed one leaves the old config serving and its STATUS= begins
//     "reload failed, still serving the old config:" and says why.
//   - STOPPING=1 when a stop begins (TERM, INT, QUIT, `rockstar stop`), and
//     nothing after it.
//   - STATUS=, a line for a person ("4/4 workers ready, generation 3,
//     1234.5 req/s", with the workers of older generations still
//     draining), at ready, after every reload and every 5 s.
//   - WATCHDOG=1 every WATCHDOG_USEC/2 when $WATCHDOG_USEC is set (and
//     $WATCHDOG_PID, if set, is the master's pid), sent from the master's
//     signal loop and only while a worker of the current generation is
//     ready: a master whose loop is stuck, or whose workers all crash or
//     hang, stops pinging and systemd restarts it. The pings stop with
//     the loop when a stop begins.
//
// Workers see none of NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID. On a
// binary upgrade the new master gets NOTIFY_SOCKET and WATCHDOG_USEC but
// not WATCHDOG_PID (which names the old master) and says READY=1 with its
// own MAINPID once ready; the old one then sends MAINPID=<the new pid>, so
// that with NotifyAccess=main systemd takes the new master as the main
// process, and says nothing more, not even STOPPING=1, while it drains and
// exits. A failed send is logged once, until one works again.
//
// # Runtime API
//
// Master.API answers /v1 (hosts, tenants, the effective config), reached
// through the control socket (VerbAPI, carrying an APIRequest) and, with
// admin.token_file, the admin endpoint's bearer token. A PUT or DELETE
// builds a config.State from the current one, re-validates the config
// file's contents with it on top (config.Config.WithState: the file's own
// rules and CheckSystem), writes the state to admin.state_file
// atomically, and pushes the result to every worker of the current
// generation with the push a HUP makes; if a worker fails, the old config
// is pushed back and the old state rewritten. Changes run under opMu, as
// reloads do, so a change and a reload never interleave; an object's
// ETag (a hash of its JSON) gives If-Match and If-None-Match. config.Load
// puts the state on top of the file, so a start, a HUP and a USR2 upgrade
// all see every acknowledged change.
//
// # Proxy hosts
//
// A [[host]] with a proxy table forwards its requests to upstream servers:
// each worker keeps one proxy.Proxy per proxy host (child/proxies.go),
// with its own pooled connections and passive marking (max_fails within
// fail_timeout). The master runs the health_path checks once for all the
// workers (upstreams.go) and pushes every change, and its whole state to
// each new worker, over the control channel (wire.MsgUpstreams). A reload that
// changes a proxy pushes it in place: the host's proxy is updated, its
// requests in flight finish on the upstreams they started on, and a
// removed upstream's connections close when its last request ends. The
// admin endpoint's /metrics has each upstream's requests by status code,
// whether it is up, its requests in flight and a latency histogram
// (upstream_metrics.go).
//
// # HTTP/2 and HTTP/3
//
// A [[server]] with tls_cert and tls_key terminates TLS in the worker
// (worker.Server.ServeTLS), which splits connections by ALPN: "h2" goes to
// the worker's own HTTP/2 server when protocols has "http2", everything
// else to fasthttp's HTTP/1.1. A plain [[server]] with "h2c" in protocols
// also answers HTTP/2 by prior knowledge. Hosts' own tls_cert and tls_key are picked by SNI;
// a request whose Host belongs to another certificate than its SNI gets
// 421 Misdirected Request.
//
// With "http3" in protocols the master also opens, for each slot, one UDP
// SO_REUSEPORT socket on the same port, held and handed over exactly like
// the TCP ones (FDSpec kind "udp"; on a binary upgrade the new master
// inherits them too), and HTTP/1.1 and HTTP/2 responses carry Alt-Svc.
// The kernel picks a slot's socket by hashing a datagram's addresses, so
// a QUIC connection's packets keep reaching the same slot.
//
// # QUIC connections of a worker that is replaced
//
// A QUIC connection lives in the worker process that accepted it, but its
// datagrams arrive on the slot's socket, which the master keeps and which
// the worker's successor reads too. So:
//
//   - Graceful replacement (a reload that starts a new generation, TTOU,
//     a binary upgrade, QUIT): the old worker sends GOAWAY on every HTTP/3
//     connection (an HTTP/2 one gets it once it is quiet, or a quarter of
//     shutdown_timeout, at most 5 s, before the deadline, so that a busy
//     client is not sent away mid-work), accepts no new QUIC connection,
//     refuses new streams, and lets the requests in flight finish until
//     shutdown_timeout, then closes its connections (CONNECTION_CLOSE,
//     H3_NO_ERROR) and stops reading the socket. Meanwhile the successor
//     reads the same socket: the old connections' datagrams that it gets
//     are dropped, never answered with a stateless reset (workers share no
//     reset key, on purpose, so that a successor cannot kill a connection
//     its predecessor still serves), and QUIC's loss recovery sends them
//     again until the old worker reads them. Requests in flight complete,
//     some a few round trips later. Clients open their next connection
//     after GOAWAY; a handshake packet that the old worker reads is
//     dropped and retried by the client, and is then taken by the
//     successor.
//   - A crash, kill -9, or a drain that reaches shutdown_timeout: the
//     connections vanish without CONNECTION_CLOSE. Their datagrams reach
//     the successor, which drops them; the requests in flight on them fail
//     (as they do on TCP) and the client opens a new connection once it
//     declares the old one dead, at the latest after its idle timeout.
//     Alt-Svc still names the same port, so it reconnects to the same
//     slot's socket.
//   - TTIN adds a slot, and so a socket to the port's reuseport group: the
//     kernel's hash then sends part of the existing QUIC connections to
//     other slots, where they are lost as after a crash. TTOU and reloads
//     never remove a socket (the pool only grows while the address is
//     configured), so they do not move connections.
package supervisor
