package supervisor

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/rs/zerolog"

	"github.com/rockstar-dev/rockstar/supervisor/config"
	"github.com/rockstar-dev/rockstar/worker"
)

// VerbAPI carries one runtime API request (APIRequest) over the control
// socket; the reply's body is an APIResponse.
const VerbAPI = "api"

// APIRequest is one request of the runtime API, as the admin endpoint's
// /v1 routes and the control socket's VerbAPI take it.
type APIRequest struct {
	// Method is GET, PUT or DELETE.
	Method string `json:"method"`
	// Path is /v1/hosts, /v1/hosts/NAME, /v1/tenants, /v1/tenants/ID,
	// /v1/config or /v1/cache/TENANT (cache_api.go).
	Path string `json:"path"`
	// Query is the URL's query, without "?": the parameters of
	// /v1/cache (prefix, host, tag). Default "".
	Query string `json:"query,omitempty"`
	// IfMatch and IfNoneMatch are the preconditions of PUT and DELETE:
	// an ETag (or "*") that the object must have, and "*" for create-only.
	IfMatch     string `json:"if_match,omitempty"`
	IfNoneMatch string `json:"if_none_match,omitempty"`
	// Body is the JSON text of a PUT's object: the keys of its [[host]]
	// or [[tenant]] table.
	Body string `json:"body,omitempty"`
}

// APIResponse is the runtime API's answer.
type APIResponse struct {
	// Status is the HTTP status.
	Status int `json:"status"`
	// ETag is the object's version after the request, for GET and PUT.
	ETag string `json:"etag,omitempty"`
	// Body is the JSON answer: an object, a list, or an APIError.
	Body json.RawMessage `json:"body,omitempty"`
}

// APIError is the body of a failed request.
type APIError struct {
	// Error says what failed.
	Error string `json:"error"`
	// Problems are the config's problems, one per field, when the change
	// does not validate.
	Problems []APIProblem `json:"problems,omitempty"`
}

// APIProblem is one problem of a change that does not validate.
type APIProblem struct {
	// Object is "host NAME" or "tenant ID" for a problem in an object of
	// the API's, and then Field is within it ("respond_status"); else
	// Field is the config file's ("tenant[0].hosts[1]").
	Object string `json:"object,omitempty"`
	Field  string `json:"field,omitempty"`
	// Problem says what is wrong.
	Problem string `json:"problem"`
}

// ETag is the version of an object: a hash of its JSON.
func ETag(obj map[string]any) string {
	b, _ := json.Marshal(obj)
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:12]) + `"`
}

func apiJSON(status int, etag string, v any) APIResponse {
	b, err := json.Marshal(v)
	if err != nil {
		return apiJSON(http.StatusInternalServerError, "", APIError{Error: err.Error()})
	}
	return APIResponse{Status: status, ETag: etag, Body: b}
}

func apiFail(status int, format string, args ...any) APIResponse {
	return apiJSON(status, "", APIError{Error: fmt.Sprintf(format, args...)})
}

// configProblems answers a change that does not validate: 422 with one
// problem per field.
func configProblems(err error) APIResponse {
	ae := APIError{Error: "supervisor: the change does not validate; nothing changed"}
	var flat []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		flat = j.Unwrap()
	} else {
		flat = []error{err}
	}
	for _, e := range flat {
		var ce *config.Error
		if !errors.As(e, &ce) {
			ae.Problems = append(ae.Problems, APIProblem{Problem: e.Error()})
			continue
		}
		p := APIProblem{Object: ce.Object, Field: ce.ObjectField, Problem: ce.Problem}
		if ce.Object == "" {
			p.Field = ce.Field
		}
		ae.Problems = append(ae.Problems, p)
	}
	if len(ae.Problems) > 0 {
		p := ae.Problems[0]
		ae.Error = fmt.Sprintf("supervisor: %s: %s: %s; nothing changed", p.Object, p.Field, p.Problem)
	}
	return apiJSON(http.StatusUnprocessableEntity, "", ae)
}

