package worker

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// quickClient gives up on a request after two seconds, so that a static
// file that hangs its request fails the test instead of the test run, and
// follows no redirect: a test sees the 301 of a directory.
var quickClient = &http.Client{
	Timeout:       2 * time.Second,
	Transport:     &http.Transport{DisableKeepAlives: true},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// fileReply is what a request for a static path got back.
type fileReply struct {
	code  int
	allow string
	body  string
}

// askFile sends method path to files.test on addr with quickClient.
func askFile(addr, method, path string) (fileReply, error) {
	req, err := http.NewRequest(method, "http://"+addr+path, strings.NewReader(""))
	if err != nil {
		return fileReply{}, err
	}
	req.Host = "files.test"
	resp, err := quickClient.Do(req)
	if err != nil {
		return fileReply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return fileReply{resp.StatusCode, resp.Header.Get("Allow"), string(b)}, err
}

type fileCase struct {
	method, path string
	code         int
	allow        string // want the Allow header to be this ("" for none)
	body         string // want the body to start with this, on a 200
}

// checkFiles asks each case of addr and reports the answers that differ.
func checkFiles(t *testing.T, label, addr string, cases []fileCase) {
	t.Helper()
	for _, c := range cases {
		got, err := askFile(addr, c.method, c.path)
		if err != nil {
			t.Errorf("%s: %s %s: %v", label, c.method, c.path, err)
			continue
		}
		if got.code != c.code || got.allow != c.allow || (c.code == 200 && !strings.HasPrefix(got.body, c.body)) {
			t.Errorf("%s: %s %s = %d Allow %q %q, want %d Allow %q %q",
				label, c.method, c.path, got.code, got.allow, got.body, c.code, c.allow, c.body)
		}
	}
}

// A method other than GET and HEAD on a file gets 405 with the methods the
// file has, unless a route of the host takes it; on nothing it gets 404. A
// file named as a directory ("/style.css/") is nothing, as in nginx.
func TestStaticFileMethodsAndTrailingSlash(t *testing.T) {
	dir := filepath.Join(siteDir(t), "site")
	writeTree(t, dir, map[string]string{"form.html": "<form>"})
	for name, fsys := range osSystems(t, dir) {
		addr, host := staticHost(t, HostConfig{VirtualFS: fsys})
		host.POST("/form.html", text("posted"))
		checkFiles(t, name, addr, []fileCase{
			{"POST", "/style.css", 405, "GET, HEAD", ""},
			{"PUT", "/style.css", 405, "GET, HEAD", ""},
			{"DELETE", "/docs/page.html", 405, "GET, HEAD", ""},
			{"PATCH", "/notes", 405, "GET, HEAD", ""},
			{"OPTIONS", "/style.css", 405, "GET, HEAD", ""},
			{"POST", "/", 405, "GET, HEAD", ""},      // the root's index.html
			{"POST", "/docs/", 405, "GET, HEAD", ""}, // a directory's index.html
			{"POST", "/docs", 405, "GET, HEAD", ""},  // GET would be redirected to it
			{"POST", "/missing.txt", 404, "", ""},
			{"POST", "/empty/", 404, "", ""}, // a directory without an index
			{"POST", "/empty", 404, "", ""},
			{"DELETE", "/style.css/", 404, "", ""},
			// The host's routes come first, and their methods join the file's.
			{"POST", "/form.html", 200, "", "posted"},
			{"GET", "/form.html", 200, "", "<form>"},
			{"PUT", "/form.html", 405, "GET, HEAD, POST", ""},
			{"POST", "/api", 405, "GET, HEAD", ""}, // the route's own 405
			// A regular file with a trailing slash names nothing.
			{"GET", "/style.css/", 404, "", ""},
			{"HEAD", "/style.css/", 404, "", ""},
			{"GET", "/docs/page.html/", 404, "", ""},
			{"GET", "/style.css", 200, "", "body{}"},
			{"HEAD", "/style.css", 200, "", ""},
		})
	}
}

// A FIFO, whose open(2) blocks until a writer comes, is never opened: it
// and a FIFO in place of a directory's index.html get 404 at once, and the
// server goes on serving.
func TestStaticFifoRefused(t *testing.T) {
	dir := filepath.Join(siteDir(t), "site")
	if err := os.MkdirAll(filepath.Join(dir, "fifodir"), 0o755); err != nil {
		t.Fatal(err)
	}
	fifos := []string{filepath.Join(dir, "pipe"), filepath.Join(dir, "fifodir", "index.html")}
	for _, p := range fifos {
		if err := mkfifo(p, 0o644); err != nil {
			t.Skipf("mkfifo: %v", err)
		}
	}
	for name, fsys := range osSystems(t, dir) {
		addr, _ := staticHost(t, HostConfig{VirtualFS: fsys})
		// Should a request open a FIFO, a writer that comes and goes lets
		// it go, so that a failing test still shuts its server down.
		t.Cleanup(func() {
			for _, p := range fifos {
				if fd, err := syscall.Open(p, syscall.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
					syscall.Close(fd)
				}
			}
		})
		checkFiles(t, name, addr, []fileCase{
			{"GET", "/pipe", 404, "", ""},
			{"HEAD", "/pipe", 404, "", ""},
			{"POST", "/pipe", 404, "", ""},
			{"GET", "/fifodir/", 404, "", ""},
			{"POST", "/fifodir/", 404, "", ""},
			{"GET", "/style.css", 200, "", "body{}"},
		})
	}
}

// Dotfiles (any path element beginning with ".") are refused as if absent,
// but for .well-known (RFC 8615); HostConfig.ServeDotfiles serves them.
func TestStaticDotfiles(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"index.html":                   "home",
		".env":                         "SECRET=1",
		".git/config":                  "[core]",
		".hidden/index.html":           "hidden home",
		"sub/.hidden":                  "hidden",
		"sub/page.html":                "page",
		"..dots":                       "dots",
		".well-known/security.txt":     "Contact: x",
		".well-known/acme-challenge/t": "token",
		".well-known/.secret":          "secret",
	})
	refused := []string{
		"/.env", "/%2eenv", "/.git/config", "/.git", "/.git/", "/.hidden/", "/.hidden",
		"/sub/.hidden", "/sub/%2Ehidden", "/..dots", "/.well-known/.secret",
	}
	always := []fileCase{
		{"GET", "/", 200, "", "home"},
		{"GET", "/sub/page.html", 200, "", "page"},
		{"GET", "/.well-known/security.txt", 200, "", "Contact"},
		{"GET", "/.well-known/acme-challenge/t", 200, "", "token"},
		{"HEAD", "/.well-known/acme-challenge/t", 200, "", ""},
	}
	for name, fsys := range osSystems(t, dir) {
		// Default: as if absent, whatever the method.
		cases := append([]fileCase(nil), always...)
		for _, p := range refused {
			cases = append(cases, fileCase{"GET", p, 404, "", ""}, fileCase{"POST", p, 404, "", ""})
		}
		addr, _ := staticHost(t, HostConfig{VirtualFS: fsys})
		checkFiles(t, name+" default", addr, cases)

		// Switched on: served like any file.
		addr, _ = staticHost(t, HostConfig{VirtualFS: fsys, ServeDotfiles: true})
		checkFiles(t, name+" ServeDotfiles", addr, append(always,
			fileCase{"GET", "/.env", 200, "", "SECRET=1"},
			fileCase{"GET", "/%2eenv", 200, "", "SECRET=1"},
			fileCase{"GET", "/.git/config", 200, "", "[core]"},
			fileCase{"GET", "/.hidden/", 200, "", "hidden home"},
			fileCase{"GET", "/sub/.hidden", 200, "", "hidden"},
			fileCase{"GET", "/..dots", 200, "", "dots"},
			fileCase{"GET", "/.well-known/.secret", 200, "", "secret"},
			fileCase{"POST", "/.env", 405, "GET, HEAD", ""},
		))
	}
}
