package worker

import (
	"fmt"
	"strings"

	"github.com/valyala/fasthttp"
)

// maxParams is the most named parameters and catch-alls one route may have.
const maxParams = 16

// methodTree holds one method's routes: fully static paths in a map, the
// rest in a segment trie.
type methodTree struct {
	static map[string]fasthttp.RequestHandler
	root   *node
}

// node is one path segment of the trie. Matching prefers a static child,
// then a named parameter, then a catch-all, and backtracks on a miss.
type node struct {
	children map[string]*node
	param    *node
	paramKey any // the parameter's name, boxed once so lookups do not allocate
	catchKey any
	catchH   fasthttp.RequestHandler
	handler  fasthttp.RequestHandler
	// pattern is the route that ends here, for conflict messages.
	pattern string
}

type paramKV struct {
	key any
	val string
}

type params struct {
	kv [maxParams]paramKV
	n  int
}

func newMethodTree() *methodTree {
	return &methodTree{static: make(map[string]fasthttp.RequestHandler)}
}

// isStatic reports whether a pattern has no parameter or catch-all.
func isStatic(pattern string) bool {
	return !strings.ContainsAny(pattern, ":*")
}

func (t *methodTree) add(pattern string, h fasthttp.RequestHandler) {
	if isStatic(pattern) {
		if _, dup := t.static[pattern]; dup {
			panic(fmt.Sprintf("worker: route %s registered twice", pattern))
		}
		t.static[pattern] = h
		return
	}
	if t.root == nil {
		t.root = &node{}
	}
	n := t.root
	rest := pattern[1:]
	count := 0
	for {
		seg, tail, more := strings.Cut(rest, "/")
		switch {
		case strings.HasPrefix(seg, "*"):
			if more {
				panic(fmt.Sprintf("worker: route %s: a catch-all must be the last segment", pattern))
			}
			if n.catchH != nil {
				panic(fmt.Sprintf("worker: route %s conflicts with %s", pattern, n.pattern))
			}
			n.catchKey, n.catchH, n.pattern = paramName(pattern, seg), h, pattern
			count++
		case strings.HasPrefix(seg, ":"):
			key := paramName(pattern, seg)
			if n.param == nil {
				n.param, n.paramKey = &node{}, key
			} else if n.paramKey != key {
				panic(fmt.Sprintf("worker: route %s: parameter %s conflicts with :%s at the same place", pattern, seg, n.paramKey))
			}
			n = n.param
			count++
		default:
			c := n.children[seg]
			if c == nil {
				if n.children == nil {
					n.children = make(map[string]*node)
				}
				c = &node{}
				n.children[seg] = c
			}
			n = c
		}
		if count > maxParams {
			panic(fmt.Sprintf("worker: route %s has more than %d parameters", pattern, maxParams))
		}
		if seg != "" && seg[0] == '*' {
			return
		}
		if !more {
			break
		}
		rest = tail
	}
	if n.handler != nil {
		panic(fmt.Sprintf("worker: route %s conflicts with %s", pattern, n.pattern))
	}
	n.handler, n.pattern = h, pattern
}

func paramName(pattern, seg string) string {
	name := seg[1:]
	if name == "" {
		panic(fmt.Sprintf("worker: route %s: parameter without a name", pattern))
	}
	return name
}

// lookup finds the handler for path (which starts with "/") and collects the
// parameters into ps.
func (t *methodTree) lookup(path string, ps *params) fasthttp.RequestHandler {
	if h, ok := t.static[path]; ok {
		return h
	}
	if t.root == nil || len(path) == 0 {
		return nil
	}
	return t.root.match(path[1:], ps)
}

// match matches rest, the segments after this node's own segment, which
// always has at least one segment (possibly empty).
func (n *node) match(rest string, ps *params) fasthttp.RequestHandler {
	seg, tail, more := cutSlash(rest)
	if c := n.children[seg]; c != nil {
		if !more {
			if c.handler != nil {
				return c.handler
			}
		} else if h := c.match(tail, ps); h != nil {
			return h
		}
	}
	if n.param != nil && seg != "" && ps.n < maxParams {
		ps.kv[ps.n] = paramKV{n.paramKey, seg}
		ps.n++
		if !more {
			if n.param.handler != nil {
				return n.param.handler
			}
		} else if h := n.param.match(tail, ps); h != nil {
			return h
		}
		ps.n--
	}
	if n.catchH != nil && ps.n < maxParams {
		ps.kv[ps.n] = paramKV{n.catchKey, rest}
		ps.n++
		return n.catchH
	}
	return nil
}

func cutSlash(s string) (before, after string, found bool) {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, "", false
}
