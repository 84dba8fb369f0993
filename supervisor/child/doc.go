// Package child is the runtime of a Rockstar worker process: what the
// binary runs when a master started it as one of its workers. cmd/rockstar
// calls IsWorker first thing and, if it reports true, Run and nothing
// else:
//
//	func main() {
//		if child.IsWorker() {
//			os.Exit(child.Run(os.Stderr))
//		}
//		// ... the CLI, `rockstar run` (package supervisor) ...
//	}
//
// A worker takes its sockets and its control channel from the descriptors
// and environment the master gave it (package supervisor/wire, the
// contract: child never imports the master's package supervisor, nor it
// this one), reads the config, builds the worker package's servers and
// hosts from it, reports ready, and then answers the master's messages
// (health, metrics, config pushes, limits, upstream states, drain, stop)
// until it is told to go, or exits as soon as its master is gone.
//
// Files, by idea:
//
//	worker.go   IsWorker, Run: adopt the fds, the control loop, messages
//	hosts.go    config → worker.HostConfig and ServerConfig; static roots
//	rootfs.go   a static root's file system: os.Root, opened O_NONBLOCK
//	quic.go     the slot's UDP socket for HTTP/3, served with its TCP one
//	proxies.go  one proxy.Proxy per proxy host, kept across pushes;
//	            the master's upstream states applied; upstream counters
//	shared.go   the shared region at the worker's end: open, limits
//	limits.go   limiters and counters in the shared region
//	cluster.go  a cluster-scoped limit's limiter: leased tokens, or the
//	            machine's share or nothing while Redis is away
//	cache.go    the response cache memory at the worker's end; a
//	            cache.Cache in front of each cached host, kept across pushes
//	logs.go     the worker's logger
//	profile.go  an optional CPU profile (wire.EnvCPUProfile)
package child
