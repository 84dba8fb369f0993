package worker

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"
)

// Access log formats, ServerConfig.AccessLogFormat's values.
const (
	// AccessLogJSON writes one JSON object per request (the default).
	AccessLogJSON = "json"
	// AccessLogCombined writes nginx's "combined" format, then Rockstar's
	// own fields as key=value pairs.
	AccessLogCombined = "combined"
)

// HeaderXRequestID carries a request's id: taken from the request when it
// is valid (see ValidRequestID), else made up, and sent back on the
// response while the access log is on.
const HeaderXRequestID = "X-Request-Id"

// MaxRequestIDLen is the longest X-Request-Id taken from a request.
const MaxRequestIDLen = 128

// ValidRequestID reports whether id may be taken from a request's
// X-Request-Id: 1 to MaxRequestIDLen bytes of A-Z, a-z, 0-9 and ".", "_",
// ":", "-".
func ValidRequestID(id []byte) bool {
	if len(id) == 0 || len(id) > MaxRequestIDLen {
		return false
	}
	for _, c := range id {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// accessLog writes a server's access log lines and numbers its requests.
type accessLog struct {
	json     *zerolog.Logger // AccessLogJSON; nil for combined
	w        io.Writer       // AccessLogCombined: one Write per line
	lines    sync.Pool       // *[]byte for combined lines
	idPrefix [13]byte        // 12 random hex digits and "-"
	idNext   atomic.Uint64
}

func accessLogger(cfg ServerConfig) *accessLog {
	if cfg.AccessLog == nil {
		return nil
	}
	a := &accessLog{}
	var seed [6]byte
	_, _ = rand.Read(seed[:])
	hex.Encode(a.idPrefix[:12], seed[:])
	a.idPrefix[12] = '-'
	w := zerolog.SyncWriter(cfg.AccessLog)
	if cfg.AccessLogFormat == AccessLogCombined {
		a.w = w
		a.lines.New = func() any { b := make([]byte, 0, 512); return &b }
	} else {
		l := zerolog.New(w).With().Timestamp().Logger()
		a.json = &l
	}
	return a
}

// requestID makes sure the request carries a valid X-Request-Id: the
// client's, or a new one, unique in this process: a random prefix and a
// counter.
func (a *accessLog) requestID(ctx *fasthttp.RequestCtx) {
	if ValidRequestID(ctx.Request.Header.Peek(HeaderXRequestID)) {
		return
	}
	var b [32]byte
	id := append(b[:0], a.idPrefix[:]...)
	id = strconv.AppendUint(id, a.idNext.Add(1), 36)
	ctx.Request.Header.SetBytesV(HeaderXRequestID, id)
}

// echoID sends the request's id back on the response.
func echoID(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.SetBytesV(HeaderXRequestID, ctx.Request.Header.Peek(HeaderXRequestID))
}

// upstreamClock is the time a request spent on upstreams, kept in the
// request's user values between AddUpstreamTime and the access log.
type upstreamClock struct{ d time.Duration }

type upstreamKey struct{}

var upstreamClocks = sync.Pool{New: func() any { return new(upstreamClock) }}

// Close gives c back when fasthttp resets the request's user values
// without the access log having taken it.
func (c *upstreamClock) Close() error {
	c.d = 0
	upstreamClocks.Put(c)
	return nil
}

// AddUpstreamTime adds d to the time the request spent waiting on
// upstreams (sending the request, reading the answer), which the access
// log reports as upstream_response_time. The reverse proxy (package
// worker/proxy) calls it once per try.
func AddUpstreamTime(ctx *fasthttp.RequestCtx, d time.Duration) {
	if c, ok := ctx.UserValue(upstreamKey{}).(*upstreamClock); ok {
		c.d += d
		return
	}
	c := upstreamClocks.Get().(*upstreamClock)
	c.d = d
	ctx.SetUserValue(upstreamKey{}, c)
}

// takeUpstreamTime returns and forgets what AddUpstreamTime added; false
// if nothing was (the request was not proxied).
func takeUpstreamTime(ctx *fasthttp.RequestCtx) (time.Duration, bool) {
	c, ok := ctx.UserValue(upstreamKey{}).(*upstreamClock)
	if !ok {
		return 0, false
	}
	d := c.d
	ctx.RemoveUserValue(upstreamKey{})
	c.d = 0
	upstreamClocks.Put(c)
	return d, true
}

// accessEntry is what one line says besides what ctx holds.
type accessEntry struct {
	status, out int
	took        time.Duration
	upstream    time.Duration
	proxied     bool
	host        string // the host it matched, DefaultHost if none
	tenant      string
}

// log writes e's line.
func (a *accessLog) log(ctx *fasthttp.RequestCtx, e *accessEntry) {
	var ipBuf, userBuf [64]byte
	ip := appendRemoteIP(ipBuf[:0], ctx)
	user := basicAuthUser(userBuf[:0], ctx.Request.Header.Peek(fasthttp.HeaderAuthorization))
	if a.json != nil {
		a.logJSON(ctx, e, ip, user)
		return
	}
	bp := a.lines.Get().(*[]byte)
	line := a.appendCombined((*bp)[:0], ctx, e, ip, user)
	_, _ = a.w.Write(line)
	*bp = line
	a.lines.Put(bp)
}

func (a *accessLog) logJSON(ctx *fasthttp.RequestCtx, e *accessEntry, ip, user []byte) {
	ev := a.json.Log().
		Bytes("remote_addr", ip).
		Bytes("remote_user", user).
		Bytes("request_id", ctx.Request.Header.Peek(HeaderXRequestID)).
		Bytes("method", ctx.Method()).
		Bytes("path", ctx.Path()).
		Bytes("query", ctx.URI().QueryString()).
		Bytes("protocol", ctx.Request.Header.Protocol()).
		Int("status", e.status).
		Int("body_bytes_sent", e.out).
		Bytes("http_referer", ctx.Request.Header.Referer()).
		Bytes("http_user_agent", ctx.Request.Header.UserAgent()).
		Bytes("host", ctx.Host()).
		Str("vhost", e.host).
		Str("tenant", e.tenant).
		Float64("request_time", seconds(e.took))
	if e.proxied {
		ev = ev.Float64("upstream_response_time", seconds(e.upstream))
	}
	ev.Send()
}

// seconds is d in seconds with millisecond precision, as nginx logs times.
func seconds(d time.Duration) float64 { return float64(d.Milliseconds()) / 1000 }

// timeLocal is nginx's $time_local.
const timeLocal = "02/Jan/2006:15:04:05 -0700"

// appendCombined appends nginx's combined line,
//
//	$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"
//
// then host="..." vhost="..." tenant="..." request_id="..."
// request_time=S upstream_response_time=S (or -), and a newline. Values
// are escaped as nginx does: '"', '\' and bytes outside printable ASCII
// become \xHH; empty ones are "-".
func (a *accessLog) appendCombined(b []byte, ctx *fasthttp.RequestCtx, e *accessEntry, ip, user []byte) []byte {
	h := &ctx.Request.Header
	b = appendEscaped(b, ip)
	b = append(b, " - "...)
	b = appendEscaped(b, user)
	b = append(b, " ["...)
	b = time.Now().AppendFormat(b, timeLocal)
	b = append(b, "] \""...)
	b = appendEscaped(b, ctx.Method())
	b = append(b, ' ')
	b = appendEscaped(b, ctx.RequestURI())
	b = append(b, ' ')
	b = appendEscaped(b, h.Protocol())
	b = append(b, "\" "...)
	b = strconv.AppendInt(b, int64(e.status), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(e.out), 10)
	b = append(b, " \""...)
	b = appendEscaped(b, h.Referer())
	b = append(b, "\" \""...)
	b = appendEscaped(b, h.UserAgent())
	b = append(b, "\" host=\""...)
	b = appendEscaped(b, ctx.Host())
	b = append(b, "\" vhost=\""...)
	b = appendEscaped(b, strBytes(e.host))
	b = append(b, "\" tenant=\""...)
	b = appendEscaped(b, strBytes(e.tenant))
	b = append(b, "\" request_id=\""...)
	b = appendEscaped(b, h.Peek(HeaderXRequestID))
	b = append(b, "\" request_time="...)
	b = strconv.AppendFloat(b, seconds(e.took), 'f', 3, 64)
	b = append(b, " upstream_response_time="...)
	if e.proxied {
		b = strconv.AppendFloat(b, seconds(e.upstream), 'f', 3, 64)
	} else {
		b = append(b, '-')
	}
	return append(b, '\n')
}

// appendEscaped appends v as nginx writes a variable in a log line.
func appendEscaped(b, v []byte) []byte {
	if len(v) == 0 {
		return append(b, '-')
	}
	const digits = "0123456789ABCDEF"
	for _, c := range v {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			b = append(b, '\\', 'x', digits[c>>4], digits[c&15])
			continue
		}
		b = append(b, c)
	}
	return b
}

// appendRemoteIP appends the client's IP address, without its port, or
// "-" when its address has none.
func appendRemoteIP(b []byte, ctx *fasthttp.RequestCtx) []byte {
	a := addrOf(ctx.RemoteAddr())
	if !a.IsValid() {
		return append(b, '-')
	}
	return a.AppendTo(b)
}

// basicAuthUser appends the user name of a Basic Authorization header, or
// "-" when there is none.
func basicAuthUser(b, auth []byte) []byte {
	const prefix = "basic "
	if len(auth) <= len(prefix) || !asciiEqualFold(auth[:len(prefix)], prefix) {
		return append(b, '-')
	}
	enc := auth[len(prefix):]
	var buf [192]byte
	if base64.StdEncoding.DecodedLen(len(enc)) > len(buf) {
		return append(b, '-')
	}
	n, err := base64.StdEncoding.Decode(buf[:], enc)
	if err != nil {
		return append(b, '-')
	}
	dec := buf[:n]
	for i, c := range dec {
		if c == ':' {
			dec = dec[:i]
			break
		}
	}
	if len(dec) == 0 {
		return append(b, '-')
	}
	return append(b, dec...)
}

func asciiEqualFold(b []byte, lower string) bool {
	for i := range len(lower) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
