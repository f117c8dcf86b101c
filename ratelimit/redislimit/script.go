package redislimit

import (
	"context"
	"crypto/sha1"
	_ "embed"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// scriptBody is the Lua script that decides and settles, less the line
// that defines the rules' constants. script.lua documents its keys,
// argument and reply.
//
//go:embed script.lua
var scriptBody string

// newScript returns the script for rates and its SHA-1 digest in hex, which
// EVALSHA names it by. The rules' constants are part of the text, so that
// Redis parses them once when it loads the script, not on every call.
func newScript(rates []rate) (source, hash string) {
	var q, tauUS, tauFrac []string
	for i := range rates {
		r := &rates[i]
		q = append(q, strconv.FormatUint(r.q, 10))
		tauUS = append(tauUS, strconv.FormatUint(r.tau.us, 10))
		tauFrac = append(tauFrac, strconv.FormatUint(r.tau.frac, 10))
	}
	n := len(rates)
	source = fmt.Sprintf("local Q, TAU_US, TAU_FRAC = {%s}, {%s}, {%s}\nlocal ARGS, REPLY = '>%s', '>%s'\n%s",
		strings.Join(q, ", "), strings.Join(tauUS, ", "), strings.Join(tauFrac, ", "),
		strings.Repeat("d", 2+2*n), strings.Repeat("d", 1+2*n), scriptBody)
	sum := sha1.Sum([]byte(source))
	return source, hex.EncodeToString(sum[:])
}

// The script's modes, the first double of its argument.
const (
	modeAllow  = 0
	modeCharge = 1
	modeRefund = 2
)

// smallRules is the number of rules whose call fits in the arrays of one
// call. Limiters with more rules allocate more.
const smallRules = 4

// call is one EVALSHA command of the script and its decoded reply:
//
//	EVALSHA sha numkeys key... packed
//
// The command's arguments point into the call and into the limiter, so that
// building it costs one allocation for the call and one for the keys,
// however many rules there are, up to smallRules.
type call struct {
	args []any
	keys []string

	// packed is the script's argument: mode, time and each rule's units
	// as big-endian doubles.
	packed packedDoubles

	// reply is the decoded reply: 0 when a rule rejected the units and 1
	// otherwise, then each rule's offset before the call as whole
	// microseconds and a fraction.
	reply []int64

	argsBuf   [4 + smallRules]any
	keysBuf   [smallRules]string
	packedBuf [8 * (2 + 2*smallRules)]byte
	replyBuf  [1 + 2*smallRules]int64
}

// packedDoubles is a script argument of big-endian IEEE 754 doubles. Its
// pointer implements encoding.BinaryMarshaler, which go-redis writes as is.
type packedDoubles struct {
	b []byte
}

// MarshalBinary returns the packed doubles.
func (p *packedDoubles) MarshalBinary() ([]byte, error) { return p.b, nil }

// put stores v as the i-th double. v must be below 2^53 in magnitude, where
// doubles hold every integer exactly.
func (p *packedDoubles) put(i int, v int64) {
	binary.BigEndian.PutUint64(p.b[8*i:], math.Float64bits(float64(v)))
}

// newCall returns a script call in mode for key at time now, in
// microseconds since the Unix epoch, or at the server's time when now is
// zero. The caller sets each rule's units with setUnits or setNever.
func (l *Limiter) newCall(key string, mode int, now int64) *call {
	c := new(call)
	n := len(l.rates)
	if n <= smallRules {
		c.args, c.keys = c.argsBuf[:0], c.keysBuf[:n]
		c.packed.b, c.reply = c.packedBuf[:8*(2+2*n)], c.replyBuf[:1+2*n]
	} else {
		c.args, c.keys = make([]any, 0, 4+n), make([]string, n)
		c.packed.b, c.reply = make([]byte, 8*(2+2*n)), make([]int64, 1+2*n)
	}
	l.keys.build(key, c.keys)
	c.packed.put(0, int64(mode))
	c.packed.put(1, now)

	c.args = append(c.args, "evalsha", &l.scriptHash, n)
	for i := range c.keys {
		c.args = append(c.args, &c.keys[i])
	}
	c.args = append(c.args, &c.packed)
	return c
}

// setUnits sets the span of rule i's units.
func (c *call) setUnits(i int, s span) {
	c.packed.put(2+2*i, int64(s.us))
	c.packed.put(3+2*i, int64(s.frac))
}

// setNever marks rule i's units as units it can never admit.
func (c *call) setNever(i int) {
	c.packed.put(2+2*i, -1)
	c.packed.put(3+2*i, 0)
}

// admitted reports whether every rule admitted the call's units.
func (c *call) admitted() bool { return c.reply[0] == 1 }

// offset returns rule i's offset before the call.
func (c *call) offset(i int) span {
	return span{us: uint64(c.reply[1+2*i]), frac: uint64(c.reply[2+2*i])}
}

// firstKeyPos is the position of the first key in the command, which
// cluster clients hash to find the node.
const firstKeyPos = 3

// run sends c as EVALSHA, and again as EVAL when Redis no longer has the
// script (after SCRIPT FLUSH or a restart), which also loads it for the
// next EVALSHA. It decodes the reply into c and checks it against the
// rules.
func (l *Limiter) run(ctx context.Context, c *call) error {
	cmd := redis.NewStringCmd(ctx, c.args...)
	cmd.SetFirstKeyPos(firstKeyPos)
	err := l.process(ctx, cmd)
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		c.args[0], c.args[1] = "eval", &l.scriptSource
		cmd = redis.NewStringCmd(ctx, c.args...)
		cmd.SetFirstKeyPos(firstKeyPos)
		err = l.process(ctx, cmd)
	}
	if err != nil {
		return fmt.Errorf("redislimit: run script: %w", err)
	}
	return l.decodeReply(cmd.Val(), c.reply)
}

