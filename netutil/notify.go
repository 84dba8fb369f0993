package netutil

import (
	"errors"
	"fmt"
	"net"
	"os"
)

// ErrNotifySocket means $NOTIFY_SOCKET names an address Notify cannot use.
var ErrNotifySocket = errors.New("netutil: unsupported NOTIFY_SOCKET")

// Notify sends state, such as "READY=1", "RELOADING=1", "STOPPING=1" or
// "STATUS=...", with newlines between several assignments, to the service
// manager over the unixgram socket named by $NOTIFY_SOCKET, as sd_notify(3)
// does. It returns false, nil when the variable is unset or empty: not
// running under systemd (or a manager speaking its protocol) is not an
// error. A path starting with '/' and an abstract name starting with '@' are
// supported; anything else (such as systemd's "vsock:" addresses) is an
// error wrapping ErrNotifySocket.
//
// Notify leaves $NOTIFY_SOCKET set, so that a master can notify again on
// reload and stop; a master should remove it from its workers' environment,
// since only the master speaks for the service.
func Notify(state string) (bool, error) {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return false, nil
	}
	if addr[0] != '/' && addr[0] != '@' {
		return false, fmt.Errorf("%w: %q", ErrNotifySocket, addr)
	}
	// Go's net package maps a leading '@' to the abstract namespace.
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return false, fmt.Errorf("netutil: notify %s: %w", addr, err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		return false, fmt.Errorf("netutil: notify %s: %w", addr, err)
	}
	return true, nil
}
