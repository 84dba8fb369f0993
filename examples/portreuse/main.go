// Command portreuse is the seed's "Port Reuse Example": several hosts on one
// port, each with its own routes and files. As the seed's comment says,
// several servers may share the port too: a second server of the same
// manager listens on the same address, shares the listener, and gets the
// requests for the host it owns.
//
//	go run ./examples/portreuse [-addr :8080]
//	curl -H 'Host: site1.example.com' http://127.0.0.1:8080/
//	curl -H 'Host: site2.example.com' http://127.0.0.1:8080/about.html
//	curl -H 'Host: site3.example.com' http://127.0.0.1:8080/
package main

import (
	"flag"
	"fmt"
	"log"
	"testing/fstest"

	"github.com/valyala/fasthttp"

	"github.com/rockstar-dev/rockstar/examples/internal/lifecycle"
	"github.com/rockstar-dev/rockstar/worker"
)

func main() {
	addr := flag.String("addr", ":8080", "address both servers listen on")
	flag.Parse()

	sm, server, server2 := setup()

	// All three hosts served on one port
	err := lifecycle.Serve(sm, lifecycle.Signals(),
		func() error { return server.Listen(*addr) },
		func() error { return server2.Listen(*addr) },
	)
	if err != nil {
		log.Fatal(err)
	}
}

// setup creates the seed's server for site1 and site2, and a second server
// for site3; nothing listens yet.
func setup() (worker.ServerManager, worker.Server, worker.Server) {
	sm := worker.NewServerManager()

	// Create multiple servers on the same port but different hosts
	// This is useful for virtual hosting scenarios

	config := worker.ServerConfig{
		EnableHTTP1: true,
		HostConfigs: map[string]*worker.HostConfig{
			"site1.example.com": {
				Hostname:  "site1.example.com",
				VirtualFS: createVirtualFS("site1"),
			},
			"site2.example.com": {
				Hostname:  "site2.example.com",
				VirtualFS: createVirtualFS("site2"),
			},
		},
	}

	server := sm.NewServer(config)

	// Set up routing for both hosts
	router := worker.NewRouter()

	site1Router := router.Host("site1.example.com")
	site1Router.GET("/", handleSite1)

	site2Router := router.Host("site2.example.com")
	site2Router.GET("/", handleSite2)

	server.SetRouter(router)

	// A second server on the same address owns site3.example.com. Its
	// Listen joins the first one's listener; claiming site1 or site2 there
	// would fail with worker.ErrHostOwned.
	server2 := sm.NewServer(worker.ServerConfig{
		EnableHTTP1: true,
		HostConfigs: map[string]*worker.HostConfig{
			"site3.example.com": {VirtualFS: createVirtualFS("site3")},
		},
	})
	router3 := worker.NewRouter()
	router3.Host("site3.example.com").GET("/", handleSite3)
	server2.SetRouter(router3)

	return sm, server, server2
}

// createVirtualFS returns a small site held in memory: any io/fs.FS will
// do, such as os.DirFS("sites/site1") or an embed.FS.
func createVirtualFS(site string) worker.VirtualFS {
	return fstest.MapFS{
		"about.html": {Data: []byte("<!doctype html><title>About " + site + "</title><h1>About " + site + "</h1>\n")},
		"robots.txt": {Data: []byte("User-agent: *\nAllow: /\n")},
	}
}

func handleSite1(ctx *fasthttp.RequestCtx) { page(ctx, "site1") }
func handleSite2(ctx *fasthttp.RequestCtx) { page(ctx, "site2") }
func handleSite3(ctx *fasthttp.RequestCtx) { page(ctx, "site3, from the second server") }

func page(ctx *fasthttp.RequestCtx, site string) {
	ctx.SetContentType("text/html; charset=utf-8")
	fmt.Fprintf(ctx, "<!doctype html><title>%s</title><h1>Welcome to %s</h1><p><a href=\"/about.html\">About</a></p>\n", site, site)
}
