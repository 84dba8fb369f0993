package worker

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"
	"github.com/valyala/fasthttp"
)

// GracefulShutdown(d) returns at d, not later: with an idle keep-alive
// connection, a request that finishes within d (it is answered) and one
// that outlives d (it is cut off), over HTTP/1.1 on goroutines, HTTP/1.1
// with an inline host on the event loop, HTTP/2 and HTTP/3.
func TestGracefulShutdownKeepsItsDeadline(t *testing.T) {
	const timeout = 300 * time.Millisecond
	const slack = 400 * time.Millisecond
	for _, kind := range []string{"h1", "h1-inline", "h2", "h3"} {
		t.Run(kind, func(t *testing.T) {
			sm := quietManager(t)
			release := make(chan struct{})
			defer close(release)
			entered := make(chan string, 2)
			r := NewRouter()
			r.GET("/", text("ok"))
			r.GET("/quick", func(ctx *fasthttp.RequestCtx) {
				entered <- "quick"
				time.Sleep(100 * time.Millisecond)
				ctx.SetBodyString("quick done")
			})
			r.GET("/stuck", func(ctx *fasthttp.RequestCtx) {
				entered <- "stuck"
				<-release
				ctx.SetBodyString("stuck done")
			})
			cfg := ServerConfig{EnableHTTP2: kind == "h2", EnableQUIC: kind == "h3"}
			if kind == "h1-inline" {
				answer := func(fasthttp.RequestHandler) fasthttp.RequestHandler { return text("ok") }
				cfg.HostConfigs = map[string]*HostConfig{"in.test": {Inline: true, Middleware: []MiddlewareFunc{answer}}}
			}
			s := sm.NewServer(cfg)
			s.SetRouter(r)
			// Two clients: one for the idle connection, one for the requests.
			var newTransport func() http.RoundTripper
			var base, idleHost string
			switch kind {
			case "h2", "h3":
				certFile, keyFile, pool := devPair(t)
				newTransport = func() http.RoundTripper {
					tc := &tls.Config{RootCAs: pool}
					if kind == "h3" {
						tr := &http3.Transport{TLSClientConfig: tc}
						t.Cleanup(func() { _ = tr.Close() })
						return tr
					}
					tr := &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: true}
					t.Cleanup(tr.CloseIdleConnections)
					return tr
				}
				base = "https://" + listenTLS(t, s, certFile, keyFile)
			default:
				newTransport = func() http.RoundTripper {
					tr := &http.Transport{MaxIdleConnsPerHost: 4}
					t.Cleanup(tr.CloseIdleConnections)
					return tr
				}
				listenAsync(t, s, "127.0.0.1:0")
				base = "http://" + s.Addr()
				if kind == "h1-inline" {
					idleHost = "in.test"
				}
			}
			var clients []*http.Client
			for range 2 {
				clients = append(clients, &http.Client{Transport: newTransport(), Timeout: 20 * time.Second})
			}
			getOK := func(c *http.Client, path, host string) (string, error) {
				req, err := http.NewRequest("GET", base+path, nil)
				if err != nil {
					return "", err
				}
				if host != "" {
					req.Host = host
				}
				resp, err := c.Do(req)
				if err != nil {
					return "", err
				}
				defer resp.Body.Close()
				b, err := io.ReadAll(resp.Body)
				if err == nil && resp.StatusCode != 200 {
					err = errors.New(resp.Status)
				}
				return string(b), err
			}
			// The idle keep-alive connection: one request answered, then
			// it stays in the client's pool.
			if body, err := getOK(clients[0], "/", idleHost); err != nil || body != "ok" {
				t.Fatalf("GET / = %q %v", body, err)
			}
			type res struct {
				body string
				err  error
			}
			quick, stuck := make(chan res, 1), make(chan res, 1)
			go func() { b, err := getOK(clients[1], "/stuck", ""); stuck <- res{b, err} }()
			go func() { b, err := getOK(clients[1], "/quick", ""); quick <- res{b, err} }()
			for range 2 {
				select {
				case <-entered:
				case <-time.After(5 * time.Second):
					t.Fatal("the requests did not reach their handlers")
				}
			}
			begin := time.Now()
			err := sm.GracefulShutdown(timeout)
			took := time.Since(begin)
			if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrShutdownTimeout) {
				t.Errorf("GracefulShutdown = %v, want context.DeadlineExceeded and ErrShutdownTimeout", err)
			}
			if took < timeout-50*time.Millisecond || took > timeout+slack {
				t.Errorf("GracefulShutdown(%s) took %s", timeout, took)
			}
			if r := <-quick; r.err != nil || r.body != "quick done" {
				t.Errorf("request within the deadline = %q %v, want quick done", r.body, r.err)
			}
			select {
			case r := <-stuck:
				if r.err == nil {
					t.Errorf("the request past the deadline got %q, want its connection closed", r.body)
				}
			case <-time.After(3 * time.Second):
				// Its client would wait 20s: the server must close the connection.
				t.Error("the request past the deadline was not cut off")
			}
		})
	}
}

// An idle keep-alive connection alone does not hold GracefulShutdown up:
// it returns nil well before its timeout.
func TestGracefulShutdownIdleOnly(t *testing.T) {
	sm := quietManager(t)
	r := NewRouter()
	r.GET("/", text("ok"))
	_, addr := start(t, sm, ServerConfig{}, r)
	idle := idleConn(t, addr)
	begin := time.Now()
	if err := sm.GracefulShutdown(300 * time.Millisecond); err != nil {
		t.Errorf("GracefulShutdown = %v, want nil", err)
	}
	if took := time.Since(begin); took > 700*time.Millisecond {
		t.Errorf("GracefulShutdown(300ms) with an idle connection took %s", took)
	}
	if _, err := idle.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !isReset(err) {
		t.Errorf("idle connection after shutdown: %v, want closed", err)
	}
}
