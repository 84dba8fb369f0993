package config

import (
	"net"
	"strconv"
	"strings"

	"github.com/rockstar-dev/rockstar/worker"
)

// validate checks what spans sections: unique listen addresses and host
// names, and the references between hosts and tenants. It then makes the
// host–tenant relation agree on both sides.
func (d *decoder) validate(c *Config) {
	d.validateServers(c)
	hostIdx := d.validateHosts(c)
	d.validateTenants(c, hostIdx)
	d.validateACME(c)
	d.validateClusterLimits(c)
}

func (d *decoder) validateServers(c *Config) {
	if len(c.Servers) == 0 && !d.serversBad {
		d.errorf("server", ErrMissing, "at least one [[server]] with a listen address is required")
	}
	seen := map[string]int{}
	for i, s := range c.Servers {
		k, ok := listenKey(s.Listen)
		if !ok {
			continue
		}
		if j, dup := seen[k]; dup {
			d.errorf(d.serverPaths[i]+".listen", ErrDuplicate, "%q is also the listen address of %s (line %d)",
				s.Listen, d.serverPaths[j], d.pos.line(d.serverPaths[j]))
			continue
		}
		seen[k] = i
	}
	if k, ok := listenKey(c.Admin.Listen); ok {
		if j, dup := seen[k]; dup {
			d.errorf("admin.listen", ErrConflict, "%q is also the listen address of %s (line %d)",
				c.Admin.Listen, d.serverPaths[j], d.pos.line(d.serverPaths[j]))
		}
	}
}

// validateHosts checks that host names are unique and returns the index of
// each by canonical name.
func (d *decoder) validateHosts(c *Config) map[string]int {
	names := make([]string, len(c.Hosts))
	for i, h := range c.Hosts {
		names[i] = h.Hostname
	}
	return d.uniqueNames(names, d.hostPaths, "hostname")
}

// uniqueNames reports every name (of the section at paths[i], in its key
// key) that an earlier one already has, and returns the index of each by
// name; empty names were reported already and are skipped.
func (d *decoder) uniqueNames(names, paths []string, key string) map[string]int {
	idx := make(map[string]int, len(names))
	for i, name := range names {
		if name == "" {
			continue
		}
		if j, dup := idx[name]; dup {
			d.errorf(paths[i]+"."+key, ErrDuplicate, "%q is also the %s of %s (line %d)",
				name, key, paths[j], d.pos.line(paths[j]))
			continue
		}
		idx[name] = i
	}
	return idx
}

func (d *decoder) validateTenants(c *Config, hostIdx map[string]int) {
	ids := make([]string, len(c.Tenants))
	for i, t := range c.Tenants {
		ids[i] = t.ID
	}
	tenantIdx := d.uniqueNames(ids, d.tenantPaths, "id")

	// owner[host index] = index of the tenant that lists it.
	owner := make(map[int]int, len(c.Hosts))
	// written[i] is set when tenant i lists hosts in the file, valid or not:
	// then an empty list after the checks is already explained.
	written := make([]bool, len(c.Tenants))
	for i := range c.Tenants {
		t := &c.Tenants[i]
		written[i] = len(t.Hosts) > 0
		listed, inList := t.Hosts[:0], map[string]bool{}
		for j, name := range t.Hosts {
			if name == "" {
				continue // invalid, already reported
			}
			field := indexPath(d.tenantPaths[i]+".hosts", j)
			h, ok := hostIdx[name]
			switch {
			case !ok:
				d.errorf(field, ErrReference, "no [[host]] has hostname %q", name)
				continue
			case inList[name]:
				d.errorf(field, ErrDuplicate, "%q is listed twice", name)
				continue
			}
			if o, taken := owner[h]; taken && o != i {
				d.errorf(field, ErrDuplicate, "%q is already a host of tenant %q (%s, line %d)",
					name, c.Tenants[o].ID, d.tenantPaths[o], d.pos.line(d.tenantPaths[o]))
				continue
			}
			owner[h] = i
			inList[name] = true
			listed = append(listed, name)
		}
		t.Hosts = listed
	}

	for i := range c.Hosts {
		h := &c.Hosts[i]
		o, listed := owner[i]
		switch {
		case h.Tenant == "" && listed:
			h.Tenant = c.Tenants[o].ID
		case h.Tenant == "":
		case listed && c.Tenants[o].ID != h.Tenant:
			d.errorf(d.hostPaths[i]+".tenant", ErrReference, "is %q, but tenant %q (%s, line %d) lists this host",
				h.Tenant, c.Tenants[o].ID, d.tenantPaths[o], d.pos.line(d.tenantPaths[o]))
		case listed:
		default:
			t, ok := tenantIdx[h.Tenant]
			if !ok {
				d.errorf(d.hostPaths[i]+".tenant", ErrReference, "no [[tenant]] has id %q", h.Tenant)
				continue
			}
			c.Tenants[t].Hosts = append(c.Tenants[t].Hosts, h.Hostname)
		}
	}

	for i, t := range c.Tenants {
		if len(t.Hosts) == 0 && t.ID != "" && !written[i] {
			d.errorf(d.tenantPaths[i]+".hosts", ErrMissing, "tenant %q has no hosts: list them in hosts, or name the tenant in a host's tenant field", t.ID)
		}
	}
}

// listenProblem says what is wrong with a listen address, or "".
func listenProblem(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "must be a host:port or :port address: " + err.Error()
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "port must be a number from 0 to 65535"
	}
	if host != "" && net.ParseIP(host) == nil && (strings.HasPrefix(host, "*") || worker.ValidateHostname(host) != nil) {
		return "host must be empty, an IP address or a host name"
	}
	return ""
}

// listenKey is the form in which two listen addresses that bind the same
// socket compare equal; ok is false for addresses that cannot clash (port
// 0 picks a fresh port) or do not parse.
func listenKey(addr string) (string, bool) {
	if addr == "" || listenProblem(addr) != "" {
		return "", false
	}
	host, port, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(port)
	if n == 0 {
		return "", false
	}
	if ip := net.ParseIP(host); ip != nil {
		host = ip.String()
	}
	return net.JoinHostPort(strings.ToLower(host), strconv.Itoa(n)), true
}
