package worker

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/valyala/fasthttp"
)

// The methods with a slot of their own in a route table; others go in a map.
var stdMethods = [...]string{
	fasthttp.MethodGet, fasthttp.MethodHead, fasthttp.MethodPost, fasthttp.MethodPut,
	fasthttp.MethodPatch, fasthttp.MethodDelete, fasthttp.MethodOptions,
}

const methodGet, methodHead = 0, 1

func methodIndex(m []byte) int {
	switch string(m) {
	case fasthttp.MethodGet:
		return 0
	case fasthttp.MethodHead:
		return 1
	case fasthttp.MethodPost:
		return 2
	case fasthttp.MethodPut:
		return 3
	case fasthttp.MethodPatch:
		return 4
	case fasthttp.MethodDelete:
		return 5
	case fasthttp.MethodOptions:
		return 6
	}
	return -1
}

// Router maps method and path to a handler, and, on the root router, host
// names to sub-routers. Paths may hold named parameters ("/users/:id") and
// a final catch-all ("/static/*path"), read with ctx.UserValue("id"); the
// catch-all's value has no leading slash. Static segments win over
// parameters, parameters over catch-alls.
//
// Routes may be added while serving: each change publishes a new immutable
// table, and the request path only loads a pointer.
type Router struct {
	root *Router
	host string // canonical host name; "" on the root router
	mu   *sync.Mutex

	defs  []routeDef // guarded by mu
	table atomic.Pointer[routeTable]

	// Root router only.
	subs     map[string]*Router // guarded by mu
	hosts    atomic.Pointer[hostMap[*Router]]
	watchers map[*serverManager]struct{} // guarded by mu
}

type routeDef struct {
	method, pattern string
	h               fasthttp.RequestHandler
}

type routeTable struct {
	std   [len(stdMethods)]*methodTree
	other map[string]*methodTree
}

// NewRouter returns an empty root router.
func NewRouter() *Router {
	r := &Router{mu: new(sync.Mutex), subs: make(map[string]*Router)}
	r.root = r
	r.table.Store(&routeTable{})
	m := newHostMap[*Router]()
	r.hosts.Store(&m)
	return r
}

// Host returns the sub-router for hostname, creating it on first use.
// Names compare case-insensitively, without a port or a trailing dot;
// "*.example.com" matches any one label under example.com. Calling Host on
// a sub-router is the same as calling it on the root.
func (r *Router) Host(hostname string) *Router {
	root := r.root
	name := CanonicalHostname(stripPort(hostname))
	root.mu.Lock()
	sub, ok := root.subs[name]
	if !ok {
		sub = &Router{root: root, host: name, mu: root.mu}
		sub.table.Store(&routeTable{})
		root.subs[name] = sub
		m := root.hosts.Load().with(name, sub)
		root.hosts.Store(&m)
	}
	watchers := root.watcherList()
	root.mu.Unlock()
	if !ok {
		for _, w := range watchers {
			w.rebuild()
		}
	}
	return sub
}

func stripPort(h string) string {
	if strings.HasSuffix(h, "]") || strings.Count(h, ":") != 1 {
		return h
	}
	h, _, _ = strings.Cut(h, ":")
	return h
}

// Hostname returns the router's host name, or "" for the root router.
func (r *Router) Hostname() string { return r.host }

// Hosts returns the names of the root router's sub-routers.
func (r *Router) Hosts() []string {
	r.root.mu.Lock()
	defer r.root.mu.Unlock()
	names := make([]string, 0, len(r.root.subs))
	for n := range r.root.subs {
		names = append(names, n)
	}
	return names
}

func (r *Router) watch(m *serverManager) {
	r.root.mu.Lock()
	if r.root.watchers == nil {
		r.root.watchers = make(map[*serverManager]struct{})
	}
	r.root.watchers[m] = struct{}{}
	r.root.mu.Unlock()
}

func (r *Router) watcherList() []*serverManager {
	out := make([]*serverManager, 0, len(r.watchers))
	for w := range r.watchers {
		out = append(out, w)
	}
	return out
}

// GET registers h for GET (and HEAD, unless HEAD has its own route).
func (r *Router) GET(path string, h fasthttp.RequestHandler) { r.Handle(fasthttp.MethodGet, path, h) }

// HEAD registers h for HEAD.
func (r *Router) HEAD(path string, h fasthttp.RequestHandler) { r.Handle(fasthttp.MethodHead, path, h) }

// POST registers h for POST.
func (r *Router) POST(path string, h fasthttp.RequestHandler) { r.Handle(fasthttp.MethodPost, path, h) }

// PUT registers h for PUT.
func (r *Router) PUT(path string, h fasthttp.RequestHandler) { r.Handle(fasthttp.MethodPut, path, h) }

// PATCH registers h for PATCH.
func (r *Router) PATCH(path string, h fasthttp.RequestHandler) {
	r.Handle(fasthttp.MethodPatch, path, h)
}

// DELETE registers h for DELETE.
func (r *Router) DELETE(path string, h fasthttp.RequestHandler) {
	r.Handle(fasthttp.MethodDelete, path, h)
}

// OPTIONS registers h for OPTIONS.
func (r *Router) OPTIONS(path string, h fasthttp.RequestHandler) {
	r.Handle(fasthttp.MethodOptions, path, h)
}

