package supervisor

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/rockstar-dev/rockstar/supervisor/config"
)

// maxAPIBody bounds the body of a runtime API request on the admin endpoint.
const maxAPIBody = 1 << 20

// readAdminToken reads admin.token_file: "" when none is configured. A
// configured file that cannot be read or is empty stops the master.
func readAdminToken(a config.Admin) (string, error) {
	if a.TokenFile == "" {
		return "", nil
	}
	b, err := os.ReadFile(a.TokenFile)
	if err != nil {
		return "", fmt.Errorf("supervisor: admin.token_file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("supervisor: admin.token_file %s is empty", a.TokenFile)
	}
	return tok, nil
}

// serveAPI answers /v1 on the admin endpoint (APIServer.Handler).
func (m *Master) serveAPI(token string) http.Handler {
	return (&APIServer{Backend: masterAPI{m}, Log: m.log}).Handler(token)
}

// Handler answers the runtime API over HTTP, as the binary's admin
// endpoint does under /v1: only with token as the bearer token (compared
// in constant time); with token "" every request gets 403, so the API is
// never reachable over HTTP without a token. ETags travel in ETag,
// If-Match and If-None-Match headers; bodies are JSON.
func (s *APIServer) Handler(token string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var resp APIResponse
		got, hasBearer := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		switch {
		case token == "":
			resp = apiFail(http.StatusForbidden, "supervisor: the runtime API needs admin.token_file on the admin endpoint; use the control socket")
		case !hasBearer || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(token)) != 1:
			w.Header().Set("WWW-Authenticate", `Bearer realm="rockstar"`)
			resp = apiFail(http.StatusUnauthorized, "supervisor: a valid bearer token is required")
			s.Log.Warn().Str("remote", r.RemoteAddr).Str("path", r.URL.Path).Msg("admin endpoint: runtime API request without a valid token")
		default:
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAPIBody))
			if err != nil {
				resp = apiFail(http.StatusRequestEntityTooLarge, "supervisor: body: %v", err)
				break
			}
			resp = s.Serve(APIRequest{
				Method:      r.Method,
				Path:        r.URL.Path,
				Query:       r.URL.RawQuery,
				IfMatch:     r.Header.Get("If-Match"),
				IfNoneMatch: r.Header.Get("If-None-Match"),
				Body:        string(body),
			}, "token "+r.RemoteAddr)
		}
		writeAPIResponse(w, resp)
	})
}

func writeAPIResponse(w http.ResponseWriter, resp APIResponse) {
	if resp.ETag != "" {
		w.Header().Set("ETag", resp.ETag)
	}
	if len(resp.Body) > 0 {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(resp.Status)
	if len(resp.Body) > 0 {
		var buf bytes.Buffer
		if json.Indent(&buf, resp.Body, "", "  ") != nil {
			buf.Reset()
			buf.Write(resp.Body)
		}
		buf.WriteByte('\n')
		_, _ = w.Write(buf.Bytes())
	}
}
