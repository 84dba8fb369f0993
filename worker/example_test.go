package worker_test

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"time"

	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"

	"github.com/rockstar-dev/rockstar/worker"
)

// get sends a GET for path to addr with the given Host header and returns
// the status code and body.
func get(addr, host, path string) (int, string) {
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		log.Fatal(err)
	}
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// A manager, a server with a router, and Listen, which blocks until the
// server stops.
func Example() {
	sm := worker.NewServerManager()
	sm.SetLogger(zerolog.Nop()) // lifecycle logs go to stderr by default

	r := worker.NewRouter()
	r.GET("/", func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("hello from any host") })
	r.Host("app.example.com").GET("/", func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("hello from app") })

	srv := sm.NewServer(worker.ServerConfig{ReadTimeout: 10 * time.Second})
	srv.SetRouter(r)

	stopped := make(chan error, 1)
	go func() { stopped <- srv.Listen("127.0.0.1:0") }() // port 0: the kernel picks one
	for deadline := time.Now().Add(5 * time.Second); !srv.IsRunning(); {
		if time.Now().After(deadline) {
			log.Fatal("server did not start")
		}
		time.Sleep(time.Millisecond)
	}
	addr := srv.Addr() // the address the kernel picked

	fmt.Println(get(addr, "app.example.com", "/"))
	fmt.Println(get(addr, "other.example.com", "/"))
	fmt.Println(srv.Protocol())

	if err := sm.GracefulShutdown(5 * time.Second); err != nil {
		log.Fatal(err)
	}
	fmt.Println("Listen returned:", <-stopped)
	// Output:
	// 200 hello from app
	// 200 hello from any host
	// HTTP/1.1
	// Listen returned: <nil>
}

// StartAll starts every server that has an address and returns once all of
// them accept connections.
func ExampleServerManager_StartAll() {
	sm := worker.NewServerManager()
	sm.SetLogger(zerolog.Nop())
	r := worker.NewRouter()
	r.GET("/healthz", func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("ok") })
	for range 2 {
		srv := sm.NewServer(worker.ServerConfig{Addr: "127.0.0.1:0"})
		srv.SetRouter(r)
	}
	if err := sm.StartAll(); err != nil {
		log.Fatal(err)
	}
	defer sm.StopAll()
	for _, srv := range sm.GetServers() {
		code, body := get(srv.Addr(), "localhost", "/healthz")
		fmt.Println(srv.IsRunning(), code, body)
	}
	fmt.Println(sm.GetServerCount(), "servers, healthy:", sm.IsHealthy())
	// Output:
	// true 200 ok
	// true 200 ok
	// 2 servers, healthy: true
}

// Host returns a host's own router. Routes take named parameters and a
// final catch-all; Handler is the whole dispatch as one fasthttp handler.
func ExampleRouter_Host() {
	r := worker.NewRouter()
	app := r.Host("app.example.com")
	app.GET("/users/:id", func(ctx *fasthttp.RequestCtx) {
		fmt.Fprintf(ctx, "user %s", ctx.UserValue("id"))
	})
	app.GET("/static/*path", func(ctx *fasthttp.RequestCtx) {
		fmt.Fprintf(ctx, "file %s", ctx.UserValue("path"))
	})
	r.Host("*.example.com").GET("/", func(ctx *fasthttp.RequestCtx) {
		fmt.Fprintf(ctx, "wildcard for %s", ctx.Host())
	})

	h := r.Handler()
	for _, req := range []struct{ method, host, path string }{
		{"GET", "app.example.com", "/users/42"},
		{"GET", "APP.example.com:8080", "/static/css/site.css"},
		{"GET", "blog.example.com", "/"},
		{"POST", "app.example.com", "/users/42"},
		{"GET", "app.example.com", "/nope"},
	} {
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.SetMethod(req.method)
		ctx.Request.Header.SetHost(req.host)
		ctx.Request.SetRequestURI(req.path)
		h(&ctx)
		fmt.Printf("%s %s%s: %d %s %s\n", req.method, req.host, req.path,
			ctx.Response.StatusCode(), ctx.Response.Header.Peek("Allow"), ctx.Response.Body())
	}
	// Output:
	// GET app.example.com/users/42: 200  user 42
	// GET APP.example.com:8080/static/css/site.css: 200  file css/site.css
	// GET blog.example.com/: 200  wildcard for blog.example.com
	// POST app.example.com/users/42: 405 GET, HEAD Method Not Allowed
	// GET app.example.com/nope: 404  Not Found
}

