package ratelimit

import "errors"

var (
	// ErrNegativeUnits is returned when the units of a request or a
	// settlement are negative.
	ErrNegativeUnits = errors.New("negative number of units")

	// ErrMissingKey is returned by a key function when the request carries
	// nothing to build its key from.
	ErrMissingKey = errors.New("missing rate limit key")

	// ErrSettleUnsupported is returned by Reservation.Settle, and by the
	// Settle of a PerRequest limiter, when the limiter does not implement
	// Settler.
	ErrSettleUnsupported = errors.New("limiter cannot settle")
)
