package worker

import (
	"bufio"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

const secret = "TOP-SECRET-CONTENT"

// siteDir makes dir/site with a few files, and dir/secret.txt beside it,
// which must never be served.
func siteDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"secret.txt":           secret,
		"site/index.html":      "<h1>home</h1>",
		"site/style.css":       "body{}",
		"site/app.js":          "let a=1",
		"site/data.json":       `{"a":1}`,
		"site/image.svg":       "<svg xmlns=\"http://www.w3.org/2000/svg\"></svg>",
		"site/notes":           "plain words, no extension",
		"site/docs/index.html": "docs home",
		"site/docs/page.html":  "a page",
		"site/empty/.keep":     "",
		"site/a b.txt":         "spaced",
	}
	writeTree(t, dir, files)
	return dir
}

// writeTree writes files, by slash-separated name, under dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// osSystems serves dir through both of the os package's file systems:
// os.DirFS, and os.Root's, which the supervisor uses.
func osSystems(t *testing.T, dir string) map[string]VirtualFS {
	t.Helper()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return map[string]VirtualFS{"os.DirFS": os.DirFS(dir), "os.Root.FS": root.FS()}
}

func staticServer(t *testing.T, fsys VirtualFS) string {
	t.Helper()
	addr, _ := staticHost(t, HostConfig{VirtualFS: fsys})
	return addr
}

// staticHost serves host files.test with cfg and a route GET /api, and
// "default" at / for any other host. It returns the address and the
// host's router, to which a test may add routes.
func staticHost(t *testing.T, cfg HostConfig) (string, *Router) {
	t.Helper()
	sm := quietManager(t)
	r := NewRouter()
	r.GET("/", text("default"))
	host := r.Host("files.test")
	host.GET("/api", text("api"))
	if err := sm.RegisterHost("files.test", cfg); err != nil {
		t.Fatal(err)
	}
	_, addr := start(t, sm, ServerConfig{}, r)
	return addr, host
}

func TestVirtualFSServesFiles(t *testing.T) {
	dir := siteDir(t)
	mapFS := fstest.MapFS{}
	for _, name := range []string{"index.html", "style.css", "app.js", "data.json", "image.svg", "notes", "docs/index.html", "docs/page.html", "empty/.keep", "a b.txt"} {
		b, err := os.ReadFile(filepath.Join(dir, "site", name))
		if err != nil {
			t.Fatal(err)
		}
		mapFS[name] = &fstest.MapFile{Data: b, ModTime: time.Now()}
	}
	systems := osSystems(t, filepath.Join(dir, "site"))
	systems["fstest.MapFS"] = mapFS
	tests := []struct {
		path  string
		code  int
		body  string
		ctype string // prefix
	}{
		{"/", 200, "<h1>home</h1>", "text/html"},
		{"/index.html", 200, "<h1>home</h1>", "text/html"},
		{"/style.css", 200, "body{}", "text/css"},
		{"/app.js", 200, "let a=1", "text/javascript"},
		{"/data.json", 200, `{"a":1}`, "application/json"},
		{"/image.svg", 200, "<svg", "image/svg+xml"},
		{"/notes", 200, "plain words", "text/plain"},
		{"/docs/", 200, "docs home", "text/html"},
		{"/docs", 200, "docs home", "text/html"}, // via a redirect to /docs/
		{"/docs/page.html", 200, "a page", "text/html"},
		{"/a%20b.txt", 200, "spaced", "text/plain"},
		{"/api", 200, "api", ""}, // routes come before files
		{"/empty/", 404, "", ""}, // no index.html, no listing
		{"/missing.txt", 404, "", ""},
		{"/docs/missing/", 404, "", ""},
	}
	for fsName, fsys := range systems {
		addr := staticServer(t, fsys)
		for _, tt := range tests {
			code, body, h := doHeader(t, "GET", addr, "files.test", tt.path, nil)
			if code != tt.code || !strings.HasPrefix(body, tt.body) || !strings.HasPrefix(h.Get("Content-Type"), tt.ctype) {
				t.Errorf("%s: GET %s = %d %q %q, want %d %q %q", fsName, tt.path, code, h.Get("Content-Type"), body, tt.code, tt.ctype, tt.body)
			}
		}
		// HEAD: the headers of GET, no body.
		code, body, h := doHeader(t, "HEAD", addr, "files.test", "/style.css", nil)
		if code != 200 || body != "" || h.Get("Content-Length") != "6" {
			t.Errorf("%s: HEAD /style.css = %d %q Content-Length %q", fsName, code, body, h.Get("Content-Length"))
		}
		// Another host never sees these files.
		if code, body := get(t, addr, "other.test", "/style.css"); code != 404 {
			t.Errorf("%s: other host GET /style.css = %d %q, want 404", fsName, code, body)
		}
	}
}

