package supervisor_test

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"

	"github.com/rockstar-dev/rockstar/worker"
)

// tlsFiles writes a self-signed pair for hosts into dir and adds it to pool.
func tlsFiles(t *testing.T, dir, name string, pool *x509.CertPool, hosts ...string) (certFile, keyFile string) {
	t.Helper()
	certPEM, keyPEM, err := worker.SelfSignedCert(hosts...)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	pool.AppendCertsFromPEM(certPEM)
	return certFile, keyFile
}

// protocolsConfig follows configHead: http1, http2 and http3 on one TLS
// address, with a default certificate and two hosts that have their own.
const protocolsConfig = `
[[server]]
listen = "127.0.0.1:0"
protocols = ["http1", "http2", "http3"]
tls_cert = %q
tls_key = %q
max_request_size = 8388608
read_timeout = "%s"

[[host]]
hostname = "hello.test"
respond = "hello"

[[host]]
hostname = "a.test"
respond = "host a"
tls_cert = %q
tls_key = %q

[[host]]
hostname = "b.test"
respond = "host b"
tls_cert = %q
tls_key = %q

[[host]]
hostname = "up.test"
proxy = { upstreams = [%q] }
`

type protoSetup struct {
	pool     *x509.CertPool
	files    [6]string
	upstream string // an HTTP/1.1 upstream that answers with the body's length and hash
}

func newProtoSetup(t *testing.T) *protoSetup {
	dir := t.TempDir()
	s := &protoSetup{pool: x509.NewCertPool()}
	s.files[0], s.files[1] = tlsFiles(t, dir, "default", s.pool, "default.test")
	s.files[2], s.files[3] = tlsFiles(t, dir, "a", s.pool, "a.test")
	s.files[4], s.files[5] = tlsFiles(t, dir, "b", s.pool, "b.test")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	up := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, _ := io.Copy(h, r.Body)
		fmt.Fprintf(w, "%d %x", n, h.Sum(nil))
	})}
	var served sync.WaitGroup
	served.Go(func() { _ = up.Serve(ln) }) // ends with Close below
	t.Cleanup(func() {
		up.Close()
		served.Wait()
	})
	s.upstream = ln.Addr().String()
	return s
}

func (s *protoSetup) config(workers int, readTimeout string) string {
	f := s.files
	return configHead(workers, "debug", "") +
		fmt.Sprintf(protocolsConfig, f[0], f[1], readTimeout, f[2], f[3], f[4], f[5], s.upstream)
}

type client struct {
	name  string
	proto string
	c     *http.Client
}

// clients returns an HTTP/1.1, an HTTP/2 and an HTTP/3 client that send
// sni ("" for none).
func (s *protoSetup) clients(t *testing.T, sni string) []client {
	tc := func(protos ...string) *tls.Config {
		return &tls.Config{RootCAs: s.pool, ServerName: sni, NextProtos: protos}
	}
	h1 := &http.Transport{TLSClientConfig: tc("http/1.1"), TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}
	h2 := &http.Transport{TLSClientConfig: tc(), ForceAttemptHTTP2: true}
	h3 := &http3.Transport{TLSClientConfig: tc()}
	t.Cleanup(func() {
		h1.CloseIdleConnections()
		h2.CloseIdleConnections()
		_ = h3.Close()
	})
	return []client{
		{"h1", "HTTP/1.1", &http.Client{Transport: h1, Timeout: 10 * time.Second}},
		{"h2", "HTTP/2.0", &http.Client{Transport: h2, Timeout: 10 * time.Second}},
		{"h3", "HTTP/3.0", &http.Client{Transport: h3, Timeout: 10 * time.Second}},
	}
}

func (c client) do(method, url, host string, body []byte) (*http.Response, string, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		return nil, "", err
	}
	req.Host = host
	resp, err := c.c.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

