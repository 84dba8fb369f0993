package worker

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// Static files answer ranges and conditional requests as RFC 9110 (and
// nginx) do: 206 with Content-Range for one satisfiable range, 416 for
// none or a malformed one, multipart for several (TestStaticMultipartRanges),
// the whole file for overlaps past the file's size; a strong ETag and Last-Modified; 304
// and 412 from If-None-Match, If-Modified-Since, If-Match and
// If-Unmodified-Since; If-Range guarding a Range.
func TestStaticRangesAndConditionals(t *testing.T) {
	content := make([]byte, 1000)
	for i := range content {
		content[i] = byte('a' + i%26)
	}
	mod := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	files := fstest.MapFS{
		"f.txt":    {Data: content, ModTime: mod},
		"bare.txt": {Data: content}, // no modification time, as in an embed.FS
		"f.bin":    {Data: content, ModTime: mod},
	}
	sm := quietManager(t)
	if err := sm.RegisterHost("files.test", HostConfig{VirtualFS: files}); err != nil {
		t.Fatal(err)
	}
	_, addr := start(t, sm, ServerConfig{}, NewRouter())
	get := fileClient(t, addr)
	do := func(method, path string, hdr ...string) (*http.Response, []byte) {
		t.Helper()
		return get(method, "files.test", path, append([]string{"Accept-Encoding", "identity"}, hdr...)...)
	}

	resp, body := do("GET", "/f.txt")
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != 200 || !bytes.Equal(body, content) || resp.Header.Get("Accept-Ranges") != "bytes" ||
		len(etag) < 3 || etag[0] != '"' || resp.Header.Get("Last-Modified") != mod.Format(http.TimeFormat) {
		t.Fatalf("GET: %d, %d bytes, headers %v", resp.StatusCode, len(body), resp.Header)
	}
	lastMod := mod.Format(http.TimeFormat)

	for _, tc := range []struct {
		name    string
		method  string
		hdr     []string
		status  int
		body    []byte // nil: not checked
		crange  string // Content-Range, "" for none
		clength string // Content-Length, "" not checked
	}{
		{"first 100", "GET", []string{"Range", "bytes=0-99"}, 206, content[:100], "bytes 0-99/1000", "100"},
		{"from 990", "GET", []string{"Range", "bytes=990-"}, 206, content[990:], "bytes 990-999/1000", "10"},
		{"last 10", "GET", []string{"Range", "bytes=-10"}, 206, content[990:], "bytes 990-999/1000", "10"},
		{"past the end", "GET", []string{"Range", "bytes=500-2000"}, 206, content[500:], "bytes 500-999/1000", "500"},
		{"suffix longer than the file", "GET", []string{"Range", "bytes=-5000"}, 206, content, "bytes 0-999/1000", "1000"},
		{"unsatisfiable", "GET", []string{"Range", "bytes=1000-"}, 416, nil, "bytes */1000", ""},
		{"empty suffix", "GET", []string{"Range", "bytes=-0"}, 416, nil, "bytes */1000", ""},
		{"several, one satisfiable", "GET", []string{"Range", "bytes=0-9,2000-3000"}, 206, content[:10], "bytes 0-9/1000", "10"},
		{"several, none satisfiable", "GET", []string{"Range", "bytes=1000-,2000-"}, 416, nil, "bytes */1000", ""},
		{"overlapping past the file's size: whole file", "GET", []string{"Range", "bytes=0-599,100-699"}, 200, content, "", "1000"},
		{"one malformed among several: 416", "GET", []string{"Range", "bytes=0-1,x"}, 416, nil, "bytes */1000", ""},
		{"bad syntax: 416, as nginx", "GET", []string{"Range", "bytes=abc"}, 416, nil, "bytes */1000", ""},
		{"other unit: whole file", "GET", []string{"Range", "items=0-1"}, 200, content, "", ""},
		{"reversed: 416, as nginx", "GET", []string{"Range", "bytes=9-1"}, 416, nil, "bytes */1000", ""},
		{"HEAD with a range", "HEAD", []string{"Range", "bytes=0-99"}, 206, []byte{}, "bytes 0-99/1000", "100"},
		{"If-None-Match same", "GET", []string{"If-None-Match", etag}, 304, []byte{}, "", ""},
		{"If-None-Match weak same", "GET", []string{"If-None-Match", "W/" + etag}, 304, []byte{}, "", ""},
		{"If-None-Match list", "GET", []string{"If-None-Match", `"x", ` + etag}, 304, []byte{}, "", ""},
		{"If-None-Match star", "GET", []string{"If-None-Match", "*"}, 304, []byte{}, "", ""},
		{"If-None-Match other", "GET", []string{"If-None-Match", `"other"`}, 200, content, "", ""},
		{"If-None-Match wins over If-Modified-Since", "GET", []string{"If-None-Match", `"other"`, "If-Modified-Since", lastMod}, 200, content, "", ""},
		{"If-Modified-Since same", "GET", []string{"If-Modified-Since", lastMod}, 304, []byte{}, "", ""},
		{"If-Modified-Since earlier", "GET", []string{"If-Modified-Since", mod.Add(-time.Hour).Format(http.TimeFormat)}, 200, content, "", ""},
		{"If-Match same", "GET", []string{"If-Match", etag}, 200, content, "", ""},
		{"If-Match star", "GET", []string{"If-Match", "*"}, 200, content, "", ""},
		{"If-Match other", "GET", []string{"If-Match", `"other"`}, 412, nil, "", ""},
		{"If-Match weak: strong comparison fails", "GET", []string{"If-Match", "W/" + etag}, 412, nil, "", ""},
		{"If-Unmodified-Since earlier", "GET", []string{"If-Unmodified-Since", mod.Add(-time.Hour).Format(http.TimeFormat)}, 412, nil, "", ""},
		{"If-Unmodified-Since later", "GET", []string{"If-Unmodified-Since", mod.Add(time.Hour).Format(http.TimeFormat)}, 200, content, "", ""},
		{"If-Range same ETag", "GET", []string{"Range", "bytes=0-9", "If-Range", etag}, 206, content[:10], "bytes 0-9/1000", "10"},
		{"If-Range other ETag: whole file", "GET", []string{"Range", "bytes=0-9", "If-Range", `"other"`}, 200, content, "", "1000"},
		{"If-Range same date", "GET", []string{"Range", "bytes=0-9", "If-Range", lastMod}, 206, content[:10], "bytes 0-9/1000", "10"},
		{"If-Range older date: whole file", "GET", []string{"Range", "bytes=0-9", "If-Range", mod.Add(-time.Hour).Format(http.TimeFormat)}, 200, content, "", "1000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(tc.method, "/f.txt", tc.hdr...)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (body %q)", resp.StatusCode, tc.status, body)
			}
			if tc.body != nil && !bytes.Equal(body, tc.body) {
				t.Errorf("body %d bytes %q..., want %d bytes", len(body), body[:min(len(body), 20)], len(tc.body))
			}
			if got := resp.Header.Get("Content-Range"); got != tc.crange {
				t.Errorf("Content-Range %q, want %q", got, tc.crange)
			}
			if tc.clength != "" && resp.Header.Get("Content-Length") != tc.clength {
				t.Errorf("Content-Length %q, want %q", resp.Header.Get("Content-Length"), tc.clength)
			}
			if tc.status == 304 && resp.Header.Get("ETag") != etag {
				t.Errorf("304 without the ETag: %v", resp.Header)
			}
		})
	}

	// A 416's body is no part of the file: not the file's type.
	resp, _ = do("GET", "/f.bin", "Range", "bytes=1000-")
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 416 || !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("416 of a .bin: %d, Content-Type %q, want text/plain", resp.StatusCode, ct)
	}

	// A file without a modification time has no validators: the whole file.
	resp, body = do("GET", "/bare.txt", "If-None-Match", "*")
	if resp.StatusCode != 200 || resp.Header.Get("ETag") != "" || !bytes.Equal(body, content) {
		t.Fatalf("bare: %d %v", resp.StatusCode, resp.Header)
	}
	resp, body = do("GET", "/bare.txt", "Range", "bytes=0-4")
	if resp.StatusCode != 206 || string(body) != string(content[:5]) {
		t.Fatalf("bare range: %d %q", resp.StatusCode, body)
	}
}

