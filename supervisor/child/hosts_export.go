package child

import (
	"github.com/rockstar-dev/rockstar/supervisor/config"
	"github.com/rockstar-dev/rockstar/worker"
)

// Hosts turns a config's hosts and tenants into the worker package's
// HostConfigs and TenantConfigs exactly as a worker does on every push,
// for a program that serves the config's hosts itself (examples/dynamic).
// It keeps the static roots it opened and the proxies it made between
// calls, closing those the next config no longer uses. The zero value is
// ready; it is not safe for concurrent use.
type Hosts struct{ r roots }

// Configs is cfg's hosts and tenants for worker.ServerManager.ReplaceHosts.
func (h *Hosts) Configs(cfg *config.Config) ([]worker.HostConfig, []worker.TenantConfig, error) {
	return h.r.hostConfigs(cfg)
}
