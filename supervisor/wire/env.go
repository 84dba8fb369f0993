package wire

// The environment a master gives each worker process it starts: the same
// binary, which sees EnvRole and runs as a worker (child.IsWorker).
const (
	// EnvRole is RoleWorker in a worker process.
	EnvRole = "ROCKSTAR_ROLE"
	// EnvSlot is the worker's slot, 0 to workers-1: its place in its
	// generation, kept by the worker that replaces it.
	EnvSlot = "ROCKSTAR_SLOT"
	// EnvGeneration is the generation the worker belongs to; a reload or
	// an upgrade starts the next.
	EnvGeneration = "ROCKSTAR_GENERATION"
	// EnvFDs lists the inherited descriptors (netutil.EncodeFDs), each
	// with its FDKind.
	EnvFDs = "ROCKSTAR_FDS"
	// EnvMasterPID is the master's pid: the worker exits when its parent
	// is no longer that process.
	EnvMasterPID = "ROCKSTAR_MASTER_PID"
	// EnvLogFormat is "console" or "json", as the master's own.
	EnvLogFormat = "ROCKSTAR_LOG_FORMAT"
	// EnvShmArea is the index of the worker's counters area in the shared
	// region (Layout.CellOff).
	EnvShmArea = "ROCKSTAR_SHM_AREA"
	// EnvCPUProfile, when set in the master's environment, is passed on:
	// each worker writes a CPU profile to its value plus ".<slot>".
	EnvCPUProfile = "ROCKSTAR_CPUPROFILE"

	// RoleWorker is EnvRole's value in a worker.
	RoleWorker = "worker"
)
