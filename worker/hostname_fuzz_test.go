package worker

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// labelRE is one DNS label as the registration rules define it, written
// independently of validateHostname.
var labelRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)

// refValidHostname is the reference for ValidateHostname: an optional
// trailing dot, at most 253 characters counting a leading "*.", then an
// optional "*." and one or more labels.
func refValidHostname(name string) bool {
	name = strings.TrimSuffix(name, ".")
	if len(name) > 253 {
		return false
	}
	name = strings.TrimPrefix(name, "*.")
	if name == "" {
		return false
	}
	for _, label := range strings.Split(name, ".") {
		if !labelRE.MatchString(label) {
			return false
		}
	}
	return true
}

var hostnameSeeds = []string{
	"", ".", "*", "*.", "*..", "**.example.com", "*.example.com", "*.*.example.com",
	"example.com", "example.com.", "example.com..", "EXAMPLE.com", "a", "localhost",
	"app1.tenant1.com", "-a.com", "a-.com", "a--b.com", "1.2.3.4", "a..b", ".a",
	"a_b.com", "xn--bcher-kva.example", "ex ample.com", "exa\x00mple.com", "b\u00fccher.de",
	"a.com:8080", "[::1]", "[::1]:80",
	strings.Repeat("a", 63) + ".com", strings.Repeat("a", 64) + ".com",
	strings.Repeat("a.", 126) + "a", strings.Repeat("a.", 126) + "ab", strings.Repeat("a.", 126) + "a.",
	"*." + strings.Repeat("a.", 125) + "a", "*." + strings.Repeat("a.", 125) + "ab",
}

// FuzzValidateHostname checks ValidateHostname against refValidHostname,
// and, for valid names, that CanonicalHostname is idempotent and that a
// registered name is found from any Host header that spells it.
func FuzzValidateHostname(f *testing.F) {
	for _, s := range hostnameSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := ValidateHostname(name)
		if want := refValidHostname(name); (err == nil) != want {
			t.Fatalf("ValidateHostname(%q) = %v, reference says valid=%v", name, err, want)
		}
		if err != nil && !errors.Is(err, ErrInvalidHostname) {
			t.Fatalf("ValidateHostname(%q) = %v, does not wrap ErrInvalidHostname", name, err)
		}
		canon := CanonicalHostname(name) // must not panic, valid or not
		if err != nil {
			return
		}
		if again := CanonicalHostname(canon); again != canon {
			t.Fatalf("CanonicalHostname not idempotent: %q -> %q -> %q", name, canon, again)
		}
		if canon != strings.ToLower(strings.TrimSuffix(name, ".")) {
			t.Fatalf("CanonicalHostname(%q) = %q", name, canon)
		}
		if err := ValidateHostname(canon); err != nil {
			t.Fatalf("canonical form %q of valid %q is invalid: %v", canon, name, err)
		}

		// A host map holding the name finds it from every spelling of a
		// Host header: any case, a port, a trailing dot.
		m := newHostMap[string]()
		m.set(canon, "it")
		m.set("other.example", "other")
		asked := canon
		if suffix, ok := strings.CutPrefix(canon, "*."); ok {
			asked = "x." + suffix
		}
		for _, h := range []string{asked, strings.ToUpper(asked), asked + ".", asked + ":8080", strings.ToUpper(asked) + ".:443"} {
			if v, ok := m.lookup([]byte(h)); !ok || v != "it" {
				t.Fatalf("registered %q, lookup(%q) = %q, %v", canon, h, v, ok)
			}
		}
	})
}

