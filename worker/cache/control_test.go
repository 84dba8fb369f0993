package cache

import (
	"net/http"
	"testing"
	"time"
)

func TestResponsePolicy(t *testing.T) {
	now := time.Now().UTC()
	date := now.Format(http.TimeFormat)
	for _, tc := range []struct {
		name    string
		code    int
		headers map[string]string
		want    Policy
	}{
		{"default ttl", 200, nil, Policy{Store: true, TTL: time.Minute}},
		{"max-age", 200, map[string]string{"Cache-Control": "public, max-age=30"}, Policy{Store: true, TTL: 30 * time.Second, Explicit: true}},
		{"s-maxage wins over max-age", 200, map[string]string{"Cache-Control": "max-age=30, s-maxage=5"}, Policy{Store: true, TTL: 5 * time.Second, Explicit: true}},
		{"s-maxage first", 200, map[string]string{"Cache-Control": "s-maxage=5, max-age=30"}, Policy{Store: true, TTL: 5 * time.Second, Explicit: true}},
		{"no-store", 200, map[string]string{"Cache-Control": "no-store"}, Policy{TTL: time.Minute}},
		{"private", 200, map[string]string{"Cache-Control": "private, max-age=60"}, Policy{TTL: time.Minute, Explicit: true}},
		{"no-cache", 200, map[string]string{"Cache-Control": "No-Cache"}, Policy{TTL: time.Minute}},
		{"max-age=0", 200, map[string]string{"Cache-Control": "max-age=0"}, Policy{Explicit: true}},
		{"max-age=0 with swr", 200, map[string]string{"Cache-Control": "max-age=0, stale-while-revalidate=10"}, Policy{Store: true, Explicit: true, SWR: 10 * time.Second}},
		{"stale windows", 200, map[string]string{"Cache-Control": `max-age=1, stale-while-revalidate="2", stale-if-error=3`}, Policy{Store: true, TTL: time.Second, Explicit: true, SWR: 2 * time.Second, SIE: 3 * time.Second}},
		{"bad max-age ignored", 200, map[string]string{"Cache-Control": "max-age=abc"}, Policy{Store: true, TTL: time.Minute}},
		{"expires", 200, map[string]string{"Expires": now.Add(90 * time.Second).Format(http.TimeFormat), "Date": date}, Policy{Store: true, TTL: 90 * time.Second, Explicit: true}},
		{"expires in the past", 200, map[string]string{"Expires": now.Add(-time.Hour).Format(http.TimeFormat), "Date": date}, Policy{Explicit: true}},
		{"invalid expires", 200, map[string]string{"Expires": "0"}, Policy{TTL: time.Minute}},
		{"max-age beats expires", 200, map[string]string{"Cache-Control": "max-age=7", "Expires": "0"}, Policy{Store: true, TTL: 7 * time.Second, Explicit: true}},
		{"vary star", 200, map[string]string{"Vary": "*"}, Policy{TTL: time.Minute}},
		{"vary header", 200, map[string]string{"Vary": "Accept-Encoding"}, Policy{Store: true, TTL: time.Minute}},
		{"set-cookie", 200, map[string]string{"Set-Cookie": "a=b"}, Policy{TTL: time.Minute}},
		{"404", 404, nil, Policy{Store: true, TTL: time.Minute}},
		{"500", 500, nil, Policy{TTL: time.Minute}},
		{"302", 302, nil, Policy{TTL: time.Minute}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ResponsePolicy(tc.code, func(name string) []byte {
				if v, ok := tc.headers[name]; ok {
					return []byte(v)
				}
				return nil
			}, time.Minute)
			got.sMaxAge = false
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func FuzzParseCacheControl(f *testing.F) {
	for _, s := range []string{"max-age=60", "no-store", `s-maxage="5", max-age=3`, "stale-while-revalidate=99999999999", ",,=,", "max-age=-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		var p Policy
		p.Store = true
		ParseCacheControl([]byte(v), &p)
		if p.TTL < 0 || p.SWR < 0 || p.SIE < 0 {
			t.Fatalf("%q: negative duration %+v", v, p)
		}
	})
}