func TestParseRange(t *testing.T) {
	for _, tc := range []struct {
		h               string
		size            int64
		want            byteRange
		ok, satisfiable bool
	}{
		{"bytes=0-0", 10, byteRange{0, 1}, true, true},
		{"bytes=9-", 10, byteRange{9, 1}, true, true},
		{"bytes= 2-3 ", 10, byteRange{2, 2}, true, true},
		{"bytes=-3", 10, byteRange{7, 3}, true, true},
		{"bytes=10-", 10, byteRange{}, true, false},
		{"bytes=0-", 0, byteRange{}, true, false},
		{"bytes=-1", 0, byteRange{}, true, false},
		{"bytes=1-0", 10, byteRange{}, false, false},
		{"bytes=x-1", 10, byteRange{}, false, false},
		{"bytes=-", 10, byteRange{}, false, false},
		{"pages=0-1", 10, byteRange{}, false, false},
		{"bytes=99999999999999999999-", 10, byteRange{}, false, false},
	} {
		spec := strings.TrimSpace(strings.TrimPrefix(tc.h, "bytes="))
		got, ok, sat := parseRange([]byte(spec), tc.size)
		if got != tc.want || ok != tc.ok || sat != tc.satisfiable {
			t.Errorf("parseRange(%q, %d) = %+v %v %v, want %+v %v %v", tc.h, tc.size, got, ok, sat, tc.want, tc.ok, tc.satisfiable)
		}
	}
}

