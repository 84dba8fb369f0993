package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/rockstar-dev/rockstar/examples/internal/lifecycle"
	"github.com/rockstar-dev/rockstar/worker"
)

// TestHealth runs the server and the monitor: the monitor reports healthy
// while the server runs, /healthz says so, and after the shutdown the
// health check fails.
func TestHealth(t *testing.T) {
	sm, server := setup()
	sm.SetLogger(zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel))
	stop := make(chan os.Signal, 1)
	done := make(chan error, 1)
	go func() {
		done <- lifecycle.Serve(sm, stop, func() error { return server.Listen("127.0.0.1:0") })
	}()
	if err := lifecycle.WaitRunning(5*time.Second, server); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	reports := make(chan error)
	var wg sync.WaitGroup
	wg.Go(func() {
		monitor(ctx, sm, 5*time.Millisecond, func(err error) {
			select {
			case reports <- err:
			case <-ctx.Done():
			}
		})
	})
	if err := <-reports; err != nil {
		t.Errorf("monitor reported %v while the server runs", err)
	}
	cancel()
	wg.Wait()

	resp, err := http.Get("http://" + server.Addr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "healthy\n" {
		t.Errorf("/healthz = %d %q, want 200 healthy", resp.StatusCode, body)
	}

	stop <- syscall.SIGTERM
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if err := sm.HealthCheck(); !errors.Is(err, worker.ErrUnhealthy) {
		t.Fatalf("HealthCheck after the shutdown = %v, want ErrUnhealthy", err)
	}
}
