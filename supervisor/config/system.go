package config

import (
	"crypto/tls"
	"fmt"
	"os"
	"os/user"
	"strconv"
)

// CheckSystem checks c against the machine, as `rockstar check` and a
// reload need before anything is started: every static root is a
// directory, every TLS pair loads, the control socket's path is safe to
// bind (CheckSocketPath), and the user and group exist (numeric ids are
// taken as they are). Load
// calls it; Parse does not. The error is nil, an *Error wrapping ErrSystem
// and the cause, or several joined in line order.
func (c *Config) CheckSystem() error {
	var errs []*Error
	fail := func(field string, cause error, format string, args ...any) {
		e := c.FieldError(field, fmt.Errorf("%w: %w", ErrSystem, cause), fmt.Sprintf(format, args...))
		errs = append(errs, e)
	}
	pair := func(field, cert, key string) {
		if cert == "" {
			return
		}
		if _, err := tls.LoadX509KeyPair(cert, key); err != nil {
			fail(field+".tls_cert", err, "cannot load the TLS pair: %v", err)
		}
	}
	for i, s := range c.Servers {
		pair(indexPath("server", i), s.TLSCert, s.TLSKey)
	}
	for i, h := range c.Hosts {
		field := indexPath("host", i)
		if h.Root != "" {
			st, err := os.Stat(h.Root)
			switch {
			case err != nil:
				fail(field+".root", err, "%v", err)
			case !st.IsDir():
				fail(field+".root", os.ErrInvalid, "%s is not a directory", h.Root)
			}
		}
		pair(field, h.TLSCert, h.TLSKey)
	}
	if c.ACME.CARoot != "" {
		if _, err := LoadCARoot(c.ACME.CARoot); err != nil {
			fail("acme.ca_root", err, "%v", err)
		}
	}
	if err := CheckSocketPath(c.Supervisor.ControlSocket); err != nil {
		fail("supervisor.control_socket", err, "%v", err)
	}
	if name := c.Supervisor.User; name != "" && !numeric(name) {
		if _, err := user.Lookup(name); err != nil {
			fail("supervisor.user", err, "%v", err)
		}
	}
	if name := c.Supervisor.Group; name != "" && !numeric(name) {
		if _, err := user.LookupGroup(name); err != nil {
			fail("supervisor.group", err, "%v", err)
		}
	}
	return joinErrors(errs)
}

// numeric reports whether s is a numeric user or group id, which needs no
// entry in the user database.
func numeric(s string) bool {
	_, err := strconv.ParseUint(s, 10, 32)
	return err == nil
}
