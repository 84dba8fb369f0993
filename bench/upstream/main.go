// Command upstream is the application server behind the proxies of
// bench/proxy.sh: a plain fasthttp server on 127.0.0.1 that answers every
// request with "Hello, World!" and the name it was given, so that a run
// can see both upstreams take requests.
//
//	go run ./bench/upstream -addr 127.0.0.1:9001 -name a
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/valyala/fasthttp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9001", "listen address (loopback)")
	name := flag.String("name", "upstream", "sent back in the X-Upstream header")
	flag.Parse()
	host, _, err := net.SplitHostPort(*addr)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		log.Fatalf("upstream: -addr %q: want a loopback host:port", *addr)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	body := []byte("Hello, World!")
	srv := &fasthttp.Server{
		Name: "upstream",
		Handler: func(ctx *fasthttp.RequestCtx) {
			ctx.Response.Header.Set("X-Upstream", *name)
			ctx.SetContentType("text/plain; charset=utf-8")
			ctx.SetBody(body)
		},
	}
	fmt.Printf("upstream %s listening on %s\n", *name, ln.Addr())
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case <-stop:
		_ = srv.Shutdown()
		<-done
	case err := <-done:
		if err != nil {
			log.Fatal(err)
		}
	}
}