// Handle registers h for any method. It panics on a path that does not start
// with "/", on a route registered twice and on conflicting parameter names,
// as these are programming errors.
func (r *Router) Handle(method, path string, h fasthttp.RequestHandler) {
	if !strings.HasPrefix(path, "/") {
		panic("worker: route path must start with '/': " + path)
	}
	if h == nil {
		panic("worker: nil handler for " + method + " " + path)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	defs := append(r.defs[:len(r.defs):len(r.defs)], routeDef{method, path, h})
	t := buildTable(defs) // panics before anything changes
	r.defs = defs
	r.table.Store(t)
}

func buildTable(defs []routeDef) *routeTable {
	t := &routeTable{}
	for _, d := range defs {
		t.treeFor(d.method).add(d.pattern, d.h)
	}
	return t
}

// treeFor returns the method's tree, creating it; only while building.
func (t *routeTable) treeFor(method string) *methodTree {
	if i := methodIndex([]byte(method)); i >= 0 {
		if t.std[i] == nil {
			t.std[i] = newMethodTree()
		}
		return t.std[i]
	}
	if t.other == nil {
		t.other = make(map[string]*methodTree)
	}
	if t.other[method] == nil {
		t.other[method] = newMethodTree()
	}
	return t.other[method]
}

func (t *routeTable) tree(method []byte) *methodTree {
	if i := methodIndex(method); i >= 0 {
		return t.std[i]
	}
	return t.other[string(method)]
}

// b2s views b as a string without copying; the string must not outlive b.
func b2s(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// serve runs the handler of the route that matches ctx, and reports whether
// there was one. HEAD falls back to the GET route.
func (r *Router) serve(ctx *fasthttp.RequestCtx) bool {
	t := r.table.Load()
	method := ctx.Method()
	path := b2s(ctx.Path())
	mt := t.tree(method)
	if mt != nil {
		if h, ok := mt.static[path]; ok {
			h(ctx)
			return true
		}
		if mt.root != nil && serveParams(ctx, mt, path) {
			return true
		}
	}
	if mt == nil || mt.root == nil {
		if i := methodIndex(method); i == methodHead && t.std[methodGet] != nil {
			mt = t.std[methodGet]
			if h, ok := mt.static[path]; ok {
				h(ctx)
				return true
			}
			return mt.root != nil && serveParams(ctx, mt, path)
		}
	}
	return false
}

func serveParams(ctx *fasthttp.RequestCtx, mt *methodTree, path string) bool {
	var ps params
	h := mt.root.match(path[1:], &ps)
	if h == nil {
		return false
	}
	for i := 0; i < ps.n; i++ {
		ctx.SetUserValue(ps.kv[i].key, boxedString(ps.kv[i].val))
	}
	h(ctx)
	return true
}

// allowed returns the methods that have a route for path, as an Allow
// header value, or "" if none has.
func (r *Router) allowed(path string) string {
	t := r.table.Load()
	var b strings.Builder
	add := func(m string) {
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString(m)
	}
	var ps params
	for i, mt := range t.std {
		if mt != nil && mt.lookup(path, &ps) != nil {
			add(stdMethods[i])
			if i == methodGet && t.std[methodHead] == nil {
				add(fasthttp.MethodHead)
			}
		}
		ps.n = 0
	}
	for m, mt := range t.other {
		if mt.lookup(path, &ps) != nil {
			add(m)
		}
		ps.n = 0
	}
	return b.String()
}

// lookupHost returns the sub-router for a raw Host header, or nil.
func (r *Router) lookupHost(host []byte) *Router {
	sub, _ := r.root.hosts.Load().lookup(host)
	return sub
}

// Handler returns the router's whole dispatch as one handler: on the root
// router, the Host header picks a sub-router (exact, then wildcard, then the
// root's own routes), then the path picks the route; no match gets 404, a
// known path with the wrong method gets 405 with Allow.
func (r *Router) Handler() fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		target := r
		if r.root == r {
			if sub := r.lookupHost(ctx.Host()); sub != nil {
				target = sub
			}
		}
		if target.serve(ctx) {
			return
		}
		target.notFound(ctx)
	}
}

// notFound answers 405 with Allow when another method has the path, else 404.
func (r *Router) notFound(ctx *fasthttp.RequestCtx) {
	if allow := r.allowed(b2s(ctx.Path())); allow != "" {
		methodNotAllowed(ctx, allow)
		return
	}
	ctx.Error(fasthttp.StatusMessage(fasthttp.StatusNotFound), fasthttp.StatusNotFound)
}

// methodNotAllowed answers 405 with allow as its Allow header.
func methodNotAllowed(ctx *fasthttp.RequestCtx, allow string) {
	ctx.Error(fasthttp.StatusMessage(fasthttp.StatusMethodNotAllowed), fasthttp.StatusMethodNotAllowed)
	ctx.Response.Header.Set(fasthttp.HeaderAllow, allow) // after Error, which resets headers
}

// addAllow appends to allow, an Allow header value, the methods of more
// (another, maybe "") that it lacks.
func addAllow(allow, more string) string {
	have := strings.Split(allow, ", ")
	for m := range strings.SplitSeq(more, ", ") {
		if m != "" && !slices.Contains(have, m) {
			have = append(have, m)
		}
	}
	return strings.Join(have, ", ")
}

// subRouter returns the root's sub-router for a canonical name, or nil.
func (r *Router) subRouter(name string) *Router {
	sub, _ := r.hosts.Load().get(name)
	return sub
}
