// Command health is the seed's "Health Monitoring": a server, a goroutine
// that runs the manager's HealthCheck every -interval and logs the result,
// and a /healthz route that answers from IsHealthy.
//
//	go run ./examples/health [-addr :8080] [-interval 30s]
//	curl http://127.0.0.1:8080/healthz
package main

import (
	"context"
	"flag"
	"log"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/rockstar-dev/rockstar/examples/internal/lifecycle"
	"github.com/rockstar-dev/rockstar/worker"
)

func main() {
	addr := flag.String("addr", ":8080", "address to serve on")
	interval := flag.Duration("interval", 30*time.Second, "time between health checks")
	flag.Parse()

	sm, server := setup()

	// Start health monitoring
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { monitor(ctx, sm, *interval, logHealth) })

	err := lifecycle.Serve(sm, lifecycle.Signals(), func() error { return server.Listen(*addr) })
	cancel()
	wg.Wait()
	if err != nil {
		log.Fatal(err)
	}
}

// setup creates the manager and a server whose /healthz reports the
// manager's health; nothing listens yet.
func setup() (worker.ServerManager, worker.Server) {
	sm := worker.NewServerManager()

	router := worker.NewRouter()
	router.GET("/", func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("hello\n") })
	router.GET("/healthz", func(ctx *fasthttp.RequestCtx) {
		// Check if system is healthy
		if sm.IsHealthy() {
			ctx.SetBodyString("healthy\n")
			return
		}
		ctx.Error("unhealthy\n", fasthttp.StatusServiceUnavailable)
	})

	server := sm.NewServer(worker.ServerConfig{EnableHTTP1: true})
	server.SetRouter(router)
	return sm, server
}

// monitor runs sm.HealthCheck every interval and reports the result, until
// ctx ends.
func monitor(ctx context.Context, sm worker.ServerManager, interval time.Duration, report func(error)) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()

	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			report(sm.HealthCheck())
		}
	}
}

func logHealth(err error) {
	if err != nil {
		log.Printf("Health check failed: %v", err)
		// Take corrective action
		return
	}
	log.Println("All servers healthy")
}
