package child

import (
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/rockstar-dev/rockstar/supervisor/wire"

	"github.com/rs/zerolog"
)

// startCPUProfile starts the worker's CPU profile when wire.EnvCPUProfile asks
// for one; the returned function stops it and closes the file.
func startCPUProfile(slot string, log zerolog.Logger) (stop func()) {
	prefix := os.Getenv(wire.EnvCPUProfile)
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
