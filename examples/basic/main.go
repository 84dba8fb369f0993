// Command basic is the seed's "Basic Multi-Server Setup": one manager, two
// servers with routers of their own, stopped together by a graceful
// shutdown on Ctrl-C.
//
//	go run ./examples/basic [-addr1 :8080] [-addr2 :8443]
//	curl http://127.0.0.1:8080/
//	curl http://127.0.0.1:8443/
package main

import (
	"flag"
	"fmt"
	"log"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/rockstar-dev/rockstar/examples/internal/lifecycle"
	"github.com/rockstar-dev/rockstar/worker"
)

func main() {
	addr1 := flag.String("addr1", ":8080", "first server's address")
	addr2 := flag.String("addr2", ":8443", "second server's address")
	flag.Parse()

	sm, server1, server2 := setup()

	// Start servers
	err := lifecycle.Serve(sm, lifecycle.Signals(),
		func() error { return server1.Listen(*addr1) },
		// The seed serves this one over TLS:
		//	server2.ListenTLS(":8443", "cert.pem", "key.pem")
		// Until TLS lands in these examples, it listens in plain HTTP.
		func() error { return server2.Listen(*addr2) },
	)
	if err != nil {
		log.Fatal(err)
	}
}

// setup creates the manager and both servers, as the seed does; nothing
// listens yet.
func setup() (worker.ServerManager, worker.Server, worker.Server) {
	// Create server manager
	sm := worker.NewServerManager()

	// Configure first server (HTTP)
	config1 := worker.ServerConfig{
		EnableHTTP1:    true,
		ReadTimeout:    30 * time.Second,
		WriteTimeout:   30 * time.Second,
		MaxHeaderBytes: 1 << 20,
	}

	server1 := sm.NewServer(config1)
	server1.SetRouter(createRouter1())

	// Configure second server (HTTPS in the seed; see main)
	config2 := worker.ServerConfig{
		EnableHTTP1:  true,
		EnableHTTP2:  true, // offered over TLS only
		ReadTimeout:  30 * time.Second,
		WriteTimeout: 30 * time.Second,
	}

	server2 := sm.NewServer(config2)
	server2.SetRouter(createRouter2())
	return sm, server1, server2
}

func createRouter1() *worker.Router {
	r := worker.NewRouter()
	r.GET("/", func(ctx *fasthttp.RequestCtx) {
		fmt.Fprintf(ctx, "server 1 (%s)\n", ctx.LocalAddr())
	})
	return r
}

func createRouter2() *worker.Router {
	r := worker.NewRouter()
	r.GET("/", func(ctx *fasthttp.RequestCtx) {
		fmt.Fprintf(ctx, "server 2 (%s)\n", ctx.LocalAddr())
	})
	r.GET("/hello/:name", func(ctx *fasthttp.RequestCtx) {
		fmt.Fprintf(ctx, "hello, %s\n", ctx.UserValue("name"))
	})
	return r
}
