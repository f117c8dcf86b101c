package ratelimit

import "time"

// MemoryOption configures NewMemory.
type MemoryOption interface {
	applyMemory(*memoryConfig)
}

// MiddlewareOption configures Middleware.
type MiddlewareOption interface {
	applyMiddleware(*middlewareConfig)
}

// IPOption configures ClientIP and KeyByIP.
type IPOption interface {
	applyIP(*ipConfig)
}

type memoryOptionFunc func(*memoryConfig)

func (f memoryOptionFunc) applyMemory(c *memoryConfig) { f(c) }

type middlewareOptionFunc func(*middlewareConfig)

func (f middlewareOptionFunc) applyMiddleware(c *middlewareConfig) { f(c) }

type ipOptionFunc func(*ipConfig)

func (f ipOptionFunc) applyIP(c *ipConfig) { f(c) }

// ClockOption sets the clock that a Memory limiter or Middleware reads. It is
// both a MemoryOption and a MiddlewareOption, so one fake clock can drive
// both in tests.
type ClockOption struct {
	now func() time.Time
}

// WithClock returns an option that makes a limiter or middleware read the
// time from now instead of time.Now. It panics if now is nil.
func WithClock(now func() time.Time) ClockOption {
	if now == nil {
		panic("ratelimit: WithClock: nil clock")
	}
	return ClockOption{now: now}
}

func (o ClockOption) applyMemory(c *memoryConfig) { c.now = o.now }

func (o ClockOption) applyMiddleware(c *middlewareConfig) { c.now = o.now }
