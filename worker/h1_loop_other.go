//go:build !linux

package worker

import (
	"errors"
	"net"

	"github.com/rs/zerolog"
)

// eventLoop is Linux only (epoll); elsewhere every connection is served on
// its own goroutine.
type eventLoop struct{}

func newEventLoop(net.Listener, ServerConfig, *connGroup, zerolog.Logger) (*eventLoop, *handoffListener, error) {
	return nil, nil, errors.ErrUnsupported
}

func (l *eventLoop) start(*binding)    {}
func (l *eventLoop) stop()             {}
func (l *eventLoop) setAccepting(bool) {}
