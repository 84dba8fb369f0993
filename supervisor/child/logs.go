package child

import (
	"io"
	"os"
	"strconv"

	"github.com/rs/zerolog"
)

// workerLogger is a worker's logger, with the keys the master's log
// lines use too (supervisor/logs.go): role, pid, slot and generation (the
// last two as numbers, from the master's environment strings; -1 when
// missing) on every line.
func workerLogger(out io.Writer, slot, generation string) zerolog.Logger {
	return zerolog.New(out).With().Timestamp().Str("role", "worker").
		Int("slot", atoiOr(slot, -1)).Int("pid", os.Getpid()).
		Int("generation", atoiOr(generation, -1)).Logger()
}

func atoiOr(s string, def int) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return def
	}
	return n
}