// Hosts are registered before the tenant that groups them. The registries
// refuse what the rules forbid, with errors checked by errors.Is.
func ExampleServerManager_RegisterTenant() {
	sm := worker.NewServerManager()
	for _, h := range []string{"app1.tenant1.com", "app2.tenant1.com"} {
		if err := sm.RegisterHost(h, worker.HostConfig{TenantID: "tenant1"}); err != nil {
			log.Fatal(err)
		}
	}
	if err := sm.RegisterTenant("tenant1", []string{"app1.tenant1.com", "app2.tenant1.com"}); err != nil {
		log.Fatal(err)
	}
	fmt.Println(sm.Hosts())
	fmt.Println(sm.Tenants())

	err := sm.RegisterHost("APP1.tenant1.com", worker.HostConfig{})
	fmt.Println(errors.Is(err, worker.ErrHostExists))
	err = sm.RegisterHost("bad_name.com", worker.HostConfig{})
	fmt.Println(errors.Is(err, worker.ErrInvalidHostname))
	err = sm.RegisterTenant("tenant2", []string{"unknown.tenant2.com"})
	fmt.Println(errors.Is(err, worker.ErrHostNotFound))

	// Unregistering a host takes it out of its tenant.
	if err := sm.UnregisterHost("app2.tenant1.com"); err != nil {
		log.Fatal(err)
	}
	fmt.Println(sm.Tenants())
	// Output:
	// [app1.tenant1.com app2.tenant1.com]
	// map[tenant1:[app1.tenant1.com app2.tenant1.com]]
	// true
	// true
	// true
	// map[tenant1:[app1.tenant1.com]]
}

// A tenant's rate limit is one budget for all of its hosts; a request over
// it gets 429 Too Many Requests with Retry-After.
func ExampleServerManager_RegisterTenantConfig() {
	sm := worker.NewServerManager()
	sm.SetLogger(zerolog.Nop())
	for _, h := range []string{"app1.tenant1.com", "app2.tenant1.com"} {
		if err := sm.RegisterHost(h, worker.HostConfig{}); err != nil {
			log.Fatal(err)
		}
	}
	if err := sm.RegisterTenantConfig(worker.TenantConfig{
		ID:    "tenant1",
		Hosts: []string{"app1.tenant1.com", "app2.tenant1.com"},
		// Two at once, then one every 1000 seconds.
		RateLimits: &worker.RateLimitConfig{Enabled: true, RequestsPerSecond: 0.001, BurstSize: 2},
	}); err != nil {
		log.Fatal(err)
	}
	r := worker.NewRouter()
	for _, h := range []string{"app1.tenant1.com", "app2.tenant1.com"} {
		r.Host(h).GET("/", func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("ok") })
	}
	srv := sm.NewServer(worker.ServerConfig{Addr: "127.0.0.1:0"})
	srv.SetRouter(r)
	if err := sm.StartAll(); err != nil {
		log.Fatal(err)
	}
	defer sm.StopAll()

	for _, host := range []string{"app1.tenant1.com", "app2.tenant1.com", "app1.tenant1.com"} {
		code, _ := get(srv.Addr(), host, "/")
		fmt.Println(host, code)
	}
	fmt.Println("refused:", sm.Metrics().Tenants["tenant1"].RateLimited)
	// Output:
	// app1.tenant1.com 200
	// app2.tenant1.com 200
	// app1.tenant1.com 429
	// refused: 1
}

func ExampleValidateHostname() {
	for _, name := range []string{
		"app.example.com", "*.example.com", "example.com.", "-bad.example.com", "bad_name.com", "a..b",
	} {
		fmt.Printf("%-18s %v\n", name, worker.ValidateHostname(name) == nil)
	}
	// Output:
	// app.example.com    true
	// *.example.com      true
	// example.com.       true
	// -bad.example.com   false
	// bad_name.com       false
	// a..b               false
}

// Metrics counts every request by server, host and tenant. Snapshots add
// up, as the supervisor does with its workers'.
func ExampleServerManager_Metrics() {
	sm := worker.NewServerManager()
	sm.SetLogger(zerolog.Nop())
	if err := sm.RegisterHost("app.example.com", worker.HostConfig{TenantID: "acme"}); err != nil {
		log.Fatal(err)
	}
	r := worker.NewRouter()
	r.Host("app.example.com").GET("/", func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("hello") })
	srv := sm.NewServer(worker.ServerConfig{Addr: "127.0.0.1:0"})
	srv.SetRouter(r)
	if err := sm.StartAll(); err != nil {
		log.Fatal(err)
	}
	defer sm.StopAll()

	get(srv.Addr(), "app.example.com", "/")
	get(srv.Addr(), "app.example.com", "/")
	get(srv.Addr(), "app.example.com", "/missing")

	snap := sm.Metrics()
	host := snap.Hosts["app.example.com"]
	fmt.Println("requests:", host.Requests, "2xx:", host.Status[1], "4xx:", host.Status[3], "bytes out:", host.BytesOut)
	fmt.Println("tenant acme:", snap.Tenants["acme"].Requests)

	total := worker.NewMetricsSnapshot()
	total.Add(snap)
	total.Add(snap) // as if a second worker had served the same
	fmt.Println("two workers:", total.Hosts["app.example.com"].Requests)
	// Output:
	// requests: 3 2xx: 2 4xx: 1 bytes out: 19
	// tenant acme: 3
	// two workers: 6
}
