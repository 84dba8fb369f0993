package worker

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
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
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"
	"github.com/valyala/fasthttp"
	"golang.org/x/net/http2"
)

// devPair writes a self-signed pair for hosts into a temp dir and returns
// its files and a pool that trusts it.
func devPair(t testing.TB, hosts ...string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	certPEM, keyPEM, err := SelfSignedCert(hosts...)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	return certFile, keyFile, pool
}

// listenTLS starts s with ListenTLS on a loopback port and returns its address.
func listenTLS(t testing.TB, s Server, certFile, keyFile string) string {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- s.ListenTLS("127.0.0.1:0", certFile, keyFile) }()
	waitListening(t, s, errc)
	return s.Addr()
}

func waitListening(t testing.TB, s Server, errc chan error) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !s.IsRunning() {
		select {
		case err := <-errc:
			t.Fatalf("listen: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("server did not start")
		}
		time.Sleep(time.Millisecond)
	}
}

// protoClient is one protocol's client.
type protoClient struct {
	name string
	c    *http.Client
}

// protoClients returns an HTTP/1.1, an HTTP/2 and an HTTP/3 client that
// trust pool and send sni (none when "").
func protoClients(t testing.TB, pool *x509.CertPool, sni string) []protoClient {
	t.Helper()
	tc := func(protos ...string) *tls.Config {
		return &tls.Config{RootCAs: pool, ServerName: sni, NextProtos: protos}
	}
	h1 := &http.Transport{TLSClientConfig: tc("http/1.1"), TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}
	h2 := &http.Transport{TLSClientConfig: tc(), ForceAttemptHTTP2: true}
	h3 := &http3.Transport{TLSClientConfig: tc()}
	t.Cleanup(func() {
		h1.CloseIdleConnections()
		h2.CloseIdleConnections()
		_ = h3.Close()
	})
	return []protoClient{
		{"h1", &http.Client{Transport: h1, Timeout: 10 * time.Second}},
		{"h2", &http.Client{Transport: h2, Timeout: 10 * time.Second}},
		{"h3", &http.Client{Transport: h3, Timeout: 10 * time.Second}},
	}
}

// wantProto is the response Proto each client must see.
var wantProto = map[string]string{"h1": "HTTP/1.1", "h2": "HTTP/2.0", "h3": "HTTP/3.0"}

type answer struct {
	status int
	body   string
	header http.Header
	proto  string
	tls    *tls.ConnectionState
}

func (pc protoClient) do(t testing.TB, method, url, host string, body io.Reader, hdr http.Header) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	resp, err := pc.c.Do(req)
	if err != nil {
		t.Fatalf("%s: %s %s: %v", pc.name, method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s: read body: %v", pc.name, err)
	}
	return answer{resp.StatusCode, string(b), resp.Header, resp.Proto, resp.TLS}
}

// protocolRouter has the routes the protocol tests compare.
func protocolRouter() *Router {
	r := NewRouter()
	r.GET("/hello", func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Add("X-Multi", "one")
		ctx.Response.Header.Add("X-Multi", "two")
		ctx.Response.Header.Set("Connection", "keep-alive, X-Secret")
		ctx.Response.Header.Set("X-Secret", "hop-by-hop")
		ctx.Response.Header.Set("Keep-Alive", "timeout=5")
		ctx.SetContentType("text/plain; charset=utf-8")
		ctx.SetBodyString("hello")
	})
	r.GET("/headers", func(ctx *fasthttp.RequestCtx) {
		var vals []string
		for _, v := range ctx.Request.Header.PeekAll("X-Rep") {
			vals = append(vals, string(v))
		}
		fmt.Fprintf(ctx, "%s|%s", strings.Join(vals, ","), ctx.Request.Header.Peek("X-One"))
	})
	r.POST("/upload", func(ctx *fasthttp.RequestCtx) {
		sum := sha256.Sum256(ctx.PostBody())
		fmt.Fprintf(ctx, "%d %s", len(ctx.PostBody()), hex.EncodeToString(sum[:]))
	})
	r.POST("/stream-upload", func(ctx *fasthttp.RequestCtx) {
		h := sha256.New()
		var n int64
		if s := ctx.RequestBodyStream(); s != nil {
			n, _ = io.Copy(h, s)
		} else {
			b := ctx.PostBody()
			n = int64(len(b))
			h.Write(b)
		}
		fmt.Fprintf(ctx, "%d %s", n, hex.EncodeToString(h.Sum(nil)))
	})
	r.GET("/info", func(ctx *fasthttp.RequestCtx) {
		st := ctx.TLSConnectionState()
		sni := ""
		if st != nil {
			sni = st.ServerName
		}
		ip, _, _ := net.SplitHostPort(ctx.RemoteAddr().String())
		fmt.Fprintf(ctx, "tls=%v sni=%s remote=%s scheme=%s host=%s", ctx.IsTLS(), sni, ip, ctx.URI().Scheme(), ctx.Host())
	})
	r.GET("/big", func(ctx *fasthttp.RequestCtx) {
		ctx.SetBody(bytes.Repeat([]byte("0123456789abcdef"), 1<<16)) // 1 MiB
	})
	r.GET("/stream", func(ctx *fasthttp.RequestCtx) {
		ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
			for i := range 5 {
				fmt.Fprintf(w, "chunk %d\n", i)
				_ = w.Flush()
			}
		})
	})
	r.GET("/slow", func(ctx *fasthttp.RequestCtx) {
		time.Sleep(200 * time.Millisecond)
		ctx.SetBodyString("slow")
	})
	r.GET("/nocontent", func(ctx *fasthttp.RequestCtx) {
		ctx.SetStatusCode(fasthttp.StatusNoContent)
	})
	r.Host("a.test").GET("/", func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("host a") })
	r.Host("b.test").GET("/", func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("host b") })
	return r
}

