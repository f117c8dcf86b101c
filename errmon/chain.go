package errmon

import openai "github.com/sashabaranov/go-openai"

// typedErrors are the errors in an error's tree that classify reads: the
// first of each type, as errors.As finds it, or nil. Like errors.As, a
// typed nil pointer found first stays nil rather than letting a later error
// of its type count.
type typedErrors struct {
	panicErr *PanicError
	apiErr   *openai.APIError
	reqErr   *openai.RequestError
}

// Bits of the types that findTypedErrors has found.
const (
	foundPanic = 1 << iota
	foundAPI
	foundRequest
	foundAll = foundPanic | foundAPI | foundRequest
)

// findTypedErrors returns the typedErrors of err. It walks err's tree once,
// in the order of errors.As, where three calls of errors.As would walk it
// three times and allocate their targets.
func findTypedErrors(err error) typedErrors {
	var t typedErrors
	found := 0
	t.walk(err, &found)
	return t
}

// walk looks for the types not yet in found in err and its tree, following
// Unwrap() error and Unwrap() []error as errors.As does.
func (t *typedErrors) walk(err error, found *int) {
	for err != nil && *found != foundAll {
		t.match(err, found)
		switch x := err.(type) {
		case interface{ Unwrap() error }:
			err = x.Unwrap()
		case interface{ Unwrap() []error }:
			for _, inner := range x.Unwrap() {
				t.walk(inner, found)
			}
			return
		default:
			return
		}
	}
}

// match records err for each type not yet in found that err has, or that
// err's As method, which errors.As calls, converts it to.
func (t *typedErrors) match(err error, found *int) {
	converter, hasAs := err.(interface{ As(any) bool })

	if *found&foundPanic == 0 {
		if e, ok := err.(*PanicError); ok {
			t.panicErr, *found = e, *found|foundPanic
		} else if hasAs {
			var e *PanicError
			if converter.As(&e) {
				t.panicErr, *found = e, *found|foundPanic
			}
		}
	}

	if *found&foundAPI == 0 {
		if e, ok := err.(*openai.APIError); ok {
			t.apiErr, *found = e, *found|foundAPI
		} else if hasAs {
			var e *openai.APIError
			if converter.As(&e) {
				t.apiErr, *found = e, *found|foundAPI
			}
		}
	}

	if *found&foundRequest == 0 {
		if e, ok := err.(*openai.RequestError); ok {
			t.reqErr, *found = e, *found|foundRequest
		} else if hasAs {
			var e *openai.RequestError
			if converter.As(&e) {
				t.reqErr, *found = e, *found|foundRequest
			}
		}
	}
}
