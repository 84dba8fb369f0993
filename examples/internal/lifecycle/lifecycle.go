// Package lifecycle is the part the seed's examples leave out as "signal
// handling code": run each server's Listen until SIGINT or SIGTERM, then
// shut the manager down gracefully and wait for every Listen to return.
package lifecycle

import (
	"errors"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rockstar-dev/rockstar/worker"
)

// ShutdownTimeout bounds the graceful shutdown: in-flight requests get this
// long to finish before their connections are closed.
const ShutdownTimeout = 30 * time.Second

// Signals returns a channel that receives SIGINT and SIGTERM.
func Signals() <-chan os.Signal {
	c := make(chan os.Signal, 2)
	signal.Notify(c, os.Interrupt, syscall.SIGTERM)
	return c
}

// Serve runs each listen (a server's Listen) in its own goroutine until a
// signal comes on stop or one of them fails (it could not bind, say). Then
// it shuts sm down gracefully and returns once every listen has returned,
// with the errors they and the shutdown returned (Listen returns nil after
// a requested stop).
func Serve(sm worker.ServerManager, stop <-chan os.Signal, listens ...func() error) error {
	errc := make(chan error, len(listens))
	for _, listen := range listens {
		go func() { errc <- listen() }()
	}
	pending := len(listens)
	var errs []error
	select {
	case sig := <-stop:
		log.Printf("%s: shutting down gracefully", sig)
	case err := <-errc:
		pending--
		errs = append(errs, err)
	}
	if err := sm.GracefulShutdown(ShutdownTimeout); err != nil {
		errs = append(errs, err)
	}
	// A Listen that was still binding when the shutdown began listens
	// after it; stop again until every Listen has returned.
	again := time.NewTicker(50 * time.Millisecond)
	defer again.Stop()
	for pending > 0 {
		select {
		case err := <-errc:
			pending--
			errs = append(errs, err)
		case <-again.C:
			_ = sm.StopAll()
		}
	}
	return errors.Join(errs...)
}

// WaitRunning waits until every server listens, up to timeout; tests use
// it before they send requests.
func WaitRunning(timeout time.Duration, servers ...worker.Server) error {
	deadline := time.Now().Add(timeout)
	for _, s := range servers {
		for !s.IsRunning() {
			if time.Now().After(deadline) {
				return errors.New("lifecycle: a server did not start listening in time")
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	return nil
}
