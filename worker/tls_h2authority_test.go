package worker

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"os"
	"strconv"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2Exchange sends one request, made of exactly the header fields given
// (pseudo-headers included, in order), on a raw HTTP/2 connection with SNI
// sni, and returns the response's status and body, or the stream's reset
// code as status -1 with code set.
func h2Exchange(t *testing.T, addr string, pool *x509.CertPool, sni string, fields ...[2]string) (status int, body string, code http2.ErrCode) {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: sni, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, conn)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, f := range fields {
		if err := enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]}); err != nil {
			t.Fatal(err)
		}
	}
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	status = 0
	dec := hpack.NewDecoder(4096, func(f hpack.HeaderField) {
		if f.Name == ":status" {
			status, _ = strconv.Atoi(f.Value)
		}
	})
	var out bytes.Buffer
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("read frame (status %d so far): %v", status, err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = fr.WriteSettingsAck()
			}
		case *http2.HeadersFrame:
			if f.StreamID == 1 {
				if _, err := dec.Write(f.HeaderBlockFragment()); err != nil {
					t.Fatal(err)
				}
				if f.StreamEnded() {
					return status, out.String(), 0
				}
			}
		case *http2.DataFrame:
			if f.StreamID == 1 {
				out.Write(f.Data())
				if f.StreamEnded() {
					return status, out.String(), 0
				}
			}
		case *http2.RSTStreamFrame:
			if f.StreamID == 1 {
				return -1, "", f.ErrCode
			}
		case *http2.GoAwayFrame:
			t.Fatalf("GOAWAY %v before the answer", f.ErrCode)
		}
	}
}

// Over HTTP/2 the site is chosen by :authority. A host field that differs
// from it (RFC 9113 8.3.1), more than one host field, or an absolute-form
// :path is a malformed request: it is refused, and never picks the site.
func TestH2HostNeverOverridesAuthority(t *testing.T) {
	aCert, aKey, _ := devPair(t, "a.test")
	bCert, bKey, _ := devPair(t, "b.test")
	pool := x509.NewCertPool()
	for _, f := range []string{aCert, bCert} {
		b, _ := os.ReadFile(f)
		pool.AppendCertsFromPEM(b)
	}
	sm := quietManager(t)
	s := sm.NewServer(ServerConfig{
		EnableHTTP2: true,
		HostConfigs: map[string]*HostConfig{"b.test": {SecurityConfig: &ServerSecurityConfig{CertFile: bCert, KeyFile: bKey}}},
	})
	s.SetRouter(protocolRouter())
	addr := listenTLS(t, s, aCert, aKey)

	req := func(extra ...[2]string) [][2]string {
		return append([][2]string{{":method", "GET"}, {":scheme", "https"}}, extra...)
	}
	for _, tc := range []struct {
		name   string
		fields [][2]string
		status int    // 400 or a stream reset (-1) are both a refusal
		body   string // for a 200
	}{
		{"authority alone", req([2]string{":authority", "a.test"}, [2]string{":path", "/"}), 200, "host a"},
		{"host equal to authority", req([2]string{":authority", "a.test"}, [2]string{":path", "/"}, [2]string{"host", "a.test"}), 200, "host a"},
		{"host equal but for case and the default port", req([2]string{":authority", "a.test:443"}, [2]string{":path", "/"}, [2]string{"host", "A.Test"}), 200, "host a"},
		{"host instead of authority", req([2]string{":path", "/"}, [2]string{"host", "a.test"}), 200, "host a"},
		{"host differs from authority", req([2]string{":authority", "a.test"}, [2]string{":path", "/"}, [2]string{"host", "b.test"}), 400, ""},
		{"host differs in port", req([2]string{":authority", "a.test"}, [2]string{":path", "/"}, [2]string{"host", "a.test:8443"}), 400, ""},
		{"two host fields", req([2]string{":authority", "a.test"}, [2]string{":path", "/"}, [2]string{"host", "a.test"}, [2]string{"host", "b.test"}), 400, ""},
		{"absolute path", req([2]string{":authority", "a.test"}, [2]string{":path", "https://b.test/"}), 400, ""},
		{"absolute path, same host", req([2]string{":authority", "a.test"}, [2]string{":path", "https://a.test/"}), 400, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body, code := h2Exchange(t, addr, pool, "a.test", tc.fields...)
			if tc.status == 200 {
				if status != 200 || body != tc.body {
					t.Fatalf("got %d %q (reset %v), want 200 %q", status, body, code, tc.body)
				}
				return
			}
			if status != 400 && status != -1 {
				t.Fatalf("got %d %q, want 400 or a stream reset", status, body)
			}
			if body == "host b" {
				t.Fatal("b.test was served on a.test's connection")
			}
		})
	}
	// The server went on serving.
	if status, body, _ := h2Exchange(t, addr, pool, "b.test", req([2]string{":authority", "b.test"}, [2]string{":path", "/"})...); status != 200 || body != "host b" {
		t.Fatalf("after the refusals: %d %q", status, body)
	}
}