// process sends cmd and waits for its reply, or for the end of ctx.
//
// go-redis sets a connection's deadlines from the context only when the
// client's options have ContextTimeoutEnabled. Other clients wait for their
// ReadTimeout (5 s by default in go-redis v9.23.0) whatever the context's
// deadline. For those the call
// runs in a goroutine, and process returns when ctx ends. The call goes on
// until the client's own timeout, holding one connection, and its reply is
// dropped.
func (l *Limiter) process(ctx context.Context, cmd redis.Cmder) error {
	if _, ok := ctx.Deadline(); l.honoursDeadlines || (!ok && ctx.Done() == nil) {
		return l.client.Process(ctx, cmd)
	}

	done := make(chan error, 1)
	go func() { done <- l.client.Process(ctx, cmd) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// honoursDeadlines reports whether client sets its connections' deadlines
// from the context, so that a context deadline bounds a call. It is false
// for clients of types it does not know.
func honoursDeadlines(client redis.UniversalClient) bool {
	switch c := client.(type) {
	case *redis.Client:
		return c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		return c.Options().ContextTimeoutEnabled
	case *redis.Ring:
		return c.Options().ContextTimeoutEnabled
	}
	return false
}

// errBadReply is returned when the script's reply does not have the shape
// or the ranges that script.lua promises.
var errBadReply = errors.New("redislimit: unexpected script reply")

// decodeReply decodes the script's reply into dst, which has one element
// per double, and returns an error wrapping errBadReply unless the reply has
// that many doubles, starts with 0 or 1, and holds a valid span per rule
// after that.
func (l *Limiter) decodeReply(reply string, dst []int64) error {
	if len(reply) != 8*len(dst) {
		return fmt.Errorf("%w: %d bytes, want %d", errBadReply, len(reply), 8*len(dst))
	}
	for i := range dst {
		f := math.Float64frombits(binary.BigEndian.Uint64([]byte(reply[8*i : 8*i+8])))
		if f < 0 || f > maxSpan || f != math.Trunc(f) {
			return fmt.Errorf("%w: value %d is %v", errBadReply, i, f)
		}
		dst[i] = int64(f)
	}
	if dst[0] > 1 {
		return fmt.Errorf("%w: admitted is %d", errBadReply, dst[0])
	}
	for i := 1; i+1 < len(dst); i += 2 {
		r := &l.rates[(i-1)/2]
		if uint64(dst[i+1]) >= r.q {
			return fmt.Errorf("%w: rule %q: fraction %d of %d", errBadReply, r.name, dst[i+1], r.q)
		}
	}
	return nil
}

// isTimeout reports whether err means that a call ran out of time.
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
