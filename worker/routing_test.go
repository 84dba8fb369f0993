package worker

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/valyala/fasthttp"
)

func text(s string) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString(s) }
}

func TestHostRouting(t *testing.T) {
	sm := quietManager(t)
	r := NewRouter()
	r.GET("/", text("default"))
	r.Host("app1.example.com").GET("/", text("app1"))
	r.Host("app1.example.com").GET("/users/:id", func(ctx *fasthttp.RequestCtx) {
		ctx.SetBodyString("user " + ctx.UserValue("id").(string))
	})
	r.Host("*.wild.example.com").GET("/", text("wild"))
	r.Host("exact.wild.example.com").GET("/", text("exact"))
	r.Host("files.example.com").GET("/api", text("api"))
	if err := sm.RegisterHost("files.example.com", HostConfig{VirtualFS: fstest.MapFS{
		"index.html":      {Data: []byte("<h1>home</h1>")},
		"css/site.css":    {Data: []byte("body{}")},
		"docs/index.html": {Data: []byte("docs")},
	}}); err != nil {
		t.Fatal(err)
	}
	_, addr := start(t, sm, ServerConfig{}, r)

	tests := []struct {
		host, path string
		code       int
		body       string
	}{
		{"app1.example.com", "/", 200, "app1"},
		{"APP1.Example.COM", "/", 200, "app1"},
		{"app1.example.com:8080", "/", 200, "app1"},
		{"app1.example.com.", "/", 200, "app1"},
		{"app1.example.com", "/users/42", 200, "user 42"},
		{"app1.example.com", "/missing", 404, ""},
		{"a.wild.example.com", "/", 200, "wild"},
		{"exact.wild.example.com", "/", 200, "exact"},
		{"b.a.wild.example.com", "/", 200, "default"},
		{"unknown.test", "/", 200, "default"},
		{"files.example.com", "/", 200, "<h1>home</h1>"},
		{"files.example.com", "/css/site.css", 200, "body{}"},
		{"files.example.com", "/docs/", 200, "docs"},
		{"files.example.com", "/api", 200, "api"},
		{"files.example.com", "/nope.txt", 404, ""},
		// A known host never falls through to the default routes.
		{"files.example.com", "/users/42", 404, ""},
	}
	for _, tt := range tests {
		code, body := get(t, addr, tt.host, tt.path)
		if code != tt.code || (tt.body != "" && body != tt.body) {
			t.Errorf("GET %s%s = %d %q, want %d %q", tt.host, tt.path, code, body, tt.code, tt.body)
		}
	}
}

func TestMethodNotAllowed(t *testing.T) {
	sm := quietManager(t)
	r := NewRouter()
	r.GET("/thing", text("get"))
	r.POST("/thing", text("post"))
	_, addr := start(t, sm, ServerConfig{}, r)
	code, _, h := doHeader(t, "DELETE", addr, "x.test", "/thing", nil)
	if code != 405 {
		t.Fatalf("DELETE = %d, want 405", code)
	}
	if got, want := h.Get("Allow"), "GET, HEAD, POST"; got != want {
		t.Fatalf("Allow = %q, want %q", got, want)
	}
	if code, _ := do(t, "HEAD", addr, "x.test", "/thing", nil); code != 200 {
		t.Fatalf("HEAD = %d, want 200 from the GET route", code)
	}
	if code, body := do(t, "POST", addr, "x.test", "/thing", strings.NewReader("x")); code != 200 || body != "post" {
		t.Fatalf("POST = %d %q", code, body)
	}
}