// startAllProtocols starts a ListenTLS server with HTTP/2 and QUIC on and
// the protocol router.
func startAllProtocols(t testing.TB, cfg ServerConfig) (ServerManager, Server, string, *x509.CertPool) {
	t.Helper()
	certFile, keyFile, pool := devPair(t, "a.test", "b.test")
	sm := quietManager(t)
	cfg.EnableHTTP1, cfg.EnableHTTP2, cfg.EnableQUIC = true, true, true
	s := sm.NewServer(cfg)
	s.SetRouter(protocolRouter())
	addr := listenTLS(t, s, certFile, keyFile)
	return sm, s, addr, pool
}

// Every protocol gets the same answers from the same routes of the same
// server.
func TestProtocolsSameAnswers(t *testing.T) {
	_, _, addr, pool := startAllProtocols(t, ServerConfig{MaxRequestSize: 8 << 20})
	base := "https://" + addr
	clients := protoClients(t, pool, "")

	upload := bytes.Repeat([]byte("rockstar!"), 600_000) // 5.4 MB
	sum := sha256.Sum256(upload)
	wantUpload := fmt.Sprintf("%d %s", len(upload), hex.EncodeToString(sum[:]))

	for _, pc := range clients {
		t.Run(pc.name, func(t *testing.T) {
			a := pc.do(t, "GET", base+"/hello", "", nil, nil)
			if a.proto != wantProto[pc.name] {
				t.Errorf("proto %q, want %q", a.proto, wantProto[pc.name])
			}
			if a.status != 200 || a.body != "hello" {
				t.Errorf("GET /hello: %d %q", a.status, a.body)
			}
			if got := a.header.Values("X-Multi"); !slices.Equal(got, []string{"one", "two"}) {
				t.Errorf("repeated response header X-Multi: %q", got)
			}
			if ct := a.header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			if a.header.Get("Server") != "rockstar" {
				t.Errorf("Server %q", a.header.Get("Server"))
			}
			if pc.name != "h1" {
				for _, k := range []string{"Connection", "Keep-Alive", "X-Secret"} {
					if v := a.header.Get(k); v != "" {
						t.Errorf("hop-by-hop header %s: %q crossed into %s", k, v, a.proto)
					}
				}
			}

			a = pc.do(t, "GET", base+"/headers", "", nil, http.Header{"X-Rep": {"a", "b", "c"}, "X-One": {"1"}})
			if a.body != "a,b,c|1" {
				t.Errorf("repeated request headers: %q", a.body)
			}

			a = pc.do(t, "POST", base+"/upload", "", bytes.NewReader(upload), nil)
			if a.status != 200 || a.body != wantUpload {
				t.Errorf("POST %d bytes: %d %q", len(upload), a.status, a.body)
			}
			// Unknown length (chunked on HTTP/1.1), read as a stream.
			a = pc.do(t, "POST", base+"/stream-upload", "", io.MultiReader(bytes.NewReader(upload)), nil)
			if a.status != 200 || a.body != wantUpload {
				t.Errorf("POST streamed %d bytes: %d %q", len(upload), a.status, a.body)
			}
			big := bytes.Repeat([]byte("x"), 9<<20)
			a = pc.do(t, "POST", base+"/upload", "", bytes.NewReader(big), nil)
			if a.status != http.StatusRequestEntityTooLarge {
				t.Errorf("POST 9 MiB over an 8 MiB limit: %d", a.status)
			}

			a = pc.do(t, "GET", base+"/info", "", nil, nil)
			if want := "tls=true sni= remote=127.0.0.1 scheme=https host=" + addr; a.body != want {
				t.Errorf("info %q, want %q", a.body, want)
			}

			a = pc.do(t, "GET", base+"/big", "", nil, nil)
			if len(a.body) != 1<<20 || a.header.Get("Content-Length") != strconv.Itoa(1<<20) {
				t.Errorf("1 MiB body: got %d bytes, Content-Length %q", len(a.body), a.header.Get("Content-Length"))
			}
			a = pc.do(t, "GET", base+"/stream", "", nil, nil)
			if a.body != "chunk 0\nchunk 1\nchunk 2\nchunk 3\nchunk 4\n" {
				t.Errorf("streamed body %q", a.body)
			}
			a = pc.do(t, "GET", base+"/nocontent", "", nil, nil)
			if a.status != 204 || a.body != "" {
				t.Errorf("204: %d %q", a.status, a.body)
			}
			a = pc.do(t, "GET", base+"/", "a.test", nil, nil)
			if a.body != "host a" {
				t.Errorf("Host a.test: %d %q", a.status, a.body)
			}
			a = pc.do(t, "GET", base+"/missing", "", nil, nil)
			if a.status != 404 {
				t.Errorf("GET /missing: %d", a.status)
			}
		})
	}
}

