package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestLoadExample(t *testing.T) {
	c, err := Load(filepath.Join("..", "..", "examples", "rockstar.toml"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	examples, err := filepath.Abs(filepath.Join("..", "..", "examples"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Servers) != 1 || c.Servers[0].Listen != ":8080" {
		t.Errorf("Servers = %+v, want one on :8080", c.Servers)
	}
	if c.Admin.Listen != "127.0.0.1:9090" {
		t.Errorf("Admin.Listen = %q", c.Admin.Listen)
	}
	type hostSum struct{ name, tenant, root, respond string }
	var got []hostSum
	for _, h := range c.Hosts {
		got = append(got, hostSum{h.Hostname, h.Tenant, h.Root, h.Respond})
	}
	want := []hostSum{
		{"acme.localhost", "acme", filepath.Join(examples, "sites/acme"), ""},
		{"blog.localhost", "acme", filepath.Join(examples, "sites/blog"), ""},
		{"hello.localhost", "demo", "", "Hello, World!\n"},
	}
	if len(got) != len(want) {
		t.Fatalf("hosts = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("host %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if len(c.Tenants) != 2 {
		t.Errorf("tenants = %+v, want two", c.Tenants)
	}
	for _, h := range c.Hosts {
		if h.Root == "" {
			continue
		}
		for _, f := range []string{"index.html", "style.css"} {
			if _, err := os.Stat(filepath.Join(h.Root, f)); err != nil {
				t.Errorf("%s: %v", h.Hostname, err)
			}
		}
	}
	if want := filepath.Join(examples, "run/rockstar.sock"); c.Supervisor.ControlSocket != want {
		t.Errorf("ControlSocket = %q, want %q", c.Supervisor.ControlSocket, want)
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.toml")
	_, err := Load(path)
	var ce *Error
	if !errors.As(err, &ce) || ce.File != path || !errors.Is(err, ErrRead) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load = %v, want an *Error wrapping ErrRead and fs.ErrNotExist", err)
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeCert writes a self-signed certificate pair for name.
func writeCert(t *testing.T, certPath, keyPath, name string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, certPath, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	writeFile(t, keyPath, string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})))
}

func TestLoadChecksSystem(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "sites/a/index.html"), "a")
	writeFile(t, filepath.Join(dir, "sites/file"), "not a dir")
	writeCert(t, filepath.Join(dir, "tls/a.pem"), filepath.Join(dir, "tls/a.key"), "a.test")

	good := `[[server]]
listen = ":8443"
protocols = ["http1", "http2"]
tls_cert = "tls/a.pem"
tls_key = "tls/a.key"
[[host]]
hostname = "a.test"
root = "sites/a"
`
	writeFile(t, filepath.Join(dir, "good.toml"), good)
	if _, err := Load(filepath.Join(dir, "good.toml")); err != nil {
		t.Fatalf("good config: %v", err)
	}

	bad := `[supervisor]
user = "no-such-user-rockstar"
group = "12345"
[[server]]
listen = ":8443"
tls_cert = "tls/missing.pem"
tls_key = "tls/a.key"
[[host]]
hostname = "a.test"
root = "sites/missing"
[[host]]
hostname = "b.test"
root = "sites/file"
`
	writeFile(t, filepath.Join(dir, "bad.toml"), bad)
	_, err := Load(filepath.Join(dir, "bad.toml"))
	got := problems(t, err)
	want := []struct {
		line  int
		field string
		cause error
	}{
		{2, "supervisor.user", nil},
		{6, "server[0].tls_cert", fs.ErrNotExist},
		{10, "host[0].root", fs.ErrNotExist},
		{13, "host[1].root", nil},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(got), len(want), err)
	}
	for i, w := range want {
		g := got[i]
		if g.Line != w.line || g.Field != w.field || !errors.Is(g, ErrSystem) || (w.cause != nil && !errors.Is(g, w.cause)) {
			t.Errorf("problem %d: got %d %q %v, want %d %q %v", i, g.Line, g.Field, g.Err, w.line, w.field, w.cause)
		}
	}
}
