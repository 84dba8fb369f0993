package worker

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/valyala/fasthttp"
)

// Files of compressible types are compressed for clients that accept it,
// once per change of the file; the answer varies by Accept-Encoding, has
// its own ETag, and is the whole compressed file whatever the Range.
func TestStaticCompressedOnTheFly(t *testing.T) {
	mod := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	page := []byte(strings.Repeat("<p>Rockstar serves this page compressed.</p>\n", 500)) // 23 KB
	files := fstest.MapFS{
		"page.html": {Data: page, ModTime: mod},
		"tiny.html": {Data: []byte("<p>tiny</p>"), ModTime: mod},
		"img.png":   {Data: bytes.Repeat([]byte{0x89, 'P', 'N', 'G'}, 2000), ModTime: mod},
	}
	sm := quietManager(t)
	if err := sm.RegisterHost("z.test", HostConfig{VirtualFS: files}); err != nil {
		t.Fatal(err)
	}
	if err := sm.RegisterHost("off.test", HostConfig{VirtualFS: files, NoCompression: true}); err != nil {
		t.Fatal(err)
	}
	_, addr := start(t, sm, ServerConfig{}, NewRouter())
	get := fileClient(t, addr)
	decode := func(coding string, b []byte) []byte {
		t.Helper()
		var out []byte
		var err error
		switch coding {
		case "gzip":
			out, err = fasthttp.AppendGunzipBytes(nil, b)
		case "br":
			out, err = fasthttp.AppendUnbrotliBytes(nil, b)
		case "zstd":
			out, err = fasthttp.AppendUnzstdBytes(nil, b)
		}
		if err != nil {
			t.Fatalf("%s: %v", coding, err)
		}
		return out
	}

	plain, _ := get("GET", "z.test", "/page.html")
	for _, tc := range []struct{ ae, coding string }{{"gzip", "gzip"}, {"br, gzip", "br"}, {"zstd, gzip", "zstd"}, {"gzip;q=0, deflate", ""}} {
		for range 2 { // the second from the cache
			resp, b := get("GET", "z.test", "/page.html", "Accept-Encoding", tc.ae)
			if got := resp.Header.Get("Content-Encoding"); got != tc.coding {
				t.Fatalf("AE %q: Content-Encoding %q, want %q", tc.ae, got, tc.coding)
			}
			if resp.Header.Get("Vary") != "Accept-Encoding" || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
				t.Fatalf("AE %q: headers %v", tc.ae, resp.Header)
			}
			if tc.coding == "" {
				if !bytes.Equal(b, page) {
					t.Fatalf("AE %q: identity body %d bytes", tc.ae, len(b))
				}
				continue
			}
			if len(b) >= len(page)/4 || !bytes.Equal(decode(tc.coding, b), page) {
				t.Fatalf("AE %q: %d compressed bytes do not give the page", tc.ae, len(b))
			}
			if etag := resp.Header.Get("ETag"); etag == plain.Header.Get("ETag") || !strings.HasSuffix(etag, "-"+tc.coding+`"`) {
				t.Fatalf("AE %q: ETag %q beside the identity's %q", tc.ae, etag, plain.Header.Get("ETag"))
			}
		}
	}
	gz, gzBody := get("GET", "z.test", "/page.html", "Accept-Encoding", "gzip")
	if resp, b := get("GET", "z.test", "/page.html", "Accept-Encoding", "gzip", "Range", "bytes=0-9"); resp.StatusCode != 200 || !bytes.Equal(b, gzBody) {
		t.Errorf("a range of a compressed answer: %d, %d bytes", resp.StatusCode, len(b))
	}
	if resp, _ := get("GET", "z.test", "/page.html", "Accept-Encoding", "gzip", "If-None-Match", gz.Header.Get("ETag")); resp.StatusCode != 304 {
		t.Errorf("If-None-Match the gzip ETag: %d", resp.StatusCode)
	}
	if resp, b := get("HEAD", "z.test", "/page.html", "Accept-Encoding", "gzip"); resp.StatusCode != 200 || len(b) != 0 ||
		resp.Header.Get("Content-Length") != strconv.Itoa(len(gzBody)) {
		t.Errorf("HEAD: %d, Content-Length %q, want %d", resp.StatusCode, resp.Header.Get("Content-Length"), len(gzBody))
	}
	for _, tc := range []struct{ host, path string }{{"z.test", "/tiny.html"}, {"z.test", "/img.png"}, {"off.test", "/page.html"}} {
		if resp, _ := get("GET", tc.host, tc.path, "Accept-Encoding", "gzip, br"); resp.Header.Get("Content-Encoding") != "" {
			t.Errorf("%s%s compressed", tc.host, tc.path)
		}
	}
	// A changed file is compressed again.
	page2 := []byte(strings.Repeat("<p>changed</p>\n", 300))
	files["page.html"] = &fstest.MapFile{Data: page2, ModTime: mod.Add(time.Minute)}
	if _, b := get("GET", "z.test", "/page.html", "Accept-Encoding", "gzip"); !bytes.Equal(decode("gzip", b), page2) {
		t.Errorf("after a change: the old page")
	}
}