// Ten concurrent 200 ms requests on one HTTP/2 connection run in parallel.
func TestH2ConcurrentStreams(t *testing.T) {
	_, _, addr, pool := startAllProtocols(t, ServerConfig{})
	var mu sync.Mutex
	dials := 0
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool},
		ForceAttemptHTTP2: true,
		MaxConnsPerHost:   1,
		DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
			mu.Lock()
			dials++
			mu.Unlock()
			var d net.Dialer
			return d.DialContext(ctx, network, a)
		},
	}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	// Open the connection first, so that the ten share it.
	if resp, err := c.Get("https://" + addr + "/hello"); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for range 10 {
		wg.Go(func() {
			resp, err := c.Get("https://" + addr + "/slow")
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.ProtoMajor != 2 || string(b) != "slow" {
				errs <- fmt.Errorf("%s %q", resp.Proto, b)
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if dials != 1 {
		t.Errorf("%d connections dialed, want 1", dials)
	}
	t.Logf("10 streams of a 200 ms handler on one connection: %s", took)
	if took > 700*time.Millisecond {
		t.Errorf("took %s: streams did not run concurrently", took)
	}
}

// HTTP/1.1 and HTTP/2 responses advertise HTTP/3 on the same port.
func TestAltSvc(t *testing.T) {
	_, _, addr, pool := startAllProtocols(t, ServerConfig{})
	_, port, _ := net.SplitHostPort(addr)
	want := `h3=":` + port + `"; ma=86400`
	for _, pc := range protoClients(t, pool, "") {
		a := pc.do(t, "GET", "https://"+addr+"/hello", "", nil, nil)
		got := a.header.Get("Alt-Svc")
		if pc.name == "h3" {
			continue
		}
		if got != want {
			t.Errorf("%s: Alt-Svc %q, want %q", pc.name, got, want)
		}
	}
	// Also on answers that no route gave.
	for _, pc := range protoClients(t, pool, "")[:2] {
		if a := pc.do(t, "GET", "https://"+addr+"/missing", "", nil, nil); a.header.Get("Alt-Svc") != want {
			t.Errorf("%s: 404 without Alt-Svc", pc.name)
		}
	}
}

// SNI picks the host's own certificate; a request whose Host belongs to
// another certificate than its SNI gets 421 on every protocol.
func TestPerHostCertificatesAndMisdirected(t *testing.T) {
	defCert, defKey, _ := devPair(t, "default.test")
	aCert, aKey, _ := devPair(t, "a.test")
	bCert, bKey, _ := devPair(t, "b.test")
	pool := x509.NewCertPool()
	for _, f := range []string{defCert, aCert, bCert} {
		b, _ := os.ReadFile(f)
		pool.AppendCertsFromPEM(b)
	}
	sm := quietManager(t)
	if err := sm.RegisterHost("a.test", HostConfig{SecurityConfig: &ServerSecurityConfig{CertFile: aCert, KeyFile: aKey}}); err != nil {
		t.Fatal(err)
	}
	s := sm.NewServer(ServerConfig{
		EnableHTTP2: true, EnableQUIC: true,
		HostConfigs: map[string]*HostConfig{"b.test": {SecurityConfig: &ServerSecurityConfig{CertFile: bCert, KeyFile: bKey}}},
	})
	s.SetRouter(protocolRouter())
	addr := listenTLS(t, s, defCert, defKey)
	url := "https://" + addr + "/"

	for _, sni := range []string{"a.test", "b.test"} {
		for _, pc := range protoClients(t, pool, sni) {
			a := pc.do(t, "GET", url, sni, nil, nil)
			if a.status != 200 || a.body != "host "+sni[:1] {
				t.Errorf("%s SNI %s Host %s: %d %q", pc.name, sni, sni, a.status, a.body)
			}
			if a.tls == nil || !slices.Contains(a.tls.PeerCertificates[0].DNSNames, sni) {
				t.Errorf("%s SNI %s: not served the host's certificate", pc.name, sni)
			}
			other := map[string]string{"a.test": "b.test", "b.test": "a.test"}[sni]
			a = pc.do(t, "GET", url, other, nil, nil)
			if a.status != http.StatusMisdirectedRequest {
				t.Errorf("%s SNI %s Host %s: %d %q, want 421", pc.name, sni, other, a.status, a.body)
			}
			// A host on the default certificate is another certificate too.
			if a = pc.do(t, "GET", url+"hello", "default.test", nil, nil); a.status != http.StatusMisdirectedRequest {
				t.Errorf("%s SNI %s Host default.test: %d, want 421", pc.name, sni, a.status)
			}
		}
	}
	// Without an SNI of its own certificate, the default one is served,
	// and hosts on it are served.
	for _, pc := range protoClients(t, pool, "default.test") {
		a := pc.do(t, "GET", url+"hello", "other.test", nil, nil)
		if a.status != 200 || !slices.Contains(a.tls.PeerCertificates[0].DNSNames, "default.test") {
			t.Errorf("%s SNI default.test: %d", pc.name, a.status)
		}
		if a = pc.do(t, "GET", url, "a.test", nil, nil); a.status != http.StatusMisdirectedRequest {
			t.Errorf("%s SNI default.test Host a.test: %d, want 421", pc.name, a.status)
		}
	}
}

// The seed's API: a ListenTLS server with EnableHTTP2 negotiates h2, one
// without does not, and with EnableQUIC it answers HTTP/3 on the same port.
func TestListenTLSProtocols(t *testing.T) {
	certFile, keyFile, pool := devPair(t)
	for _, tc := range []struct {
		name      string
		cfg       ServerConfig
		h2, quic  bool
		wantProto string
	}{
		{"http1 only", ServerConfig{EnableHTTP1: true}, false, false, "HTTP/1.1"},
		{"http2", ServerConfig{EnableHTTP1: true, EnableHTTP2: true}, true, false, "HTTP/2.0"},
		{"http2 and quic", ServerConfig{EnableHTTP1: true, EnableHTTP2: true, EnableQUIC: true}, true, true, "HTTP/2.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sm := quietManager(t)
			s := sm.NewServer(tc.cfg)
			r := NewRouter()
			r.GET("/", func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("ok") })
			s.SetRouter(r)
			addr := listenTLS(t, s, certFile, keyFile)
			conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, NextProtos: []string{"h2", "http/1.1"}})
			if err != nil {
				t.Fatal(err)
			}
			got := conn.ConnectionState().NegotiatedProtocol
			conn.Close()
			if want := map[bool]string{true: "h2", false: "http/1.1"}[tc.h2]; got != want {
				t.Errorf("ALPN negotiated %q, want %q", got, want)
			}
			clients := protoClients(t, pool, "")
			a := clients[1].do(t, "GET", "https://"+addr+"/", "", nil, nil)
			if a.proto != tc.wantProto || a.body != "ok" {
				t.Errorf("h2-capable client: %s %q", a.proto, a.body)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", "https://"+addr+"/", nil)
			resp, err := clients[2].c.Do(req)
			if !tc.quic {
				if err == nil {
					resp.Body.Close()
					t.Error("HTTP/3 answered without EnableQUIC")
				}
				return
			}
			if err != nil {
				t.Fatalf("HTTP/3 on the same port: %v", err)
			}
			resp.Body.Close()
			if resp.Proto != "HTTP/3.0" {
				t.Errorf("proto %s", resp.Proto)
			}
		})
	}
}

