package main

import (
	"fmt"
	"os"
	"sync"

	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/rockstar-dev/rockstar/supervisor"
	"github.com/rockstar-dev/rockstar/supervisor/child"
	"github.com/rockstar-dev/rockstar/supervisor/config"
	"github.com/rockstar-dev/rockstar/worker"
)

// hostsAPI is the binary's runtime API (/v1/hosts, /v1/tenants,
// /v1/config) answered by this program for its own ServerManager: the
// same supervisor.APIServer, bodies, ETags and state file as the binary,
// so one client (curl, `rockstar host`'s JSON) talks to either.
type hostsAPI struct {
	sm worker.ServerManager
	// opMu serializes changes (Lock, Unlock); mu guards cfg.
	opMu, mu sync.Mutex
	cfg      *config.Config
	hosts    child.Hosts
}

// newHostsAPI starts from the hosts kept in statePath (none if it is
// missing) and registers them with sm.
func newHostsAPI(sm worker.ServerManager, statePath string) (*hostsAPI, error) {
	base := fmt.Sprintf("[admin]\nlisten = \"\"\nstate_file = %q\n\n[[server]]\nlisten = \"127.0.0.1:0\"\n", statePath)
	cfg, err := config.Parse("dynamic.toml", []byte(base))
	if err != nil {
		return nil, err
	}
	st, err := config.ReadState(statePath)
	if err != nil {
		return nil, err
	}
	if cfg, err = cfg.WithState(st); err != nil {
		return nil, err
	}
	a := &hostsAPI{sm: sm, cfg: cfg}
	if err := a.register(cfg); err != nil {
		return nil, err
	}
	return a, nil
}

func (a *hostsAPI) register(cfg *config.Config) error {
	hosts, tenants, err := a.hosts.Configs(cfg)
	if err != nil {
		return err
	}
	return a.sm.ReplaceHosts(hosts, tenants)
}

func (a *hostsAPI) CurrentConfig() *config.Config {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cfg
}

func (a *hostsAPI) Lock()   { a.opMu.Lock() }
func (a *hostsAPI) Unlock() { a.opMu.Unlock() }

// ApplyConfig keeps next's state, then registers its hosts; on failure
// the old state is written back.
func (a *hostsAPI) ApplyConfig(old, next *config.Config) error {
	if err := config.WriteState(next.Admin.StateFile, next.State()); err != nil {
		return err
	}
	if err := a.register(next); err != nil {
		_ = config.WriteState(old.Admin.StateFile, old.State())
		return err
	}
	a.mu.Lock()
	a.cfg = next
	a.mu.Unlock()
	return nil
}

// handler is the API as a fasthttp handler, guarded by token as the
// binary's admin endpoint is.
func (a *hostsAPI) handler(token string) fasthttp.RequestHandler {
	s := &supervisor.APIServer{Backend: a, Log: zerolog.New(os.Stderr)}
	return fasthttpadaptor.NewFastHTTPHandler(s.Handler(token))
}