func TestParseRanges(t *testing.T) {
	many := "bytes=0-0"
	for i := 1; i <= maxRanges; i++ {
		many += "," + strconv.Itoa(i) + "-" + strconv.Itoa(i)
	}
	for _, tc := range []struct {
		h    string
		size int64
		want []byteRange
		ok   bool
	}{
		{"bytes=0-1,3-4", 10, []byteRange{{0, 2}, {3, 2}}, true},
		{"bytes=5-, -2", 10, []byteRange{{5, 5}, {8, 2}}, true}, // in the order asked
		{"bytes=0-1,,3-4,", 10, []byteRange{{0, 2}, {3, 2}}, true},
		{"bytes=0-1,20-30", 10, []byteRange{{0, 2}}, true},
		{"bytes=20-,30-", 10, nil, true},
		{"bytes=0-8,1-9", 10, nil, false}, // 18 bytes of a 10-byte file
		{"bytes=0-1,x", 10, nil, true},
		{"bytes=,", 10, nil, true},
		{"items=0-1", 10, nil, false},
		{many, 1000, nil, false},
	} {
		got, ok := parseRanges([]byte(tc.h), tc.size, nil)
		if ok != tc.ok || !ok && got != nil || ok && !slices.Equal(got, tc.want) {
			t.Errorf("parseRanges(%q, %d) = %v %v, want %v %v", tc.h, tc.size, got, ok, tc.want, tc.ok)
		}
	}
}

// Several ranges are answered as multipart/byteranges, from memory (a
// small file) and from the file (a big one) alike.
func TestStaticMultipartRanges(t *testing.T) {
	small := make([]byte, 1000)
	big := make([]byte, smallFileMax+1000)
	for i := range big {
		big[i] = byte('a' + i%26)
	}
	copy(small, big)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "small.txt"), small, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "big.txt"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	sm := quietManager(t)
	if err := sm.RegisterHost("files.test", HostConfig{VirtualFS: os.DirFS(dir)}); err != nil {
		t.Fatal(err)
	}
	_, addr := start(t, sm, ServerConfig{}, NewRouter())
	get := fileClient(t, addr)
	for _, file := range []struct {
		name    string
		content []byte
	}{{"small.txt", small}, {"big.txt", big}} {
		t.Run(file.name, func(t *testing.T) {
			size := int64(len(file.content))
			want := []byteRange{{size - 5, 5}, {0, 10}, {500, 1}}
			resp, body := get("GET", "files.test", "/"+file.name, "Range", "bytes=-5,0-9,500-500")
			mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
			if resp.StatusCode != 206 || err != nil || mt != "multipart/byteranges" || resp.Header.Get("Content-Range") != "" {
				t.Fatalf("%d %q %v", resp.StatusCode, resp.Header.Get("Content-Type"), err)
			}
			if got := resp.Header.Get("Content-Length"); got != strconv.Itoa(len(body)) {
				t.Errorf("Content-Length %s, body %d bytes", got, len(body))
			}
			mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
			for i, r := range want {
				p, err := mr.NextPart()
				if err != nil {
					t.Fatalf("part %d: %v", i, err)
				}
				got, err := io.ReadAll(p)
				if err != nil {
					t.Fatal(err)
				}
				wantRange := fmt.Sprintf("bytes %d-%d/%d", r.start, r.start+r.length-1, size)
				if !bytes.Equal(got, file.content[r.start:r.start+r.length]) || p.Header.Get("Content-Range") != wantRange ||
					p.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
					t.Errorf("part %d: %q %v, want %q %s", i, got, p.Header, file.content[r.start:r.start+r.length], wantRange)
				}
			}
			if _, err := mr.NextPart(); err != io.EOF {
				t.Errorf("after the parts: %v, want io.EOF", err)
			}
			head, hbody := get("HEAD", "files.test", "/"+file.name, "Range", "bytes=-5,0-9,500-500")
			if head.StatusCode != 206 || len(hbody) != 0 || head.Header.Get("Content-Length") != strconv.Itoa(len(body)) {
				t.Errorf("HEAD: %d, %d bytes, Content-Length %s, want %d", head.StatusCode, len(hbody), head.Header.Get("Content-Length"), len(body))
			}
		})
	}
}

// FuzzParseRange: no Range header makes parseRanges panic or name bytes
// outside the file.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-99", "bytes=-5", "bytes=5-", "bytes=1-0", "bytes=0-1,2-3", "bytes=0-1,,-2", "bytes=1-2, 3-"} {
		f.Add(s, int64(100))
	}
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 {
			t.Skip() // a file's size is never negative
		}
		rs, ok := parseRanges([]byte(h), size, nil)
		if !ok {
			return
		}
		var total int64
		for _, r := range rs {
			if r.start < 0 || r.length <= 0 || r.start+r.length > size {
				t.Fatalf("parseRanges(%q, %d) = %+v", h, size, rs)
			}
			total += r.length
		}
		if total > size || len(rs) > maxRanges {
			t.Fatalf("parseRanges(%q, %d): %d ranges of %d bytes", h, size, len(rs), total)
		}
	})
}

// fileClient returns a function that sends method for host and path to
// addr, with header pairs hdr, as a client that asks for no compression
// of its own, and returns the answer and its whole body.
func fileClient(t *testing.T, addr string) func(method, host, path string, hdr ...string) (*http.Response, []byte) {
	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	return func(method, host, path string, hdr ...string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, "http://"+addr+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}
}
