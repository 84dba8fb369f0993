package worker

import (
	"net/http"
	"testing"
	"testing/fstest"
	"time"
)

// A file's precompressed sibling is served to a client that accepts its
// encoding (br before zstd before gzip), with Content-Encoding, Vary and
// the file's own Content-Type; the file itself to the others, and to all
// when the host switches siblings off.
func TestStaticPrecompressedSiblings(t *testing.T) {
	mod := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	files := fstest.MapFS{
		"page.html":    {Data: []byte("<p>page</p>"), ModTime: mod},
		"page.html.gz": {Data: []byte("GZIP-BYTES"), ModTime: mod},
		"page.html.br": {Data: []byte("BROTLI-BYTES"), ModTime: mod},
		"data.bin":     {Data: []byte("raw"), ModTime: mod},
		"data.bin.gz":  {Data: []byte("gz"), ModTime: mod},
		"plain.txt":    {Data: []byte("plain"), ModTime: mod},
	}
	sm := quietManager(t)
	if err := sm.RegisterHost("files.test", HostConfig{VirtualFS: files}); err != nil {
		t.Fatal(err)
	}
	if err := sm.RegisterHost("off.test", HostConfig{VirtualFS: files, NoPrecompressed: true}); err != nil {
		t.Fatal(err)
	}
	_, addr := start(t, sm, ServerConfig{}, NewRouter())
	send := fileClient(t, addr)
	get := func(host, path, ae string, hdr ...string) (*http.Response, string) {
		t.Helper()
		if ae != "" {
			hdr = append([]string{"Accept-Encoding", ae}, hdr...)
		}
		resp, b := send("GET", host, path, hdr...)
		return resp, string(b)
	}
	for _, tc := range []struct {
		host, path, ae string
		body, coding   string
		ctype          string
	}{
		{"files.test", "/page.html", "", "<p>page</p>", "", "text/html; charset=utf-8"},
		{"files.test", "/page.html", "gzip", "GZIP-BYTES", "gzip", "text/html; charset=utf-8"},
		{"files.test", "/page.html", "gzip, deflate, br", "BROTLI-BYTES", "br", "text/html; charset=utf-8"},
		{"files.test", "/page.html", "br;q=0, gzip;q=0.5", "GZIP-BYTES", "gzip", "text/html; charset=utf-8"},
		{"files.test", "/page.html", "gzip;q=0, br;q=0", "<p>page</p>", "", "text/html; charset=utf-8"},
		{"files.test", "/page.html", "*", "BROTLI-BYTES", "br", "text/html; charset=utf-8"},
		{"files.test", "/page.html", "br;q=0, *", "GZIP-BYTES", "gzip", "text/html; charset=utf-8"},
		{"files.test", "/page.html", "identity", "<p>page</p>", "", "text/html; charset=utf-8"},
		{"files.test", "/data.bin", "gzip", "gz", "gzip", "application/octet-stream"},
		{"files.test", "/plain.txt", "gzip, br", "plain", "", "text/plain; charset=utf-8"},
		{"files.test", "/page.html.gz", "", "GZIP-BYTES", "", ""},
		{"off.test", "/page.html", "gzip, br", "<p>page</p>", "", "text/html; charset=utf-8"},
	} {
		resp, body := get(tc.host, tc.path, tc.ae)
		if resp.StatusCode != 200 || body != tc.body || resp.Header.Get("Content-Encoding") != tc.coding {
			t.Errorf("%s%s AE %q: %d %q, Content-Encoding %q; want %q, %q", tc.host, tc.path, tc.ae, resp.StatusCode, body,
				resp.Header.Get("Content-Encoding"), tc.body, tc.coding)
		}
		if tc.ctype != "" && resp.Header.Get("Content-Type") != tc.ctype {
			t.Errorf("%s%s AE %q: Content-Type %q, want %q", tc.host, tc.path, tc.ae, resp.Header.Get("Content-Type"), tc.ctype)
		}
		if vary := resp.Header.Get("Vary"); (tc.coding != "") != (vary == "Accept-Encoding") {
			t.Errorf("%s%s AE %q: Vary %q", tc.host, tc.path, tc.ae, vary)
		}
	}
	// Another representation, another ETag; ranges are of the sibling.
	plain, _ := get("files.test", "/page.html", "")
	gz, _ := get("files.test", "/page.html", "gzip")
	if plain.Header.Get("ETag") == "" || plain.Header.Get("ETag") == gz.Header.Get("ETag") {
		t.Errorf("ETags: identity %q, gzip %q", plain.Header.Get("ETag"), gz.Header.Get("ETag"))
	}
	if resp, body := get("files.test", "/page.html", "gzip", "Range", "bytes=0-3"); resp.StatusCode != 206 || body != "GZIP" {
		t.Errorf("a range of the gzip sibling: %d %q", resp.StatusCode, body)
	}
}

func TestAcceptsEncoding(t *testing.T) {
	for _, tc := range []struct {
		ae, coding string
		want       bool
	}{
		{"gzip", "gzip", true},
		{"GZIP", "gzip", true},
		{"gzip;q=0", "gzip", false},
		{"gzip; q=0.001", "gzip", true},
		{"deflate, gzip;q=1.0", "gzip", true},
		{"br", "gzip", false},
		{"*", "zstd", true},
		{"*;q=0", "zstd", false},
		{"zstd;q=0, *", "zstd", false},
		{"gzip;q=abc", "gzip", false},
		{"gzip;q=2", "gzip", false},
		{"", "gzip", false},
	} {
		if got := acceptsEncoding([]byte(tc.ae), tc.coding); got != tc.want {
			t.Errorf("acceptsEncoding(%q, %q) = %v, want %v", tc.ae, tc.coding, got, tc.want)
		}
	}
}