// APIBackend is what an APIServer reads and changes: the master's config
// in the binary, or a program's own (examples/dynamic), so that both
// answer the runtime API alike.
type APIBackend interface {
	// CurrentConfig is the config in use: what GET answers and what a
	// change starts from.
	CurrentConfig() *config.Config
	// Lock and Unlock hold off every other change of the config in use
	// (reloads, other API calls) while one API change is worked out and
	// applied.
	Lock()
	Unlock()
	// ApplyConfig makes next, which differs from old (the config in use)
	// in hosts and tenants only, the config in use, keeping its State in
	// next.Admin.StateFile; on error nothing has changed. It is called
	// with the lock held. An error that wraps ErrStopped answers 503.
	ApplyConfig(old, next *config.Config) error
}

// APIServer answers runtime API requests (APIRequest) against Backend;
// Log gets a line for every change, with who made it.
type APIServer struct {
	Backend APIBackend
	Log     zerolog.Logger
}

// API answers one runtime API request; who (the control socket's peer, or
// "token" and the remote address) is logged with every change. Changes
// are serialized with reloads and applied by apply.
func (m *Master) API(req APIRequest, who string) APIResponse {
	return (&APIServer{Backend: masterAPI{m}, Log: m.log}).Serve(req, who)
}

// masterAPI is the master as an APIBackend.
type masterAPI struct{ m *Master }

func (b masterAPI) CurrentConfig() *config.Config { return b.m.currentConfig() }
func (b masterAPI) Lock()                         { b.m.opMu.Lock() }
func (b masterAPI) Unlock()                       { b.m.opMu.Unlock() }

func (b masterAPI) ApplyConfig(old, next *config.Config) error {
	if b.m.stopping() || b.m.handedOver {
		return fmt.Errorf("%w (after an upgrade, ask the new master)", ErrStopped)
	}
	return b.m.apply(old, next)
}

// Serve answers one runtime API request; who is logged with every change.
func (s *APIServer) Serve(req APIRequest, who string) APIResponse {
	if path, query, ok := strings.Cut(req.Path, "?"); ok && req.Query == "" {
		req.Path, req.Query = path, query // a path with its query, as a client may send it
	}
	rest, ok := strings.CutPrefix(req.Path, "/v1/")
	if !ok {
		return apiFail(http.StatusNotFound, "supervisor: no such API path %q", req.Path)
	}
	if rest == "config" {
		if req.Method != http.MethodGet {
			return apiFail(http.StatusMethodNotAllowed, "supervisor: %s %s: only GET", req.Method, req.Path)
		}
		return apiJSON(http.StatusOK, "", s.Backend.CurrentConfig().Document())
	}
	coll, name, one := strings.Cut(rest, "/")
	if coll == "cache" {
		return s.serveCache(req, name)
	}
	var kind string
	switch coll {
	case "hosts":
		kind = config.KindHost
		name = worker.CanonicalHostname(name)
	case "tenants":
		kind = config.KindTenant
	default:
		return apiFail(http.StatusNotFound, "supervisor: no such API path %q", req.Path)
	}
	if !one {
		if req.Method != http.MethodGet {
			return apiFail(http.StatusMethodNotAllowed, "supervisor: %s %s: only GET", req.Method, req.Path)
		}
		return apiJSON(http.StatusOK, "", s.Backend.CurrentConfig().Objects(kind))
	}
	if name == "" || strings.Contains(name, "/") {
		return apiFail(http.StatusNotFound, "supervisor: no such API path %q", req.Path)
	}
	switch req.Method {
	case http.MethodGet:
		obj, ok := s.Backend.CurrentConfig().Object(kind, name)
		if !ok {
			return apiFail(http.StatusNotFound, "supervisor: no %s %q", kind, name)
		}
		return apiJSON(http.StatusOK, ETag(obj), obj)
	case http.MethodPut, http.MethodDelete:
		return s.change(kind, name, req, who)
	}
	return apiFail(http.StatusMethodNotAllowed, "supervisor: %s %s: only GET, PUT and DELETE", req.Method, req.Path)
}

// nameKey is the key of an object's table that holds its name.
func nameKey(kind string) string {
	if kind == config.KindTenant {
		return "id"
	}
	return "hostname"
}

