// Command dynamic is the seed's "Dynamic Server Management": a server added
// to the manager under an address, and an admin API on it that adds,
// lists and removes servers while everything runs.
//
//	go run ./examples/dynamic [-addr localhost:8080]
//	curl http://localhost:8080/servers
//	curl -X POST 'http://localhost:8080/servers?addr=localhost:8081'
//	curl http://localhost:8081/
//	curl -X DELETE 'http://localhost:8080/servers?addr=localhost:8081'
//
// It also answers the binary's runtime API for its own hosts, with the
// same types (supervisor.APIServer) and the same state file format, so a
// client written for `rockstar` drives this program unchanged:
//
//	go run ./examples/dynamic -token-file token -state dynamic.state.json
//	curl -H "Authorization: Bearer $(cat token)" -X PUT -d '{"respond": "hi"}' \
//	    http://localhost:8080/v1/hosts/app.test
//	curl -H 'Host: app.test' http://localhost:8080/
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/rockstar-dev/rockstar/examples/internal/lifecycle"
	"github.com/rockstar-dev/rockstar/worker"
)

func main() {
	addr := flag.String("addr", "localhost:8080", "the admin server's address")
	state := flag.String("state", "dynamic.state.json", "where /v1's hosts and tenants are kept")
	tokenFile := flag.String("token-file", "", "the bearer token of /v1 (none: /v1 answers 403)")
	flag.Parse()
	token := ""
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			log.Fatal(err)
		}
		token = strings.TrimSpace(string(b))
	}

	sm, server, err := setup(*addr, *state, token)
	if err != nil {
		log.Fatal(err)
	}

	// Get server information
	if srv, exists := sm.GetServer(*addr); exists {
		log.Printf("Server at %s, protocol %s", *addr, srv.Protocol())
	}

	// Start the server
	err = lifecycle.Serve(sm, lifecycle.Signals(), func() error { return server.Listen(*addr) })
	if err != nil {
		log.Fatal(err)
	}
}

// setup creates the admin server and adds it to the manager under addr,
// with the hosts kept in state registered and /v1 guarded by token;
// nothing listens yet.
func setup(addr, state, token string) (worker.ServerManager, worker.Server, error) {
	sm := worker.NewServerManager()
	hosts, err := newHostsAPI(sm, state)
	if err != nil {
		return nil, nil, err
	}

	// Add server dynamically
	config := worker.ServerConfig{
		EnableHTTP1: true,
	}

	server := sm.NewServer(config)
	router := createRouter(sm, server)
	v1 := hosts.handler(token)
	for _, m := range []string{"GET", "PUT", "DELETE"} {
		router.Handle(m, "/v1/*path", v1)
	}
	server.SetRouter(router)

	// Add to manager
	if err := sm.AddServer(addr, server); err != nil {
		return nil, nil, err
	}
	return sm, server, nil
}

// createRouter is the admin API, served by admin:
//
//	GET    /servers          every server: address, running, protocol
//	POST   /servers?addr=A   add a server under A and start it
//	DELETE /servers?addr=A   stop the server under A and forget it
func createRouter(sm worker.ServerManager, admin worker.Server) *worker.Router {
	r := worker.NewRouter()
	r.GET("/servers", func(ctx *fasthttp.RequestCtx) {
		// Get all servers
		servers := sm.GetServers()
		fmt.Fprintf(ctx, "Total servers: %d\n", len(servers))
		for _, srv := range servers {
			fmt.Fprintf(ctx, "%s running=%v protocol=%s\n", srv.Addr(), srv.IsRunning(), srv.Protocol())
		}
	})
	r.POST("/servers", func(ctx *fasthttp.RequestCtx) {
		addr := string(ctx.QueryArgs().Peek("addr"))
		if addr == "" {
			ctx.Error("addr is required\n", fasthttp.StatusBadRequest)
			return
		}
		// NewServer tracks the server at once, and only an address lets
		// RemoveServer forget it: refuse a taken address first.
		if _, taken := sm.GetServer(addr); taken {
			ctx.Error(fmt.Sprintf("%s: %v\n", addr, worker.ErrServerExists), fasthttp.StatusConflict)
			return
		}
		server := sm.NewServer(worker.ServerConfig{EnableHTTP1: true})
		server.SetRouter(createHelloRouter())
		if err := sm.AddServer(addr, server); err != nil {
			status := fasthttp.StatusBadRequest
			if errors.Is(err, worker.ErrServerExists) {
				status = fasthttp.StatusConflict
			}
			ctx.Error(err.Error()+"\n", status)
			return
		}
		// StartAll starts the servers that have an address and are not
		// running yet: the one just added.
		if err := sm.StartAll(); err != nil {
			_ = sm.RemoveServer(addr)
			ctx.Error(err.Error()+"\n", fasthttp.StatusInternalServerError)
			return
		}
		ctx.SetStatusCode(fasthttp.StatusCreated)
		fmt.Fprintf(ctx, "%s\n", server.Addr()) // the port the kernel picked, for ":0"
	})
	r.DELETE("/servers", func(ctx *fasthttp.RequestCtx) {
		addr := string(ctx.QueryArgs().Peek("addr"))
		if srv, ok := sm.GetServer(addr); ok && srv == admin {
			// RemoveServer waits for in-flight requests: this one would wait for itself.
			ctx.Error("will not remove the server that serves this request\n", fasthttp.StatusConflict)
			return
		}
		// Remove server dynamically
		if err := sm.RemoveServer(addr); err != nil {
			status := fasthttp.StatusInternalServerError
			if errors.Is(err, worker.ErrServerNotFound) {
				status = fasthttp.StatusNotFound
			}
			ctx.Error(err.Error()+"\n", status)
			return
		}
		fmt.Fprintf(ctx, "removed %s\n", addr)
	})
	return r
}

// createHelloRouter is the router of the servers the API adds.
func createHelloRouter() *worker.Router {
	r := worker.NewRouter()
	r.GET("/", func(ctx *fasthttp.RequestCtx) {
		fmt.Fprintf(ctx, "hello from %s\n", ctx.LocalAddr())
	})
	return r
}
