package config

import (
	"sort"
	"strconv"

	"github.com/pelletier/go-toml/v2/unstable"
)

// positions maps field paths ("host[1].rate_limit.burst") to the 1-based
// line where the field is defined: the line of its key for a key-value, of
// its header for a [table] or [[array table]], of its first byte for an
// element of an inline array. Tables created implicitly by a dotted key or
// header take the line where they first appear.
type positions map[string]int

// scanPositions walks the document once with go-toml's position-keeping
// parser. The document must already have passed a full TOML decode, so
// that the walk can trust it; a parser error stops the walk and keeps what
// was found.
func scanPositions(data []byte) positions {
	w := posWalker{
		pos:    positions{},
		counts: map[string]int{},
		lines:  lineStarts(data),
	}
	var p unstable.Parser
	p.Reset(data)
	cur := ""
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			cur = w.header(e)
		case unstable.KeyValue:
			w.keyValue(cur, e)
		}
	}
	return w.pos
}

type posWalker struct {
	pos positions
	// counts holds the number of elements seen so far of each array of
	// tables, by path, so that [[host]] headers get indexes and a later
	// [host.sub] header refers to the last element.
	counts map[string]int
	// lines holds the offset at which each line starts.
	lines []int
}

// header records a [table] or [[array.table]] header and returns the path
// of the table it opens.
func (w *posWalker) header(e *unstable.Node) string {
	path := ""
	it := e.Key()
	for it.Next() {
		k := it.Node()
		path = joinKey(path, string(k.Data))
		w.mark(path, k)
		last := it.IsLast()
		if last && e.Kind == unstable.ArrayTable {
			n := w.counts[path]
			w.counts[path] = n + 1
			path = indexPath(path, n)
			w.mark(path, k)
		} else if n := w.counts[path]; n > 0 {
			path = indexPath(path, n-1)
		}
	}
	return path
}

// keyValue records a (possibly dotted) key under the table at prefix, and
// whatever its value holds.
func (w *posWalker) keyValue(prefix string, e *unstable.Node) {
	path := prefix
	var line int
	it := e.Key()
	for it.Next() {
		k := it.Node()
		path = joinKey(path, string(k.Data))
		line = w.mark(path, k)
	}
	w.value(path, e.Value(), line)
}

// value records the elements of arrays and the keys of inline tables
// inside a value; line is the line of the enclosing key.
func (w *posWalker) value(path string, v *unstable.Node, line int) {
	switch v.Kind {
	case unstable.InlineTable:
		it := v.Children()
		for it.Next() {
			if c := it.Node(); c.Kind == unstable.KeyValue {
				w.keyValue(path, c)
			}
		}
	case unstable.Array:
		i := 0
		it := v.Children()
		for it.Next() {
			c := it.Node()
			if c.Kind == unstable.Comment {
				continue
			}
			ep := indexPath(path, i)
			i++
			l := line
			if c.Kind != unstable.Array { // array nodes carry no range
				l = w.line(c.Raw.Offset)
			}
			if _, ok := w.pos[ep]; !ok {
				w.pos[ep] = l
			}
			w.value(ep, c, l)
		}
	}
}

// mark records the line of key node k under path unless path already has
// one (an implicit table keeps the line where it first appeared), and
// returns the line recorded for path.
func (w *posWalker) mark(path string, k *unstable.Node) int {
	if l, ok := w.pos[path]; ok {
		return l
	}
	l := w.line(k.Raw.Offset)
	w.pos[path] = l
	return l
}

func (w *posWalker) line(offset uint32) int {
	return sort.Search(len(w.lines), func(i int) bool { return w.lines[i] > int(offset) })
}

func lineStarts(data []byte) []int {
	starts := []int{0}
	for i, c := range data {
		if c == '\n' {
			starts = append(starts, i+1)
		}
	}
	return starts
}

// line returns the line of path, or of its closest enclosing field that
// has one (the table of a missing key), or 0.
func (p positions) line(path string) int {
	for {
		if l, ok := p[path]; ok {
			return l
		}
		if path == "" {
			return 0
		}
		path = parentPath(path)
	}
}

// joinKey appends one key to a field path. Bare keys are written as they
// are; others (with dots, spaces, quotes...) are quoted so that the path
// stays unambiguous.
func joinKey(path, key string) string {
	if !isBareKey(key) {
		key = strconv.Quote(key)
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func indexPath(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

func isBareKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// parentPath drops the last key or index of a field path: "a.b[2]" ->
// "a.b" -> "a" -> "". Separators inside quoted keys are skipped.
func parentPath(path string) string {
	cut := 0
	quoted := false
	for i := 0; i < len(path); i++ {
		c := path[i]
		switch {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && (c == '.' || c == '['):
			cut = i
		}
	}
	return path[:cut]
}
