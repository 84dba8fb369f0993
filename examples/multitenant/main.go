// Command multitenant is the seed's "Multi-Tenant Configuration": two hosts
// of one tenant, each with its own routes and static files, one of them rate
// limited, served on one port until Ctrl-C.
//
//	go run ./examples/multitenant [-addr :8080]
//	curl -H 'Host: app1.tenant1.com' http://127.0.0.1:8080/
//	curl -H 'Host: app1.tenant1.com' http://127.0.0.1:8080/api/data
//	curl -H 'Host: app2.tenant1.com' http://127.0.0.1:8080/index.html
package main

import (
	"embed"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"log"
	"net"

	"github.com/valyala/fasthttp"

	"github.com/rockstar-dev/rockstar/examples/internal/lifecycle"
	"github.com/rockstar-dev/rockstar/worker"
)

func main() {
	addr := flag.String("addr", ":8080", "address to serve on")
	flag.Parse()

	sm, server, err := setup()
	if err != nil {
		log.Fatal(err)
	}
	_, p, _ := net.SplitHostPort(*addr)
	log.Printf("serving app1.tenant1.com and app2.tenant1.com on %s; try: curl -H 'Host: app1.tenant1.com' http://127.0.0.1:%s/", *addr, p)
	// Start server
	if err := lifecycle.Serve(sm, lifecycle.Signals(), func() error { return server.Listen(*addr) }); err != nil {
		log.Fatal(err)
	}
}

// setup registers the hosts and the tenant and creates the server with its
// router, as the seed does; nothing listens yet.
func setup() (worker.ServerManager, worker.Server, error) {
	sm := worker.NewServerManager()

	// Register hosts for Tenant 1
	host1Config := worker.HostConfig{
		Hostname:  "app1.tenant1.com",
		TenantID:  "tenant1",
		VirtualFS: createVirtualFS("tenant1/app1"),
		RateLimits: &worker.RateLimitConfig{
			Enabled:           true,
			RequestsPerSecond: 100,
			BurstSize:         20,
		},
	}

	host2Config := worker.HostConfig{
		Hostname:  "app2.tenant1.com",
		TenantID:  "tenant1",
		VirtualFS: createVirtualFS("tenant1/app2"),
	}

	// Register hosts
	if err := sm.RegisterHost("app1.tenant1.com", host1Config); err != nil {
		return nil, nil, err
	}
	if err := sm.RegisterHost("app2.tenant1.com", host2Config); err != nil {
		return nil, nil, err
	}

	// Register tenant
	if err := sm.RegisterTenant("tenant1", []string{
		"app1.tenant1.com",
		"app2.tenant1.com",
	}); err != nil {
		return nil, nil, err
	}

	// Create server with host configurations
	config := worker.ServerConfig{
		EnableHTTP1: true,
		EnableHTTP2: true, // offered over TLS only; this example listens in plain HTTP
		HostConfigs: map[string]*worker.HostConfig{
			"app1.tenant1.com": &host1Config,
			"app2.tenant1.com": &host2Config,
		},
	}

	server := sm.NewServer(config)

	// Set up host-specific routing
	router := worker.NewRouter()

	// Routes for app1.tenant1.com
	app1Router := router.Host("app1.tenant1.com")
	app1Router.GET("/", handleApp1Home)
	app1Router.GET("/api/data", handleApp1Data)

	// Routes for app2.tenant1.com
	app2Router := router.Host("app2.tenant1.com")
	app2Router.GET("/", handleApp2Home)
	app2Router.GET("/api/users", handleApp2Users)

	server.SetRouter(router)
	return sm, server, nil
}

// sites holds each app's static files, under sites/<tenant>/<app>.
//
//go:embed sites
var sites embed.FS

// createVirtualFS returns the static files of one app, such as
// "tenant1/app1": its index.html and style.css.
func createVirtualFS(app string) worker.VirtualFS {
	fsys, err := fs.Sub(sites, "sites/"+app)
	if err != nil {
		panic(err) // only for a malformed name: fs.Sub does not check that it exists
	}
	return fsys
}

func handleApp1Home(ctx *fasthttp.RequestCtx) {
	home(ctx, "App 1", "/api/data")
}

func handleApp2Home(ctx *fasthttp.RequestCtx) {
	home(ctx, "App 2", "/api/users")
}

// home writes a small HTML page that uses the app's static files and API.
func home(ctx *fasthttp.RequestCtx, app, api string) {
	ctx.SetContentType("text/html; charset=utf-8")
	fmt.Fprintf(ctx, `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>%[1]s</title><link rel="stylesheet" href="/style.css"></head>
<body>
<h1>%[1]s of tenant 1</h1>
<p>Served for %[2]s. See <a href="%[3]s">%[3]s</a> and the static <a href="/index.html">index.html</a>.</p>
</body>
</html>
`, app, ctx.Host(), api)
}

func handleApp1Data(ctx *fasthttp.RequestCtx) {
	writeJSON(ctx, map[string]any{
		"app":    "app1",
		"tenant": "tenant1",
		"items":  []string{"alpha", "beta", "gamma"},
	})
}

type user struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

func handleApp2Users(ctx *fasthttp.RequestCtx) {
	writeJSON(ctx, map[string]any{
		"app":   "app2",
		"users": []user{{1, "Ada"}, {2, "Grace"}},
	})
}

func writeJSON(ctx *fasthttp.RequestCtx, v any) {
	ctx.SetContentType("application/json")
	if err := json.NewEncoder(ctx).Encode(v); err != nil {
		ctx.Error("Internal Server Error", fasthttp.StatusInternalServerError)
	}
}
