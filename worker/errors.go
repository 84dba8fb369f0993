package worker

import "errors"

// Errors returned by the registries and the manager. Each is wrapped with
// the offending name; check them with errors.Is.
var (
	// ErrInvalidHostname: a host name that is not a valid DNS name (labels of
	// 1 to 63 letters, digits or hyphens, not starting or ending with a
	// hyphen, at most 253 characters, an optional leading "*.").
	ErrInvalidHostname = errors.New("worker: invalid hostname")
	// ErrHostExists: the host is already registered (names compare case-insensitively).
	ErrHostExists = errors.New("worker: host already registered")
	// ErrHostNotFound: the host is not registered.
	ErrHostNotFound = errors.New("worker: host not found")
	// ErrHostInTenant: the host already belongs to another tenant.
	ErrHostInTenant = errors.New("worker: host already belongs to a tenant")
	// ErrInvalidTenantID: the tenant ID is empty.
	ErrInvalidTenantID = errors.New("worker: invalid tenant id")
	// ErrTenantExists: a tenant with that ID is already registered.
	ErrTenantExists = errors.New("worker: tenant already registered")
	// ErrTenantNotFound: no tenant with that ID is registered.
	ErrTenantNotFound = errors.New("worker: tenant not found")
	// ErrNoHosts: a tenant was registered without hosts.
	ErrNoHosts = errors.New("worker: tenant has no hosts")
	// ErrInvalidRateLimit: a rate limit with a negative or zero rate while enabled.
	ErrInvalidRateLimit = errors.New("worker: invalid rate limit")
	// ErrInvalidFilePolicy: a host's CacheControl pattern or Fallback is
	// not one the host can serve.
	ErrInvalidFilePolicy = errors.New("worker: invalid file policy")

	// ErrServerExists: another server is already registered under that address.
	ErrServerExists = errors.New("worker: server address already in use")
	// ErrForeignServer: AddServer was given a server that this manager's
	// NewServer did not make (nil, another manager's, another type).
	ErrForeignServer = errors.New("worker: server not made by this manager")
	// ErrServerNotFound: no server is registered under that address.
	ErrServerNotFound = errors.New("worker: server not found")
	// ErrNoAddress: the server has no address to listen on.
	ErrNoAddress = errors.New("worker: server has no address")
	// ErrServerRunning: the server is already listening.
	ErrServerRunning = errors.New("worker: server already running")
	// ErrServerNotRunning: the server is stopped or was never started.
	ErrServerNotRunning = errors.New("worker: server not running")
	// ErrHostOwned: another server on the same address already serves the host.
	ErrHostOwned = errors.New("worker: host already served by another server on this address")
	// ErrUnhealthy: a health check failed; the error names each failing server.
	ErrUnhealthy = errors.New("worker: unhealthy")
	// ErrShutdownTimeout: a graceful shutdown passed its deadline and closed
	// the connections that were left. It is joined with context.DeadlineExceeded.
	ErrShutdownTimeout = errors.New("worker: graceful shutdown timed out")
)
