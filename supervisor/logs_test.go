package supervisor_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Every JSON log line, the master's and the workers', names each key once,
// every key has one JSON type in all lines, and pid, worker_pid, slot and
// generation are numbers wherever they appear: a master line about a
// worker says pid (the master) and worker_pid, not pid twice.
func TestLogKeysOncePerLineOneType(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	m := startMaster(t, configText(2, "hello"))
	st := m.status()
	victim := st.Workers[1]
	if err := syscall.Kill(victim.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	m.slotWorker(victim.Slot, map[int]bool{victim.PID: true}, 10*time.Second)
	m.logs.wait(t, "worker exited unexpectedly; restarting", 5*time.Second)
	m.signal(syscall.SIGTTIN) // "added a worker": a count of workers
	m.logs.wait(t, "added a worker", 10*time.Second)
	m.waitWorkers(3, 10*time.Second)

	roles := map[string]int{}
	kinds := map[string]string{} // key -> the JSON type it first had
	aboutWorker := 0
	for _, line := range strings.Split(m.logs.String(), "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		fields, err := uniqueKeys(line)
		if err != nil {
			t.Errorf("%v in %s", err, line)
			continue
		}
		for k, v := range fields {
			kind := fmt.Sprintf("%T", v)
			if first, ok := kinds[k]; !ok {
				kinds[k] = kind
			} else if first != kind {
				t.Errorf("key %q is a %s here and a %s before: %s", k, kind, first, line)
			}
		}
		role, _ := fields["role"].(string)
		roles[role]++
		for _, k := range []string{"pid", "worker_pid", "slot", "generation"} {
			if v, ok := fields[k]; ok {
				if _, num := v.(float64); !num {
					t.Errorf("%s is %T (%v), want a number, in %s", k, v, v, line)
				}
			}
		}
		if _, ok := fields["pid"]; !ok && role != "" {
			t.Errorf("no pid in %s", line)
		}
		if role == "master" && fields["worker_pid"] == float64(victim.PID) {
			aboutWorker++
		}
		if role == "worker" && (fields["slot"] == nil || fields["generation"] == nil) {
			t.Errorf("worker line without its slot and generation: %s", line)
		}
	}
	if roles["master"] == 0 || roles["worker"] == 0 {
		t.Errorf("lines by role %v, want some of the master and of the workers", roles)
	}
	if aboutWorker == 0 {
		t.Errorf("no master line names the killed worker %d as worker_pid", victim.PID)
	}
}

// uniqueKeys decodes one JSON object, failing on a key it holds twice
// (which encoding/json's map decoding would hide, keeping the last).
func uniqueKeys(line string) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader([]byte(line)))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("not a JSON object (%v)", err)
	}
	out := map[string]any{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key := tok.(string)
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("key %q twice", key)
		}
		out[key] = v
	}
	return out, nil
}
