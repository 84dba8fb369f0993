// Package wire is the contract between a Rockstar master (package
// supervisor) and its worker processes (package supervisor/child), and
// nothing else: both import it, it imports neither. Changing anything here
// changes what two processes of possibly different binaries (during a
// binary upgrade) say to each other.
//
// A master starts each worker as the same binary with the environment of
// env.go (EnvRole = RoleWorker tells it to be a worker), and the
// descriptors that EnvFDs lists, each of an FDKind: the control channel,
// the shared memory region, and its listening sockets. The two then speak
// framed netutil.Messages over the control channel: the message types and
// their bodies are in messages.go. The shared memory region's layout,
// which both map, is in layout.go.
//
// Files, by idea:
//
//	env.go       the worker's environment: role, slot, generation, fds
//	fds.go       FDKind: what each inherited descriptor is
//	messages.go  control message types and every body (Health, Drain,
//	             Metrics, LimitsBody, UpstreamStates, Upstream)
//	states.go    worker states, as Health and status report them
//	layout.go    the shared region: header, Layout, directory records
//	cluster.go   a cluster-scoped limit's bucket line: leased tokens, the
//	             mode the master sets, the machine's share with Redis away
//	cache.go     the response cache's region: FDCache, EnvCache, CacheLayout
package wire
