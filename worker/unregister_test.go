package worker

import (
	"errors"
	"testing"
	"testing/fstest"

	"github.com/valyala/fasthttp"
)

// deny is a middleware that refuses every request, as an auth check would.
func deny(fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) { ctx.Error("denied", fasthttp.StatusForbidden) }
}

// After UnregisterHost nothing of the host is served: not its router's
// routes (which its middleware used to guard), not the files of its
// HostConfigs entry. Its requests get exactly what a host never heard of
// gets, and RegisterHost brings it back.
func TestUnregisterHostServesNothingOfIt(t *testing.T) {
	sm := quietManager(t)
	r := NewRouter()
	r.GET("/", text("default"))
	app := r.Host("app.test")
	app.GET("/", text("app"))
	app.GET("/secret", text("secret"))
	files := HostConfig{VirtualFS: fstest.MapFS{"a.txt": {Data: []byte("files")}}}
	_, addr := start(t, sm, ServerConfig{HostConfigs: map[string]*HostConfig{"files.test": &files}}, r)
	guarded := HostConfig{Middleware: []MiddlewareFunc{deny}}
	if err := sm.RegisterHost("app.test", guarded); err != nil {
		t.Fatal(err)
	}
	if err := sm.RegisterHost("files.test", HostConfig{}); err != nil {
		t.Fatal(err)
	}
	type want struct {
		code int
		body string
	}
	check := func(when string, cases map[[2]string]want) {
		t.Helper()
		for hp, w := range cases {
			if code, body := get(t, addr, hp[0], hp[1]); code != w.code || (w.body != "" && body != w.body) {
				t.Errorf("%s: %s%s = %d %q, want %d %q", when, hp[0], hp[1], code, body, w.code, w.body)
			}
		}
	}
	check("registered", map[[2]string]want{
		{"app.test", "/"}:        {403, ""},
		{"app.test", "/secret"}:  {403, ""},
		{"files.test", "/a.txt"}: {200, "files"},
	})

	// files.test is unregistered from the registry; app.test too, though
	// only the router names it once it is out of the registry.
	for _, h := range []string{"APP.test", "files.test"} {
		if err := sm.UnregisterHost(h); err != nil {
			t.Fatalf("UnregisterHost(%s): %v", h, err)
		}
	}
	never := func(path string) want {
		code, body := get(t, addr, "never.test", path)
		return want{code, body}
	}
	check("unregistered", map[[2]string]want{
		{"app.test", "/"}:        never("/"),
		{"app.test", "/secret"}:  never("/secret"),
		{"files.test", "/a.txt"}: never("/a.txt"),
	})
	if w := never("/secret"); w.code != 404 {
		t.Fatalf("never.test/secret = %d, want 404", w.code)
	}
	for _, h := range []string{"app.test", "files.test"} {
		if err := sm.UnregisterHost(h); !errors.Is(err, ErrHostNotFound) {
			t.Errorf("UnregisterHost(%s) again = %v, want ErrHostNotFound", h, err)
		}
	}

	// A host only a server names can be taken away as well.
	r.Host("routed.test").GET("/", text("routed"))
	check("routed", map[[2]string]want{{"routed.test", "/"}: {200, "routed"}})
	if err := sm.UnregisterHost("routed.test"); err != nil {
		t.Fatal(err)
	}
	check("routed, unregistered", map[[2]string]want{{"routed.test", "/"}: {200, "default"}})

	// Registering again serves the host again, its HostConfigs entry first.
	if err := sm.RegisterHost("app.test", guarded); err != nil {
		t.Fatal(err)
	}
	if err := sm.RegisterHost("files.test", HostConfig{}); err != nil {
		t.Fatal(err)
	}
	check("registered again", map[[2]string]want{
		{"app.test", "/secret"}:  {403, ""},
		{"files.test", "/a.txt"}: {200, "files"},
	})
}
