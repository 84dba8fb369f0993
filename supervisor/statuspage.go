package supervisor

import (
	_ "embed"
	"net/http"
)

// statusPage is the admin endpoint's /status/: a page that fetches /status
// every second and shows the workers, and per host and per tenant the
// requests per second, 4xx and 5xx per second, the share of 5xx answers and
// the rate-limit refusals.
//
//go:embed statuspage.html
var statusPage []byte

func serveStatusPage(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(statusPage)
}