// change applies a PUT or DELETE of the object of kind named name.
func (s *APIServer) change(kind, name string, req APIRequest, who string) APIResponse {
	var obj map[string]any
	if req.Method == http.MethodPut {
		var err error
		if obj, err = config.DecodeObject([]byte(req.Body)); err != nil {
			return apiFail(http.StatusBadRequest, "supervisor: body: %v", err)
		}
		key := nameKey(kind)
		switch v, present := obj[key]; {
		case !present:
			obj[key] = name
		case kind == config.KindHost && worker.CanonicalHostname(fmt.Sprint(v)) != name,
			kind == config.KindTenant && v != name:
			return apiJSON(http.StatusUnprocessableEntity, "", APIError{
				Error:    fmt.Sprintf("supervisor: %s %s: %s: %v is not the name in the path", kind, name, key, v),
				Problems: []APIProblem{{Object: kind + " " + name, Field: key, Problem: "is not the name in the path"}},
			})
		}
	}
	s.Backend.Lock()
	defer s.Backend.Unlock()
	old := s.Backend.CurrentConfig()
	if old.Admin.StateFile == "" {
		return apiFail(http.StatusConflict, "supervisor: admin.state_file is off: the runtime API cannot keep changes")
	}
	cur, exists := old.Object(kind, name)
	switch {
	case req.IfNoneMatch == "*" && exists:
		return apiFail(http.StatusPreconditionFailed, "supervisor: %s %q exists (If-None-Match: *)", kind, name)
	case req.IfMatch != "" && !exists:
		return apiFail(http.StatusPreconditionFailed, "supervisor: no %s %q (If-Match)", kind, name)
	case req.IfMatch != "" && req.IfMatch != "*" && req.IfMatch != ETag(cur):
		return apiFail(http.StatusPreconditionFailed, "supervisor: %s %q has changed: its ETag is %s, not %s", kind, name, ETag(cur), req.IfMatch)
	case req.Method == http.MethodDelete && !exists:
		return apiFail(http.StatusNotFound, "supervisor: no %s %q", kind, name)
	}
	st := old.State().Clone()
	objs := st.Objects(kind)
	switch {
	case obj != nil:
		objs[name] = obj
	case old.InFile(kind, name):
		objs[name] = nil // a tombstone hides the file's
	default:
		delete(objs, name)
	}
	next, err := old.WithState(st)
	if err != nil {
		return configProblems(err)
	}
	if err := s.Backend.ApplyConfig(old, next); err != nil {
		if errors.Is(err, ErrStopped) {
			return apiFail(http.StatusServiceUnavailable, "%v", err)
		}
		s.Log.Error().Err(err).Str("who", who).Str(kind, name).Str("method", req.Method).Msg("runtime API change failed; nothing changed")
		return apiFail(http.StatusInternalServerError, "%v; nothing changed", err)
	}
	s.Log.Info().Str("who", who).Str(kind, name).Str("method", req.Method).Msg("runtime API change")
	if obj == nil {
		return APIResponse{Status: http.StatusNoContent}
	}
	status := http.StatusOK
	if !exists {
		status = http.StatusCreated
	}
	eff, _ := next.Object(kind, name)
	return apiJSON(status, ETag(eff), eff)
}

// apply makes next, which differs from old in hosts and tenants only, the
// master's config: it writes next's state to admin.state_file (so that
// nothing acknowledged is lost), then pushes next to every worker. If a
// worker fails, old is pushed back and its state rewritten: the error
// changes nothing. m.opMu is held.
func (m *Master) apply(old, next *config.Config) error {
	path := next.Admin.StateFile
	if err := m.acmeFor(next, false); err != nil {
		return err
	}
	if err := config.WriteState(path, next.State()); err != nil {
		return err
	}
	m.mu.Lock()
	g := m.cur
	m.mu.Unlock()
	if err := m.push(g, next); err != nil {
		if rerr := m.push(g, old); rerr != nil {
			m.log.Error().Err(rerr).Msg("runtime API: cannot push the old config back")
		}
		if werr := config.WriteState(path, old.State()); werr != nil {
			m.log.Error().Err(werr).Msg("runtime API: cannot write the old state back")
		}
		return err
	}
	m.mu.Lock()
	m.cfg = next
	m.mu.Unlock()
	m.upstreams.update(next)
	m.acmeManager().update(next)
	return nil
}
