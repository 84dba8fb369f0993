//go:build !linux

package worker

import (
	"errors"
	"net"

	"github.com/rs/zerolog"
)

// eventLoop is Linux only (epoll, h1_loop.go, h1_loop_linux.go and
// h1_handoff.go); elsewhere every connection is served on its own
// goroutine, and newEventLoop says errors.ErrUnsupported, which the
// manager takes as "no loop" without a warning.
type eventLoop struct{}

// handoffListener is the listener of a binding with a loop: never here.
type handoffListener struct{ net.Listener }

func newEventLoop(net.Listener, ServerConfig, *connGroup, zerolog.Logger) (*eventLoop, *handoffListener, error) {
	return nil, nil, errors.ErrUnsupported
}

func (l *eventLoop) start(*binding)    {}
func (l *eventLoop) stop()             {}
func (l *eventLoop) setAccepting(bool) {}