// A directory without its slash redirects to it, with a relative Location
// that keeps the query.
func TestVirtualFSDirectoryRedirect(t *testing.T) {
	dir := siteDir(t)
	if err := os.MkdirAll(filepath.Join(dir, "site", "a dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	addr := staticServer(t, os.DirFS(filepath.Join(dir, "site")))
	tests := []struct{ path, loc string }{
		{"/docs", "/docs/"},
		{"/docs?x=1&y=%20", "/docs/?x=1&y=%20"},
		{"/a%20dir", "/a%20dir/"},
	}
	for _, tt := range tests {
		reply, _ := exchange(t, addr, "GET "+tt.path+" HTTP/1.1\r\nHost: files.test\r\nConnection: close\r\n\r\n", 5*time.Second)
		resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(reply)), nil)
		if err != nil {
			t.Fatalf("GET %s: %v in %q", tt.path, err, reply)
		}
		resp.Body.Close()
		if resp.StatusCode != 301 || resp.Header.Get("Location") != tt.loc {
			t.Errorf("GET %s = %d Location %q, want 301 %q", tt.path, resp.StatusCode, resp.Header.Get("Location"), tt.loc)
		}
	}
}

func TestVirtualFSNotModified(t *testing.T) {
	addr := staticServer(t, os.DirFS(filepath.Join(siteDir(t), "site")))
	req, _ := http.NewRequest("GET", "http://"+addr+"/style.css", nil)
	req.Host = "files.test"
	req.Header.Set("If-Modified-Since", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 304 {
		t.Errorf("If-Modified-Since in the future = %d, want 304", resp.StatusCode)
	}
}

// Whatever the path, nothing outside the root is served: the secret beside
// the root never appears, and the server goes on serving.
func TestVirtualFSPathEscapes(t *testing.T) {
	dir := siteDir(t)
	// A symlink out of the root: os.Root refuses to follow it.
	if err := os.Symlink(filepath.Join(dir, "secret.txt"), filepath.Join(dir, "site", "link.txt")); err != nil {
		t.Fatal(err)
	}
	paths := []string{
		"/../secret.txt",
		"/../../secret.txt",
		"/docs/../../secret.txt",
		"/%2e%2e/secret.txt",
		"/%2E%2E/secret.txt",
		"/.%2e/secret.txt",
		"/%2e%2e%2fsecret.txt",
		"/..%2fsecret.txt",
		"/docs/..%2f..%2fsecret.txt",
		"/%252e%252e/secret.txt",
		"/..\\secret.txt",
		"/%5c..%5csecret.txt",
		"/docs%5c..%5c..%5csecret.txt",
		"/..%5csecret.txt",
		"/%00/../secret.txt",
		"/index.html%00/../../secret.txt",
		"/secret.txt%00.html",
		"//../secret.txt",
		"/./../secret.txt",
		"/docs/./../.././secret.txt",
		"/%c0%ae%c0%ae/secret.txt",
		"/..;/secret.txt",
		"http://files.test/../secret.txt",
		"/link.txt",
	}
	for name, fsys := range osSystems(t, filepath.Join(dir, "site")) {
		addr := staticServer(t, fsys)
		for _, p := range paths {
			if p == "/link.txt" && name == "os.DirFS" {
				continue // os.DirFS follows symlinks by design; the site owner made it
			}
			reply, closed := exchange(t, addr, "GET "+p+" HTTP/1.1\r\nHost: files.test\r\nConnection: close\r\n\r\n", 5*time.Second)
			if strings.Contains(reply, secret) {
				t.Errorf("%s: GET %s served the file outside the root:\n%s", name, p, reply)
			}
			switch code := statusOf(reply); code {
			case "200", "301", "400", "404":
			case "":
				if !closed {
					t.Errorf("%s: GET %s: no answer and the connection stayed open", name, p)
				}
			default:
				t.Errorf("%s: GET %s = %s, want 200, 301, 400 or 404", name, p, code)
			}
		}
		if code, body := get(t, addr, "files.test", "/style.css"); code != 200 || body != "body{}" {
			t.Fatalf("%s: after the escapes: %d %q", name, code, body)
		}
	}
}
