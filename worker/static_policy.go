package worker

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/valyala/fasthttp"
)

// A host's policy for its files: Cache-Control by path pattern
// (HostConfig.CacheControl) and a fallback file for paths that name
// nothing (HostConfig.Fallback, as nginx's try_files $uri /index.html
// for single-page apps).

// cacheRule is one CacheControl entry: a path, or a prefix when the
// pattern ends in "*".
type cacheRule struct {
	pattern string // without its trailing "*"
	prefix  bool
	value   string
}

// cacheRules orders a host's CacheControl patterns for matching: exact
// paths first, then prefixes longest first; "*" alone matches every path.
func cacheRules(m map[string]string) []cacheRule {
	rules := make([]cacheRule, 0, len(m))
	for p, v := range m {
		r := cacheRule{pattern: strings.TrimSuffix(p, "*"), prefix: strings.HasSuffix(p, "*"), value: v}
		rules = append(rules, r)
	}
	slices.SortFunc(rules, func(a, b cacheRule) int {
		if a.prefix != b.prefix {
			if a.prefix {
				return 1
			}
			return -1
		}
		return cmp.Or(cmp.Compare(len(b.pattern), len(a.pattern)), cmp.Compare(a.pattern, b.pattern))
	})
	return rules
}

// validateFilePolicy checks a host's CacheControl patterns and Fallback.
func validateFilePolicy(name string, c *HostConfig) error {
	for p, v := range c.CacheControl {
		if p == "" || (p[0] != '/' && p != "*") || strings.Contains(strings.TrimSuffix(p, "*"), "*") {
			return fmt.Errorf("%w for host %s: cache control pattern %q: a path, or a path ending in *, or *", ErrInvalidFilePolicy, name, p)
		}
		if v == "" || strings.ContainsAny(v, "\r\n") {
			return fmt.Errorf("%w for host %s: cache control %q for %q", ErrInvalidFilePolicy, name, v, p)
		}
	}
	if f := c.Fallback; f != "" && (f[0] != '/' || strings.ContainsAny(f, "\x00\\")) {
		return fmt.Errorf("%w for host %s: fallback %q must be a path from the root", ErrInvalidFilePolicy, name, f)
	}
	return nil
}

// cacheControl sets the Cache-Control of the first rule that matches the
// request's path, unless the answer has one.
func cacheControl(ctx *fasthttp.RequestCtx, rules []cacheRule) {
	if len(ctx.Response.Header.Peek(fasthttp.HeaderCacheControl)) > 0 {
		return
	}
	p := b2s(ctx.Path())
	for _, r := range rules {
		if r.prefix && strings.HasPrefix(p, r.pattern) || !r.prefix && p == r.pattern {
			ctx.Response.Header.Set(fasthttp.HeaderCacheControl, r.value)
			return
		}
	}
}

// serveFallback answers a GET or HEAD whose path names nothing with the
// host's fallback file, as if asked for it (its Cache-Control is the
// fallback path's); false if that names nothing either. The access log
// keeps the path asked for.
func (h *hostState) serveFallback(ctx *fasthttp.RequestCtx) bool {
	if h.fallback == "" || !(ctx.IsGet() || ctx.IsHead()) {
		return false
	}
	asked := string(ctx.Path())
	ctx.URI().SetPath(h.fallback)
	answer := serveFile(ctx, h.files, h.fileOpts)
	if answer == fileServed && h.cache != nil {
		cacheControl(ctx, h.cache)
	}
	ctx.URI().SetPath(asked)
	return answer == fileServed
}
