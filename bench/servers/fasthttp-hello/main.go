// Command fasthttp-hello is the bare fasthttp peer of bench/compare: it
// answers every request with "Hello, World!", as one process or, with
// -prefork, as fasthttp's own prefork (one child per CPU on SO_REUSEPORT
// sockets, each child with GOMAXPROCS 1).
package main

import (
	"flag"
	"log"
	"os"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/prefork"
)

var body = []byte("Hello, World!")

func hello(ctx *fasthttp.RequestCtx) {
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBody(body)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	pre := flag.Bool("prefork", false, "serve with fasthttp's prefork")
	flag.Parse()

	s := &fasthttp.Server{Handler: hello, Name: "fasthttp"}
	if !*pre {
		log.Fatal(s.ListenAndServe(*addr))
	}
	p := prefork.New(s)
	p.Reuseport = true
	// A child whose master is gone exits, so that none outlives the run.
	p.OnMasterDeath = func() { os.Exit(1) }
	log.Fatal(p.ListenAndServe(*addr))
}
