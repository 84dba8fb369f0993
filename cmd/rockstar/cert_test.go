package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rockstar-dev/rockstar/supervisor/config"
)

func TestCertCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	var out, errb bytes.Buffer
	if code := run([]string{"cert", "-hosts", "a.test, b.test", "-out", dir}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	pub, ok := c.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Errorf("key %T, want ECDSA P-256", c.PublicKey)
	}
	for _, h := range []string{"a.test", "b.test", "localhost"} {
		if !slices.Contains(c.DNSNames, h) {
			t.Errorf("no SAN for %s: %v", h, c.DNSNames)
		}
	}
	if len(c.IPAddresses) == 0 || !c.IPAddresses[0].Equal([]byte{127, 0, 0, 1}) {
		t.Errorf("IP SANs %v, want 127.0.0.1 first", c.IPAddresses)
	}
	// It verifies as its own root, for each name.
	pool := x509.NewCertPool()
	pool.AddCert(c)
	for _, h := range []string{"a.test", "b.test", "localhost", "127.0.0.1"} {
		if _, err := c.Verify(x509.VerifyOptions{Roots: pool, DNSName: h}); err != nil {
			t.Errorf("verify for %s: %v", h, err)
		}
	}
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	if !strings.Contains(out.String(), "a.test, b.test, localhost") {
		t.Errorf("output %q", out.String())
	}
	// A second run does not overwrite without -force.
	if code := run([]string{"cert", "-hosts", "c.test", "-out", dir}, &out, &errb); code == 0 {
		t.Error("overwrote an existing pair without -force")
	}
	if code := run([]string{"cert", "-hosts", "c.test", "-out", dir, "-force"}, &out, &errb); code != 0 {
		t.Errorf("-force: exit %d: %s", code, errb.String())
	}
}

// The example config's commented https server works once `rockstar cert`
// has made its pair: uncommented, the config loads and serves all three
// protocols with TLS.
func TestExampleHTTPSConfig(t *testing.T) {
	dir := t.TempDir()
	// The config and its sites, not run/ (a running example's socket).
	if err := os.CopyFS(filepath.Join(dir, "sites"), os.DirFS("../../examples/sites")); err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("../../examples/rockstar.toml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rockstar.toml"), example, 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"cert", "-hosts", "acme.localhost,blog.localhost,hello.localhost", "-out", filepath.Join(dir, "certs")}, &out, &errb); code != 0 {
		t.Fatalf("cert: exit %d: %s", code, errb.String())
	}
	path := filepath.Join(dir, "rockstar.toml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	block := []string{"[[server]]", `listen = ":8443"`, `protocols = ["http1", "http2", "http3"]`, `tls_cert = "certs/cert.pem"`, `tls_key = "certs/key.pem"`}
	for _, line := range block {
		i := strings.Index(text, "# "+line)
		if i < 0 {
			t.Fatalf("the example has no commented %q", line)
		}
		text = text[:i] + text[i+2:]
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("the uncommented example does not load: %v", err)
	}
	var found bool
	for _, s := range cfg.Servers {
		if s.Listen == ":8443" {
			found = s.TLS() && s.Serves(config.ProtocolHTTP2) && s.Serves(config.ProtocolHTTP3)
		}
	}
	if !found {
		t.Error("no :8443 server with TLS, http2 and http3")
	}
}
