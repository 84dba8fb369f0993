package supervisor_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// The ACME tests run Pebble (github.com/letsencrypt/pebble/v2), a real
// ACME server, on loopback, its validation pointed at Rockstar's
// listeners and its DNS lookups at a resolver of the test's that answers
// 127.0.0.1 for every name. .ci/run installs Pebble and sets
// ROCKSTAR_PEBBLE; locally:
//
//	GOBIN=/tmp/pebble-bin go install github.com/letsencrypt/pebble/v2/cmd/pebble@v2.10.3
//	ROCKSTAR_PEBBLE=/tmp/pebble-bin/pebble go test -run ACME ./supervisor/

// pebbleBin is the Pebble binary: $ROCKSTAR_PEBBLE (a path there that is
// not there fails the test), else pebble on PATH; the test skips without
// one unless CI is set.
func pebbleBin(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("starts Pebble and the real binary")
	}
	if p := os.Getenv("ROCKSTAR_PEBBLE"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("ROCKSTAR_PEBBLE: %v", err)
		}
		return p
	}
	if p, err := exec.LookPath("pebble"); err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatal("pebble is not installed and CI is set: .ci/run installs it and sets ROCKSTAR_PEBBLE")
	}
	t.Skip("pebble is not installed: GOBIN=DIR go install github.com/letsencrypt/pebble/v2/cmd/pebble@v2.10.3, then ROCKSTAR_PEBBLE=DIR/pebble (.ci/run does this)")
	return ""
}

// freePort returns a loopback TCP port that was free a moment ago, for
// the listeners Pebble must be told of before they exist.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// loopbackDNS answers every A query with 127.0.0.1 and every other one
// with no records, on a UDP and a TCP port of the same number (Pebble
// asks over TCP); it stops at the test's end.
func loopbackDNS(t *testing.T) string {
	t.Helper()
	var ln net.Listener
	var pc net.PacketConn
	for range 20 {
		var err error
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if pc, err = net.ListenPacket("udp", ln.Addr().String()); err == nil {
			break
		}
		ln.Close()
		ln = nil
	}
	if ln == nil {
		t.Fatal("no port free for both UDP and TCP")
	}
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		for _, q := range r.Question {
			if q.Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{
					Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1},
					A:   net.IPv4(127, 0, 0, 1),
				})
			}
		}
		_ = w.WriteMsg(m)
	})
	udp := &dns.Server{PacketConn: pc, Handler: handler}
	tcp := &dns.Server{Listener: ln, Handler: handler}
	var wg sync.WaitGroup
	wg.Go(func() { _ = udp.ActivateAndServe() })
	wg.Go(func() { _ = tcp.ActivateAndServe() })
	t.Cleanup(func() {
		waitFor(t, "the DNS servers to start", 5*time.Second, func() bool {
			return udp.Shutdown() == nil
		})
		waitFor(t, "the DNS servers to start", 5*time.Second, func() bool {
			return tcp.Shutdown() == nil
		})
		wg.Wait()
	})
	return ln.Addr().String()
}

// pebble is a running Pebble.
type pebble struct {
	dir   string // its ACME directory URL
	mgmt  string // its management address, https
	caPEM string // the file of the root that signs its own HTTPS
	tls   *tls.Config
}

// startPebble runs Pebble with its challenges sent to httpPort and
// tlsPort on 127.0.0.1, until the test ends.
func startPebble(t *testing.T, httpPort, tlsPort int) *pebble {
	t.Helper()
	bin := pebbleBin(t)
	dir := t.TempDir()
	pool := x509.NewCertPool()
	certFile, keyFile := tlsFiles(t, dir, "pebble-https", pool, "127.0.0.1")
	listen, mgmt := freePort(t), freePort(t)
	conf := map[string]any{"pebble": map[string]any{
		"listenAddress":                  "127.0.0.1:" + strconv.Itoa(listen),
		"managementListenAddress":        "127.0.0.1:" + strconv.Itoa(mgmt),
		"certificate":                    certFile,
		"privateKey":                     keyFile,
		"httpPort":                       httpPort,
		"tlsPort":                        tlsPort,
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
		"retryAfter":                     map[string]int{"authz": 1, "order": 1},
		"profiles":                       map[string]any{"default": map[string]any{"description": "test", "validityPeriod": 7776000}},
	}}
	b, _ := json.Marshal(conf)
	confFile := filepath.Join(dir, "pebble.json")
	if err := os.WriteFile(confFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-config", confFile, "-dnsserver", loopbackDNS(t))
	cmd.Env = append(os.Environ(),
		"PEBBLE_VA_NOSLEEP=1",      // validate at once
		"PEBBLE_VA_ALWAYS_VALID=0", // really ask Rockstar
		"PEBBLE_WFE_NONCEREJECT=0", // no random badNonce
		"PEBBLE_AUTHZREUSE=0",      // every order validates anew
	)
	out := newLogLines()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		if t.Failed() {
			t.Logf("pebble output:\n%s", out.String())
		}
	})
	p := &pebble{
		dir:   fmt.Sprintf("https://127.0.0.1:%d/dir", listen),
		mgmt:  fmt.Sprintf("https://127.0.0.1:%d", mgmt),
		caPEM: certFile,
		tls:   &tls.Config{RootCAs: pool},
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: p.tls}, Timeout: 2 * time.Second}
	waitFor(t, "pebble's directory", 20*time.Second, func() bool {
		resp, err := hc.Get(p.dir)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return p
}

// roots returns the roots Pebble issues under (they change at each
// start of Pebble).
func (p *pebble) roots(t *testing.T) *x509.CertPool {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: p.tls}, Timeout: 5 * time.Second}
	resp, err := hc.Get(p.mgmt + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("pebble roots: %v %d", err, resp.StatusCode)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatalf("pebble roots: no PEM in %q", b)
	}
	return pool
}

// handshake does a TLS handshake with addr for name, trusting roots,
// and returns the certificate it was given, or the handshake's error.
func handshake(addr, name string, roots *x509.CertPool) (*x509.Certificate, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d := &tls.Dialer{Config: &tls.Config{ServerName: name, RootCAs: roots, NextProtos: []string{"http/1.1"}}}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.(*tls.Conn).ConnectionState().PeerCertificates[0], nil
}

// getOverTLS requests https://name/ on addr, trusting roots.
func getOverTLS(addr, name string, roots *x509.CertPool) (int, string, error) {
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{ServerName: name, RootCAs: roots},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 60 * time.Second}).Get("https://" + name + "/")
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// checkStoreModes fails unless every directory of the store is mode 0700
// and every key 0600, and says how many keys there are.
func checkStoreModes(t *testing.T, dir string) (keys int) {
	t.Helper()
	err := filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		switch mode := fi.Mode().Perm(); {
		case fi.IsDir() && mode != 0o700:
			t.Errorf("%s: mode %o, want 0700", path, mode)
		case !fi.IsDir() && filepath.Ext(path) == ".key":
			keys++
			if mode != 0o600 {
				t.Errorf("%s: mode %o, want 0600", path, mode)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}