// Supervised, the three protocols get the same answers from the same
// hosts, on the same port; HTTP/1.1 and HTTP/2 advertise HTTP/3; hosts'
// own certificates are picked by SNI and cross-host requests get 421.
func TestSupervisedProtocols(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	s := newProtoSetup(t)
	m := startMaster(t, s.config(2, "30s"))
	url := "https://" + m.addr + "/"
	_, port, _ := net.SplitHostPort(m.addr)
	upload := bytes.Repeat([]byte("rockstar"), 700_000) // 5.6 MB
	sum := sha256.Sum256(upload)
	wantUpload := fmt.Sprintf("%d %x", len(upload), sum)
	tooBig := make([]byte, 9<<20)

	for _, c := range s.clients(t, "") {
		t.Run(c.name, func(t *testing.T) {
			resp, body, err := c.do("GET", url, "hello.test", nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 200 || body != "hello" || resp.Proto != c.proto {
				t.Errorf("GET: %s %d %q", resp.Proto, resp.StatusCode, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			if c.name != "h3" {
				if alt := resp.Header.Get("Alt-Svc"); alt != `h3=":`+port+`"; ma=86400` {
					t.Errorf("Alt-Svc %q", alt)
				}
			}
			// Through a proxy host, whose upstream reads the whole body.
			resp, body, err = c.do("POST", url, "up.test", upload)
			if err != nil || resp.StatusCode != 200 || body != wantUpload {
				t.Errorf("POST %d bytes: %v %v %q, want %q", len(upload), err, status(resp), body, wantUpload)
			}
			resp, _, err = c.do("POST", url, "hello.test", tooBig)
			if err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Errorf("POST %d bytes over max_request_size: %v %v", len(tooBig), err, status(resp))
			}
		})
	}
	for _, sni := range []string{"a.test", "b.test"} {
		other := map[string]string{"a.test": "b.test", "b.test": "a.test"}[sni]
		for _, c := range s.clients(t, sni) {
			resp, body, err := c.do("GET", url, sni, nil)
			if err != nil {
				t.Fatalf("%s SNI %s: %v", c.name, sni, err)
			}
			if body != "host "+sni[:1] || !slices.Contains(resp.TLS.PeerCertificates[0].DNSNames, sni) {
				t.Errorf("%s SNI %s: %q, certificate for %v", c.name, sni, body, resp.TLS.PeerCertificates[0].DNSNames)
			}
			if resp, _, err = c.do("GET", url, other, nil); err != nil || resp.StatusCode != http.StatusMisdirectedRequest {
				t.Errorf("%s SNI %s Host %s: %v %v, want 421", c.name, sni, other, err, status(resp))
			}
		}
	}
}

func status(r *http.Response) string {
	if r == nil {
		return "no response"
	}
	return strconv.Itoa(r.StatusCode)
}

// The master holds one UDP socket per worker slot on the TCP port, as it
// does TCP sockets; a worker restart keeps them.
func TestSupervisedUDPSocketsPerSlot(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	s := newProtoSetup(t)
	m := startMaster(t, s.config(3, "30s"))
	_, portStr, _ := net.SplitHostPort(m.addr)
	port, _ := strconv.Atoi(portStr)
	count := func() int { return udpSocketsOf(t, m.pid(), port) }
	if n := count(); n != 3 {
		t.Fatalf("the master holds %d UDP sockets on port %d, want 3 (one per slot)", n, port)
	}
	pids := m.waitWorkers(3, 10*time.Second)
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	m.logs.wait(t, "worker exited unexpectedly; restarting", 5*time.Second)
	m.waitWorkers(3, 10*time.Second)
	if n := count(); n != 3 {
		t.Errorf("after a worker restart the master holds %d UDP sockets, want 3", n)
	}
	c := s.clients(t, "")[2]
	if resp, body, err := c.do("GET", "https://"+m.addr+"/", "hello.test", nil); err != nil || body != "hello" {
		t.Errorf("HTTP/3 after the restart: %v %v %q", err, status(resp), body)
	}
}

// udpSocketsOf counts the UDP sockets bound to port that process pid holds.
func udpSocketsOf(t *testing.T, pid, port int) int {
	t.Helper()
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/udp", "/proc/net/udp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fields := strings.Fields(line)
			if len(fields) < 10 {
				continue
			}
			_, hexPort, _ := strings.Cut(fields[1], ":")
			if p, err := strconv.ParseInt(hexPort, 16, 32); err == nil && int(p) == port {
				inodes[fields[9]] = true
			}
		}
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, fd := range fds {
		target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err != nil {
			continue
		}
		if inode, ok := strings.CutPrefix(target, "socket:["); ok && inodes[strings.TrimSuffix(inode, "]")] {
			n++
		}
	}
	return n
}

// A reload that starts a new generation drains the old workers with
// GOAWAY on HTTP/2 and HTTP/3: clients of every protocol that keep
// sending see no failed request.
func TestSupervisedReloadUnderLoadAllProtocols(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary under load")
	}
	s := newProtoSetup(t)
	m := startMaster(t, s.config(2, "30s"))
	url := "https://" + m.addr + "/"
	var stop atomic.Bool
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := map[string]int{}
	var failures []string
	for _, c := range s.clients(t, "") {
		wg.Go(func() {
			for !stop.Load() {
				resp, body, err := c.do("GET", url, "hello.test", nil)
				mu.Lock()
				switch {
				case err != nil:
					failures = append(failures, c.name+": "+err.Error())
				case resp.StatusCode != 200 || body != "hello":
					failures = append(failures, fmt.Sprintf("%s: %d %q", c.name, resp.StatusCode, body))
				default:
					ok[c.name]++
				}
				mu.Unlock()
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	m.writeConfig(s.config(2, "31s")) // a listener change: a new generation
	m.signal(syscall.SIGHUP)
	m.logs.wait(t, "old generation drained", 30*time.Second)
	m.waitWorkers(2, 10*time.Second)
	time.Sleep(300 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	t.Logf("requests answered during the reload: %v", ok)
	for _, name := range []string{"h1", "h2", "h3"} {
		if ok[name] == 0 {
			t.Errorf("%s: no request succeeded", name)
		}
	}
	if len(failures) > 0 {
		t.Errorf("%d failed requests, first: %s", len(failures), failures[0])
	}
}
