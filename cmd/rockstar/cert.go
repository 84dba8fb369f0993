package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/rockstar-dev/rockstar/worker"
)

// certSetup is `rockstar cert -hosts a.test,b.test -out DIR`: it writes
// DIR/cert.pem and DIR/key.pem, a self-signed development pair (ECDSA
// P-256, valid for a year) with a SAN for each host and for localhost,
// 127.0.0.1 and ::1, so that the example config serves https on a fresh
// clone. The key is written mode 0600. Clients must be told to trust the
// certificate (curl --cacert DIR/cert.pem, or -k).
func certSetup(c *cli, fs *flag.FlagSet) func([]string) int {
	hosts := fs.String("hosts", "", "comma-separated host `NAMES` (and IP addresses) the certificate is for")
	out := fs.String("out", ".", "`DIR` to write cert.pem and key.pem to")
	force := fs.Bool("force", false, "overwrite an existing pair")
	return func([]string) int { return writeCert(*hosts, *out, *force, c.stdout, c.stderr) }
}

// writeCert is `rockstar cert` once its flags are parsed.
func writeCert(hosts, out string, force bool, stdout, stderr io.Writer) int {
	var names []string
	for _, h := range strings.Split(hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			names = append(names, h)
		}
	}
	certPEM, keyPEM, err := worker.SelfSignedCert(names...)
	if err != nil {
		fmt.Fprintln(stderr, "rockstar cert:", err)
		return 1
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		fmt.Fprintln(stderr, "rockstar cert:", err)
		return 1
	}
	certFile, keyFile := filepath.Join(out, "cert.pem"), filepath.Join(out, "key.pem")
	if !force {
		for _, f := range []string{certFile, keyFile} {
			if _, err := os.Stat(f); err == nil {
				fmt.Fprintf(stderr, "rockstar cert: %s exists (use -force to overwrite)\n", f)
				return 1
			}
		}
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		fmt.Fprintln(stderr, "rockstar cert:", err)
		return 1
	}
	if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
		fmt.Fprintln(stderr, "rockstar cert:", err)
		return 1
	}
	all := append(names, "localhost", "127.0.0.1", "::1")
	fmt.Fprintf(stdout, "wrote %s and %s (self-signed, for %s)\n", certFile, keyFile, strings.Join(all, ", "))
	return 0
}
