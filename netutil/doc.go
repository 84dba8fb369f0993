// Package netutil holds the small OS-level pieces that both the master and
// the workers use: SO_REUSEPORT listeners and, later, fd passing and the
// control-message framing.
//
// Everything here is a thin, tested wrapper over a system call; nothing keeps
// global state.
package netutil
