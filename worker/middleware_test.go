package worker

import (
	"net/http"
	"testing"
	"testing/fstest"

	"github.com/valyala/fasthttp"
)

// around appends "name<" to the body before the handler and ">name" after,
// so the body spells out the order in which the chain ran.
func around(name string) MiddlewareFunc {
	return func(next fasthttp.RequestHandler) fasthttp.RequestHandler {
		return func(ctx *fasthttp.RequestCtx) {
			ctx.Response.AppendBodyString(name + "<")
			next(ctx)
			ctx.Response.AppendBodyString(">" + name)
		}
	}
}

// tag sets the header X-Mw-<name> after the handler ran, whatever it answered.
func tag(name string) MiddlewareFunc {
	return func(next fasthttp.RequestHandler) fasthttp.RequestHandler {
		return func(ctx *fasthttp.RequestCtx) {
			next(ctx)
			ctx.Response.Header.Set("X-Mw-"+name, "1")
		}
	}
}

// appendText is a handler that appends s to the body, so that middleware
// output around it is kept.
func appendText(s string) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) { ctx.Response.AppendBodyString(s) }
}

func TestMiddlewareOrder(t *testing.T) {
	sm := quietManager(t)
	r := NewRouter()
	r.Host("reg.test").GET("/", appendText("h"))
	r.Host("cfg.test").GET("/", appendText("h"))
	if err := sm.RegisterHost("reg.test", HostConfig{
		Middleware: []MiddlewareFunc{around("m0"), around("m1"), around("m2")},
	}); err != nil {
		t.Fatal(err)
	}
	cfg := ServerConfig{HostConfigs: map[string]*HostConfig{
		"cfg.test": {Middleware: []MiddlewareFunc{around("a"), around("b")}},
	}}
	_, addr := start(t, sm, cfg, r)
	tests := []struct{ host, want string }{
		{"reg.test", "m0<m1<m2<h>m2>m1>m0"}, // Middleware[0] runs first and last
		{"cfg.test", "a<b<h>b>a"},
	}
	for _, tt := range tests {
		if code, body := get(t, addr, tt.host, "/"); code != 200 || body != tt.want {
			t.Errorf("GET %s/ = %d %q, want 200 %q", tt.host, code, body, tt.want)
		}
	}
}

func TestMiddlewareWrapsOnlyItsHost(t *testing.T) {
	sm := quietManager(t)
	r := NewRouter()
	r.GET("/", text("default"))
	r.Host("a.test").GET("/", text("a"))
	r.Host("b.test").GET("/", text("b"))
	r.Host("x.wild.test").GET("/", text("exact"))
	deny := func(next fasthttp.RequestHandler) fasthttp.RequestHandler {
		return func(ctx *fasthttp.RequestCtx) {
			if string(ctx.Request.Header.Peek("X-Key")) != "secret" {
				ctx.Error("no", fasthttp.StatusUnauthorized)
				return
			}
			next(ctx)
		}
	}
	for name, cfg := range map[string]HostConfig{
		"a.test": {Middleware: []MiddlewareFunc{tag("a"), nil}, // nil entries are skipped
			VirtualFS: fstest.MapFS{"file.txt": {Data: []byte("file")}}},
		"*.wild.test": {Middleware: []MiddlewareFunc{tag("wild")}},
		"locked.test": {Middleware: []MiddlewareFunc{deny},
			VirtualFS: fstest.MapFS{"index.html": {Data: []byte("inside")}}},
	} {
		if err := sm.RegisterHost(name, cfg); err != nil {
			t.Fatal(err)
		}
	}
	_, addr := start(t, sm, ServerConfig{}, r)

	tests := []struct {
		host, path string
		code       int
		tags       []string // X-Mw-* headers expected
	}{
		{"a.test", "/", 200, []string{"a"}},
		{"A.TEST:80", "/", 200, []string{"a"}},
		{"a.test", "/file.txt", 200, []string{"a"}}, // the host's files too
		{"a.test", "/missing", 404, []string{"a"}},  // and its 404
		{"b.test", "/", 200, nil},
		{"unknown.test", "/", 200, nil},
		{"y.wild.test", "/", 404, []string{"wild"}},
		{"x.wild.test", "/", 200, nil}, // an exact host does not inherit the wildcard's middleware
		{"locked.test", "/", 401, nil},
	}
	for _, tt := range tests {
		code, _, h := doHeader(t, "GET", addr, tt.host, tt.path, nil)
		if code != tt.code {
			t.Errorf("GET %s%s = %d, want %d", tt.host, tt.path, code, tt.code)
		}
		var got []string
		for _, name := range []string{"a", "wild"} {
			if h.Get("X-Mw-"+name) != "" {
				got = append(got, name)
			}
		}
		if len(got) != len(tt.tags) || (len(got) > 0 && got[0] != tt.tags[0]) {
			t.Errorf("GET %s%s ran middleware %q, want %q", tt.host, tt.path, got, tt.tags)
		}
	}
	req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
	req.Host = "locked.test"
	req.Header.Set("X-Key", "secret")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("locked.test with the key = %d, want 200", resp.StatusCode)
	}
}

func TestSecurityHeaders(t *testing.T) {
	sm := quietManager(t)
	r := NewRouter()
	r.GET("/", text("default"))
	r.Host("secure.test").GET("/", text("ok"))
	r.Host("secure.test").GET("/own", func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("X-Frame-Options", "SAMEORIGIN")
	})
	r.Host("plain.test").GET("/", text("plain"))
	sec := &ServerSecurityConfig{Headers: map[string]string{
		"X-Frame-Options":           "DENY",
		"Strict-Transport-Security": "max-age=63072000",
	}}
	cfg := ServerConfig{HostConfigs: map[string]*HostConfig{"secure.test": {SecurityConfig: sec}}}
	_, addr := start(t, sm, cfg, r)

	tests := []struct {
		host, path string
		code       int
		xfo, hsts  string
	}{
		{"secure.test", "/", 200, "DENY", "max-age=63072000"},
		{"secure.test", "/missing", 404, "DENY", "max-age=63072000"},
		{"secure.test", "/own", 200, "SAMEORIGIN", "max-age=63072000"}, // the handler's value wins
		{"plain.test", "/", 200, "", ""},
		{"other.test", "/", 200, "", ""},
	}
	for _, tt := range tests {
		code, _, h := doHeader(t, "GET", addr, tt.host, tt.path, nil)
		if code != tt.code || h.Get("X-Frame-Options") != tt.xfo || h.Get("Strict-Transport-Security") != tt.hsts {
			t.Errorf("GET %s%s = %d XFO %q HSTS %q, want %d %q %q", tt.host, tt.path,
				code, h.Get("X-Frame-Options"), h.Get("Strict-Transport-Security"), tt.code, tt.xfo, tt.hsts)
		}
	}
}
