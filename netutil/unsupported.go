package netutil

import (
	"errors"
	"fmt"
	"runtime"
)

// ErrUnsupported is what a piece that this system lacks returns, wrapped
// with what was asked for: on systems other than Linux, SocketPair,
// PeerCred and SetParentDeathSignal; on Windows also SO_REUSEPORT
// (ListenReusePort, ListenPacketReusePort), passing sockets to a child
// (ListenerFile, FileListener, ...) and SocketInode. It names the system
// and wraps errors.ErrUnsupported, so errors.Is matches either.
var ErrUnsupported = fmt.Errorf("netutil: not available on %s: %w", runtime.GOOS, errors.ErrUnsupported)
