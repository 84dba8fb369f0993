package wire

// Worker states, as a worker reports them (Health.State) and status shows
// them.
const (
	StateStarting = "starting"
	StateReady    = "ready"
	StateDraining = "draining"
	StateExited   = "exited"
)
