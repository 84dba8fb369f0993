package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// envConfig names the config file when -c does not.
const envConfig = "ROCKSTAR_CONFIG"

// configSearchDoc is the search, as the help tells it.
const configSearchDoc = "Without -c, the config is $" + envConfig + ", else the first of\n" +
	"./rockstar.toml, /etc/rockstar/rockstar.toml and ./examples/rockstar.toml\n" +
	"(the bundled example) that exists. Paths in it are relative to its directory."

// errNoConfig: neither -c nor $ROCKSTAR_CONFIG, and no file in the search.
var errNoConfig = errors.New("rockstar: no config file")

// defaultSearch is where a config is looked for after -c and
// $ROCKSTAR_CONFIG: the current directory's rockstar.toml, the system's,
// and last the bundled example, so that `rockstar run` in a fresh clone
// serves it.
func defaultSearch() []string {
	return []string{"rockstar.toml", "/etc/rockstar/rockstar.toml", filepath.Join("examples", "rockstar.toml")}
}

// findConfig is the config file to use: -c (flagPath) if given, else
// $ROCKSTAR_CONFIG if set (either used as it is, so that a mistake in it is
// reported, not passed over), else the first of c.search that exists;
// the path is returned as it was spelled, so errors name it so. The error
// when nothing is found wraps errNoConfig and names every place looked.
func (c *cli) findConfig(flagPath string) (string, error) {
	if flagPath != "" {
		return flagPath, nil
	}
	if p := c.getenv(envConfig); p != "" {
		return p, nil
	}
	looked := []string{"-c (not given)", "$" + envConfig + " (not set)"}
	for _, p := range c.search {
		// Only a file that is not there is passed over: one that cannot
		// be read is reported by the loader, naming it.
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			return p, nil
		}
		looked = append(looked, absPath(p))
	}
	return "", fmt.Errorf("%w: looked at %s", errNoConfig, strings.Join(looked, ", "))
}

// absPath is p made absolute against the working directory, for the
// error; p itself if that cannot be known.
func absPath(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}
