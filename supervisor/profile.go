package supervisor

import (
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/rockstar-dev/rockstar/supervisor/wire"

	"github.com/rs/zerolog"
)

// EnvCPUProfile names the environment variable that makes every worker
// write a CPU profile: ROCKSTAR_CPUPROFILE=/tmp/rockstar starts, in each
// worker, a pprof CPU profile that is written to
// /tmp/rockstar.<slot>.<pid>.pprof when the worker exits (a drain, a
// reload, `rockstar stop`). Workers inherit it from the master's
// environment. Profiles of a worker under load are what
// cmd/rockstar/default.pgo is built from (see bench/RESULTS.md); merge
// several with `go tool pprof -proto a.pprof b.pprof > merged.pprof`.
// Default: unset, no profile.
const EnvCPUProfile = wire.EnvCPUProfile

// startCPUProfile starts the worker's CPU profile when EnvCPUProfile asks
// for one; the returned function stops it and closes the file.
func startCPUProfile(slot string, log zerolog.Logger) (stop func()) {
	prefix := os.Getenv(EnvCPUProfile)
	if prefix == "" {
		return func() {}
	}
	path := fmt.Sprintf("%s.%s.%d.pprof", prefix, slot, os.Getpid())
	f, err := os.Create(path)
	if err != nil {
		log.Error().Err(err).Msg("cpu profile")
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		log.Error().Err(err).Msg("cpu profile")
		_ = f.Close()
		return func() {}
	}
	log.Info().Str("path", path).Msg("writing a cpu profile")
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			log.Error().Err(err).Msg("cpu profile")
		}
	}
}
