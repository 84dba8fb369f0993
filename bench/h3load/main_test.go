package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// h3server is a quic-go HTTP/3 server on 127.0.0.1 that counts what it
// answers.
type h3server struct {
	url     string
	certPEM string // path of its certificate, PEM
	served  atomic.Int64
	mu      sync.Mutex
	remotes map[string]int64 // requests by client address
}

// startServer serves HTTP/3 on a UDP port of 127.0.0.1 with a self-signed
// certificate; status gives the status of the n-th request (from 1). It is
// closed when the test ends.
func startServer(t *testing.T, status func(n int64) int) *h3server {
	t.Helper()
	cert, certPEM := selfSigned(t)
	s := &h3server{certPEM: filepath.Join(t.TempDir(), "cert.pem"), remotes: map[string]int64{}}
	if err := os.WriteFile(s.certPEM, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.url = "https://" + pc.LocalAddr().String() + "/"
	// Listening here, not in Serve's goroutine, starts quic-go's own
	// goroutines before the test counts them.
	ln, err := quic.ListenEarly(pc, http3.ConfigureTLSConfig(&tls.Config{Certificates: []tls.Certificate{cert}}), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http3.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n := s.served.Add(1)
			s.mu.Lock()
			s.remotes[r.RemoteAddr]++
			s.mu.Unlock()
			w.WriteHeader(status(n))
			w.Write([]byte("Hello, World!\n"))
		}),
	}
	done := make(chan error, 1)
	go func() { done <- srv.ServeListener(ln) }()
	t.Cleanup(func() {
		srv.Close()
		ln.Close()
		pc.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("the server's Serve did not return within 5s of Close")
		}
	})
	return s
}

func always(status int) func(int64) int { return func(int64) int { return status } }

// selfSigned makes an ECDSA P-256 certificate for 127.0.0.1.
func selfSigned(t *testing.T) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "h3load test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// waitGoroutines waits up to 5s for the goroutine count to fall to n.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines left after the run, %d before:\n%s",
				runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var lineRE = regexp.MustCompile(`^h3load: requests (\d+), req/s ([0-9.]+), p50 ([0-9.]+) ms, p99 ([0-9.]+) ms, errors (\d+)\n$`)

// TestLoad runs 2 connections × 4 streams for 1s against a real HTTP/3
// server, verifying its certificate, and checks the printed line against
// what the server saw.
func TestLoad(t *testing.T) {
	s := startServer(t, always(http.StatusOK))
	before := runtime.NumGoroutine()
	var stdout, stderr bytes.Buffer
	start := time.Now()
	code := run(context.Background(), []string{"-url", s.url, "-c", "2", "-m", "4",
		"-d", "1s", "-warmup", "200ms", "-cacert", s.certPEM}, &stdout, &stderr)
	took := time.Since(start)
	if code != 0 {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
	m := lineRE.FindStringSubmatch(stdout.String())
	if m == nil {
		t.Fatalf("stdout %q is not the h3load line", stdout.String())
	}
	requests, _ := strconv.Atoi(m[1])
	rps, _ := strconv.ParseFloat(m[2], 64)
	p50, _ := strconv.ParseFloat(m[3], 64)
	p99, _ := strconv.ParseFloat(m[4], 64)
	errs, _ := strconv.Atoi(m[5])
	if requests == 0 || errs != 0 {
		t.Errorf("requests %d, errors %d: want some requests and no errors", requests, errs)
	}
	if rps != float64(requests) { // -d 1s
		t.Errorf("req/s %v, want requests/1s = %d", rps, requests)
	}
	if p50 <= 0 || p99 < p50 {
		t.Errorf("p50 %v ms, p99 %v ms: want 0 < p50 <= p99", p50, p99)
	}
	if took < 1200*time.Millisecond || took > 10*time.Second {
		t.Errorf("the run took %v, want warm-up + duration (1.2s) and not much more", took)
	}
	// The connection requests, the warm-up and the ones cut off come on top.
	if served := s.served.Load(); served < int64(requests)+2 {
		t.Errorf("the server answered %d requests, fewer than the %d counted + 2", served, requests)
	}
	waitGoroutines(t, before) // every goroutine of the run has ended
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.remotes) != 2 {
		t.Errorf("the server saw client addresses %v, want 2 (one per connection)", s.remotes)
	}
	for addr, n := range s.remotes {
		if n < s.served.Load()/4 {
			t.Errorf("%s sent %d of the %d requests: the streams are not spread over the connections", addr, n, s.served.Load())
		}
	}
}

// TestConnectFails checks that a connection whose first request fails
// stops the run before it starts: exit 2, the reason on stderr, nothing on
// stdout.
func TestConnectFails(t *testing.T) {
	s := startServer(t, always(http.StatusServiceUnavailable))
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"-url", s.url, "-c", "2", "-m", "2",
		"-d", "300ms", "-warmup", "0s", "-insecure"}, &stdout, &stderr)
	if code != 2 {
		t.Fatalf("exit %d, want 2; stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stderr.String(), "503") || stdout.Len() != 0 {
		t.Errorf("stdout %q, stderr %q: want nothing on stdout and the 503 on stderr", stdout.String(), stderr.String())
	}
}

// TestErrorsDuringRun checks that a server that fails once the connection
// is open gives errors in the -json result, its first one, and exit 1.
func TestErrorsDuringRun(t *testing.T) {
	s := startServer(t, func(n int64) int {
		if n == 1 { // the connection's first request
			return http.StatusOK
		}
		return http.StatusServiceUnavailable
	})
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"-url", s.url, "-c", "1", "-m", "2",
		"-d", "300ms", "-warmup", "0s", "-insecure", "-json"}, &stdout, &stderr)
	if code != 1 {
		t.Fatalf("exit %d, want 1; stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
	var res result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("stdout %q: %v", stdout.String(), err)
	}
	if res.Errors == 0 || res.Requests != 0 || !strings.Contains(res.FirstError, "503") {
		t.Errorf("result %+v: want errors, no requests, and the 503 as the first error", res)
	}
	if !strings.Contains(stderr.String(), "first error") {
		t.Errorf("stderr %q does not report the first error", stderr.String())
	}
}

// TestNoServer checks that connecting gives up after -connect-timeout when
// nothing answers on the port.
func TestNoServer(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0") // bound, never read
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	var stdout, stderr bytes.Buffer
	start := time.Now()
	code := run(context.Background(), []string{"-url", "https://" + pc.LocalAddr().String() + "/",
		"-connect-timeout", "300ms", "-d", "1s", "-insecure"}, &stdout, &stderr)
	if took := time.Since(start); code != 2 || took > 3*time.Second {
		t.Errorf("exit %d after %v, want 2 after about 300ms; stderr %q", code, took, stderr.String())
	}
}

// TestBadFlags checks the flags h3load refuses.
func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"-url", "http://127.0.0.1:1/"},
		{"-url", "https:///"},
		{"-url", "https://127.0.0.1:1/", "-c", "0"},
		{"-url", "https://127.0.0.1:1/", "-m", "0"},
		{"-url", "https://127.0.0.1:1/", "-d", "0s"},
		{"-url", "https://127.0.0.1:1/", "-cacert", "/nonexistent"},
		{"-url", "https://127.0.0.1:1/", "extra"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, &stdout, &stderr); code != 2 || stderr.Len() == 0 {
			t.Errorf("%q: exit %d, stderr %q; want 2 and a reason", args, code, stderr.String())
		}
	}
}