// ServerConfig.TLSConfig is honoured: GetCertificate alone serves.
func TestTLSConfigGetCertificate(t *testing.T) {
	certFile, keyFile, pool := devPair(t)
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	var calls sync.Map
	sm := quietManager(t)
	s := sm.NewServer(ServerConfig{EnableHTTP2: true, EnableQUIC: true, TLSConfig: &tls.Config{
		GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
			calls.Store(h.ServerName, true)
			return &pair, nil
		},
	}})
	r := NewRouter()
	r.GET("/", func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("ok") })
	s.SetRouter(r)
	addr := listenTLS(t, s, "", "")
	for _, pc := range protoClients(t, pool, "localhost") {
		if a := pc.do(t, "GET", "https://"+addr+"/", "", nil, nil); a.body != "ok" {
			t.Errorf("%s: %q", pc.name, a.body)
		}
	}
	if _, ok := calls.Load("localhost"); !ok {
		t.Error("GetCertificate was not called")
	}
}

// ListenQUIC serves HTTP/3 alone.
func TestListenQUIC(t *testing.T) {
	certFile, keyFile, pool := devPair(t)
	sm := quietManager(t)
	s := sm.NewServer(ServerConfig{})
	s.SetRouter(protocolRouter())
	errc := make(chan error, 1)
	go func() { errc <- s.ListenQUIC("127.0.0.1:0", certFile, keyFile) }()
	waitListening(t, s, errc)
	addr := s.Addr()
	a := protoClients(t, pool, "")[2].do(t, "GET", "https://"+addr+"/hello", "", nil, nil)
	if a.body != "hello" || a.proto != "HTTP/3.0" {
		t.Errorf("%s %q", a.proto, a.body)
	}
	if err := sm.HealthCheck(); err != nil {
		t.Errorf("health: %v", err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Error("ListenQUIC listens on TCP")
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("ListenQUIC returned %v after Shutdown", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ListenQUIC did not return after Shutdown")
	}
}

// ServeTLS serves TLS and HTTP/3 on sockets the caller opened.
func TestServeTLSInherited(t *testing.T) {
	certFile, keyFile, pool := devPair(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sm := quietManager(t)
	s := sm.NewServer(ServerConfig{EnableHTTP2: true})
	s.SetRouter(protocolRouter())
	errc := make(chan error, 1)
	go func() { errc <- s.ServeTLS(ln, pc, certFile, keyFile) }()
	waitListening(t, s, errc)
	for _, pc := range protoClients(t, pool, "") {
		if a := pc.do(t, "GET", "https://"+ln.Addr().String()+"/hello", "", nil, nil); a.body != "hello" || a.proto != wantProto[pc.name] {
			t.Errorf("%s: %s %q", pc.name, a.proto, a.body)
		}
	}
}

// RequestContext is cancelled when an HTTP/2 or HTTP/3 client gives up.
func TestRequestContextCancelled(t *testing.T) {
	certFile, keyFile, pool := devPair(t)
	sm := quietManager(t)
	s := sm.NewServer(ServerConfig{EnableHTTP2: true, EnableQUIC: true})
	cancelled := make(chan string, 2)
	r := NewRouter()
	r.GET("/wait", func(ctx *fasthttp.RequestCtx) {
		select {
		case <-RequestContext(ctx).Done():
			cancelled <- string(ctx.Request.Header.Protocol())
		case <-time.After(5 * time.Second):
		}
	})
	s.SetRouter(r)
	addr := listenTLS(t, s, certFile, keyFile)
	for _, pc := range protoClients(t, pool, "")[1:] {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", "https://"+addr+"/wait", nil)
		go func() { time.Sleep(100 * time.Millisecond); cancel() }()
		if resp, err := pc.c.Do(req); err == nil {
			resp.Body.Close()
		}
		select {
		case proto := <-cancelled:
			t.Logf("%s: handler saw the cancellation (%s)", pc.name, proto)
		case <-time.After(3 * time.Second):
			t.Errorf("%s: the handler's RequestContext was not cancelled", pc.name)
		}
	}
}

// A graceful stop sends GOAWAY on HTTP/2 and lets the requests in flight
// finish, on HTTP/2 and HTTP/3.
func TestGracefulGoAway(t *testing.T) {
	for _, how := range []string{"shutdown", "drain"} {
		t.Run(how, func(t *testing.T) {
			certFile, keyFile, pool := devPair(t)
			sm := quietManager(t)
			s := sm.NewServer(ServerConfig{EnableHTTP2: true, EnableQUIC: true})
			entered := make(chan struct{}, 2)
			r := NewRouter()
			r.GET("/inflight", func(ctx *fasthttp.RequestCtx) {
				entered <- struct{}{}
				time.Sleep(300 * time.Millisecond)
				ctx.SetBodyString("done")
			})
			s.SetRouter(r)
			addr := listenTLS(t, s, certFile, keyFile)

			// A raw HTTP/2 connection, to see the GOAWAY frame.
			conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, NextProtos: []string{"h2"}})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
				t.Fatal(err)
			}
			fr := http2.NewFramer(conn, conn)
			if err := fr.WriteSettings(); err != nil {
				t.Fatal(err)
			}
			// Requests in flight on HTTP/2 and HTTP/3.
			results := make(chan string, 2)
			for _, pc := range protoClients(t, pool, "")[1:] {
				go func() {
					resp, err := pc.c.Get("https://" + addr + "/inflight")
					if err != nil {
						results <- pc.name + ": " + err.Error()
						return
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					results <- pc.name + ": " + string(b)
				}()
			}
			for range 2 {
				select {
				case <-entered:
				case <-time.After(5 * time.Second):
					t.Fatal("the requests did not reach the handler")
				}
			}
			stopped := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				if how == "drain" {
					stopped <- sm.Drain(ctx, 0)
				} else {
					stopped <- s.Shutdown(ctx)
				}
			}()
			goAway := make(chan *http2.GoAwayFrame, 1)
			go func() {
				_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
				for {
					f, err := fr.ReadFrame()
					if err != nil {
						close(goAway)
						return
					}
					if s, ok := f.(*http2.SettingsFrame); ok && !s.IsAck() {
						_ = fr.WriteSettingsAck()
					}
					if g, ok := f.(*http2.GoAwayFrame); ok {
						goAway <- g
						return
					}
				}
			}()
			if g := <-goAway; g == nil {
				t.Error("no GOAWAY frame on the HTTP/2 connection")
			} else if g.ErrCode != http2.ErrCodeNo {
				t.Errorf("GOAWAY with %v", g.ErrCode)
			}
			for range 2 {
				if r := <-results; !strings.HasSuffix(r, ": done") {
					t.Errorf("request in flight: %s", r)
				}
			}
			if err := <-stopped; err != nil {
				t.Errorf("%s: %v", how, err)
			}
		})
	}
}

// Close stops HTTP/2 and HTTP/3 at once.
func TestCloseStopsExtraProtocols(t *testing.T) {
	_, s, addr, pool := startAllProtocols(t, ServerConfig{})
	clients := protoClients(t, pool, "")
	for _, pc := range clients {
		pc.do(t, "GET", "https://"+addr+"/hello", "", nil, nil)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, pc := range clients {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		req, _ := http.NewRequestWithContext(ctx, "GET", "https://"+addr+"/hello", nil)
		resp, err := pc.c.Do(req)
		cancel()
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s answered after Close", pc.name)
		}
	}
}

// Metrics count HTTP/2 and HTTP/3 requests as HTTP/1.1 ones.
func TestProtocolsMetrics(t *testing.T) {
	sm, _, addr, pool := startAllProtocols(t, ServerConfig{})
	for _, pc := range protoClients(t, pool, "") {
		pc.do(t, "GET", "https://"+addr+"/", "a.test", nil, nil)
	}
	var n uint64
	for k, st := range sm.Metrics().Series {
		if k.Host == "a.test" {
			n += st.Requests
		}
	}
	if n != 3 {
		t.Errorf("a.test counted %d requests, want 3", n)
	}
}