// FuzzHostLookup checks the host map's lookup of any Host header value,
// which avoids copying the usual lower-case name, against the plain
// definition: normalize, then exact match, then a one-label wildcard.
func FuzzHostLookup(f *testing.F) {
	for _, s := range hostnameSeeds {
		f.Add(s)
	}
	f.Add("App1.Tenant1.COM.:8080")
	f.Add("x.WILD.example.")
	f.Add("a.b.wild.example")
	names := []string{"app1.tenant1.com", "*.wild.example", "wild.example", "a", "1.2.3.4", "[::1]"}
	m := newHostMap[string]()
	for _, n := range names {
		m.set(n, n)
	}
	f.Fuzz(func(t *testing.T, host string) {
		got, ok := m.lookup([]byte(host))
		var want string
		var wantOK bool
		if len(host) > 0 && len(host) <= maxHostname+8 {
			norm := string(normalizeHost(nil, host, true))
			want, wantOK = m.exact[norm]
			if !wantOK {
				if p := parentDomain([]byte(norm)); len(p) > 0 {
					want, wantOK = m.wild[string(p)]
				}
			}
		}
		if got != want || ok != wantOK {
			t.Fatalf("lookup(%q) = %q, %v; want %q, %v", host, got, ok, want, wantOK)
		}
		if hasUpper([]byte(host)) != strings.ContainsAny(host, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") {
			t.Fatalf("hasUpper(%q) = %v", host, !strings.ContainsAny(host, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
		}
	})
}

// FuzzRouterPath feeds any path to the route trees and to Router.Handler:
// nothing panics, a parameter's value is one non-empty segment of the path,
// and a static route is always found under its own path.
func FuzzRouterPath(f *testing.F) {
	for _, s := range []string{
		"/", "//", "/users/42", "/users/42/posts", "/users//posts", "/users/", "/posts/a%2Fb",
		"/api/v1/items/7", "/api/v1/items/", "/files/", "/files/a/b/c", "/static/app.css/",
		"/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s", "/../etc/passwd", "/%00", "/\x00", "/a?b#c",
		"/:id", "/*path", "/users/:id",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		body := func(s string) fasthttp.RequestHandler {
			return func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString(s) }
		}
		r := NewRouter()
		for _, p := range benchRoutes {
			r.GET(p, body(p))
		}
		// The path as a static route of its own, under a method the others
		// do not use, so it cannot clash with them.
		static := strings.HasPrefix(path, "/") && isStatic(path)
		if static {
			r.PUT(path, body("fuzzed"))
		}
		tbl := r.table.Load()
		if static {
			var ps params
			h := tbl.tree([]byte(fasthttp.MethodPut)).lookup(path, &ps)
			if h == nil || ps.n != 0 {
				t.Fatalf("static route %q not found (params %d)", path, ps.n)
			}
		}

		var ps params
		if strings.HasPrefix(path, "/") {
			if h := tbl.tree([]byte(fasthttp.MethodGet)).lookup(path, &ps); h != nil {
				for _, kv := range ps.kv[:ps.n] {
					switch kv.key {
					case "path": // the catch-all: the rest of the path
						if !strings.HasSuffix(path, "/"+kv.val) && kv.val != "" {
							t.Fatalf("%q: catch-all value %q is not the path's end", path, kv.val)
						}
					default:
						if kv.val == "" || strings.Contains(kv.val, "/") || !strings.Contains(path, "/"+kv.val) {
							t.Fatalf("%q: parameter %v = %q is not one segment", path, kv.key, kv.val)
						}
					}
				}
			}
		}

		// The whole dispatch, on whatever path fasthttp makes of it.
		for _, method := range []string{fasthttp.MethodGet, fasthttp.MethodPut, fasthttp.MethodDelete} {
			ctx := new(fasthttp.RequestCtx)
			ctx.Request.Header.SetMethod(method)
			ctx.Request.Header.SetHost("example.com")
			ctx.Request.URI().SetPath(path)
			r.Handler()(ctx)
			switch code := ctx.Response.StatusCode(); code {
			case fasthttp.StatusOK, fasthttp.StatusNotFound, fasthttp.StatusMethodNotAllowed:
			default:
				t.Fatalf("%s %q = %d", method, path, code)
			}
		}
	})
}
