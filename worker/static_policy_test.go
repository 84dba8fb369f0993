package worker

import (
	"errors"
	"io"
	"net/http"
	"testing"
	"testing/fstest"
	"time"
)

// A host's Cache-Control rules pick a value by path (exact, then the
// longest prefix, then "*"), and its fallback answers the paths that name
// nothing with the fallback file, its Cache-Control the fallback's.
func TestStaticCacheControlAndFallback(t *testing.T) {
	mod := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	files := fstest.MapFS{
		"index.html":        {Data: []byte("app"), ModTime: mod},
		"page.html":         {Data: []byte("page"), ModTime: mod},
		"favicon.ico":       {Data: []byte("ico"), ModTime: mod},
		"assets/app.js":     {Data: []byte("js"), ModTime: mod},
		"assets/img/a.png":  {Data: []byte("png"), ModTime: mod},
		"assets/img/b.webp": {Data: []byte("webp"), ModTime: mod},
	}
	sm := quietManager(t)
	if err := sm.RegisterHost("spa.test", HostConfig{VirtualFS: files, Fallback: "/index.html", CacheControl: map[string]string{
		"/assets/*":     "public, max-age=31536000, immutable",
		"/assets/img/*": "public, max-age=3600",
		"/favicon.ico":  "max-age=86400",
		"*":             "no-cache",
	}}); err != nil {
		t.Fatal(err)
	}
	if err := sm.RegisterHost("plain.test", HostConfig{VirtualFS: files}); err != nil {
		t.Fatal(err)
	}
	_, addr := start(t, sm, ServerConfig{}, NewRouter())
	client := &http.Client{Timeout: 5 * time.Second}
	for _, tc := range []struct {
		host, method, path string
		status             int
		body, cache        string
	}{
		{"spa.test", "GET", "/assets/app.js", 200, "js", "public, max-age=31536000, immutable"},
		{"spa.test", "GET", "/assets/img/a.png", 200, "png", "public, max-age=3600"},
		{"spa.test", "GET", "/favicon.ico", 200, "ico", "max-age=86400"},
		{"spa.test", "GET", "/page.html", 200, "page", "no-cache"},
		{"spa.test", "GET", "/", 200, "app", "no-cache"},
		{"spa.test", "GET", "/users/42/settings", 200, "app", "no-cache"},
		{"spa.test", "GET", "/assets/missing.js", 200, "app", "no-cache"},
		{"spa.test", "HEAD", "/deep/link", 200, "", "no-cache"},
		{"spa.test", "POST", "/deep/link", 404, "", ""},
		{"plain.test", "GET", "/users/42", 404, "", ""},
		{"plain.test", "GET", "/page.html", 200, "page", ""},
	} {
		req, _ := http.NewRequest(tc.method, "http://"+addr+tc.path, nil)
		req.Host = tc.host
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || (tc.status == 200 && string(b) != tc.body) || resp.Header.Get("Cache-Control") != tc.cache {
			t.Errorf("%s %s%s: %d %q Cache-Control %q; want %d %q %q", tc.method, tc.host, tc.path, resp.StatusCode, b,
				resp.Header.Get("Cache-Control"), tc.status, tc.body, tc.cache)
		}
	}
	// 304s carry the rule too.
	req, _ := http.NewRequest("GET", "http://"+addr+"/assets/app.js", nil)
	req.Host = "spa.test"
	req.Header.Set("If-Modified-Since", mod.Format(http.TimeFormat))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 304 || resp.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
		t.Errorf("304: %d %q", resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
}

func TestStaticPolicyValidation(t *testing.T) {
	sm := quietManager(t)
	for _, cfg := range []HostConfig{
		{CacheControl: map[string]string{"assets/*": "x"}},
		{CacheControl: map[string]string{"/a*b": "x"}},
		{CacheControl: map[string]string{"/a": ""}},
		{CacheControl: map[string]string{"/a": "x\r\nSet-Cookie: y"}},
		{Fallback: "index.html"},
	} {
		if err := sm.RegisterHost("bad.test", cfg); !errors.Is(err, ErrInvalidFilePolicy) {
			t.Errorf("%+v: %v, want ErrInvalidFilePolicy", cfg, err)
		}
	}
}
