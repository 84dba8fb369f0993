// Package config loads and validates Rockstar's TOML configuration file.
// Both processes read it: the master loads and checks the file, and sends
// the resolved *Config to each worker as JSON, which maps it onto the
// worker package (RateLimit.Worker, Host.ProxyConfig).
//
// Load reads a file and Parse checks bytes already read; both return a
// *Config whose every field is resolved: defaults filled in, "auto" worker
// counts turned into numbers, relative paths made absolute against the
// directory of the config file, host names in canonical form, and the two
// sides of the host–tenant relation made to agree.
//
// Every problem is reported as an *Error that names the file, the line and
// the field, in the form
//
//	rockstar.toml:12: host[1].rate_limit.burst: must be >= 0
//
// Field paths follow the TOML structure: "supervisor.workers",
// "server[0].listen", "host[2].rate_limit.key", "tenant[0].hosts[1]", with
// zero-based indexes into the [[server]], [[host]] and [[tenant]] arrays.
// When a document has several problems, all of them are returned at once,
// joined with errors.Join and sorted by line. Check the kind of a problem
// with errors.Is against the sentinels (ErrSyntax, ErrUnknownKey, ErrType,
// ErrInvalid, ...) and read its position with errors.As:
//
//	cfg, err := config.Load("rockstar.toml")
//	var ce *config.Error
//	if errors.As(err, &ce) && errors.Is(ce, config.ErrUnknownKey) { ... }
//
// Parse checks the document alone and touches nothing on disk. Load also
// checks the document against the machine (CheckSystem): static roots must
// be directories, TLS pairs must load, the control socket's directory and
// those above it must be safe from other users and its path hold a socket
// or nothing (CheckSocketPath), the user and group must exist.
//
// Load also puts the runtime API's changes, kept in admin.state_file
// (State, ReadState, WriteState), on top of the file: a state host or
// tenant replaces the file's of its name in place, a new one follows the
// file's, a null one (a tombstone) deletes the file's; the whole is
// validated as one file. A problem in a state object is an *Error with
// File the state file and Object and ObjectField naming it:
//
//	rockstar.state.json: host a.test: respond_status: must be <= 599
//
// Config.WithState re-validates the same file contents with another State:
// how the supervisor checks an API change. WriteFileAtomic is the state
// file's writer: temp file, fsync, rename, fsync of the directory.
//
// Diff compares two configs and tells the supervisor, on a reload, whether
// the change can be pushed to the running workers in place or needs a new
// generation of workers.
//
// Files, by idea:
//
//	config.go       Config and its sections, every key with its default
//	load.go         Load and Parse
//	decode.go       the TOML tree, typed reads that record their errors
//	sections.go     each section's keys, checked one by one
//	proxy.go        a host's proxy table, and its mapping to worker/proxy
//	cluster.go      the [cluster] section; rate_limit.scope = "cluster" needs it
//	acme.go         the [acme] section
//	validate.go     the checks across sections (hosts, tenants, addresses)
//	positions.go    field paths to file lines, for the errors
//	errors.go       Error and the sentinels
//	system.go       CheckSystem: the config against the machine
//	socketpath.go   CheckSocketPath: the control socket's directory is safe
//	cpus.go         CPUs: workers = "auto" and the container's CPU quota; TermGraceful
//	diff.go         Diff: pushed in place, or a new generation
//	state.go        State: the runtime API's changes on top of the file; WriteFileAtomic
package config
