package wire

// FDKind is what an inherited descriptor is, as netutil.FDSpec.Kind
// names it in EnvFDs.
type FDKind string

// The descriptors a worker inherits, in this order: the control channel at
// fd 3, the shared region, then per address and slot a TCP listener and,
// with HTTP/3, the slot's UDP socket right after it.
const (
	// FDControl is the worker's end of its control channel (a Unix
	// socket pair): framed netutil.Messages both ways.
	FDControl FDKind = "ctl"
	// FDShared is the shared memory region (a memfd; Layout).
	FDShared FDKind = "shm"
	// FDTCP is a listening TCP socket of one server address and slot.
	FDTCP FDKind = "tcp"
	// FDUDP is the UDP socket of the same address and slot, for HTTP/3.
	FDUDP FDKind = "udp"
)
