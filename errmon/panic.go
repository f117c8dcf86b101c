package errmon

import (
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"
)

// PanicError is a recovered panic as an error. Classify returns Panic for
// it and for any error that wraps it.
type PanicError struct {
	// Value is the value passed to panic.
	Value any
	// Stack is the panicking goroutine's stack in the format of
	// runtime/debug.Stack, taken inside the deferred function that
	// recovered. When it is set, a Monitor uses it for Event.Stack.
	Stack []byte
}

// NewPanicError returns a PanicError for value with the current goroutine's
// stack. Call it in the deferred function that recovers, so that the stack
// still contains the frame that panicked:
//
//	defer func() {
//		if v := recover(); v != nil {
//			err = errmon.NewPanicError(v)
//		}
//	}()
func NewPanicError(value any) *PanicError {
	return &PanicError{Value: value, Stack: debug.Stack()}
}

// Error returns "panic: " and the panic value. It leaves the stack out.
func (e *PanicError) Error() string {
	return fmt.Sprintf("panic: %v", e.Value)
}

// Unwrap returns the panic value when it is an error, such as a
// runtime.Error, and nil otherwise.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// parseStack turns text in the format of runtime/debug.Stack into frames,
// keeping those that keepFrame keeps and at most maxStackDepth of them. The
// frames start below the last call to panic, at the function that panicked.
//
// The text is a header line ("goroutine 7 [running]:") and then two lines
// per frame: the function with its arguments ("main.f(0x1, ...)" or
// "created by main.main in goroutine 1") and a tab-indented
// "/path/file.go:12 +0x1d".
func parseStack(stack []byte) []Frame {
	var frames []Frame
	lines := strings.Split(string(stack), "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimRight(lines[i], "\r")
		if line == "" || strings.HasPrefix(line, "goroutine ") || strings.HasPrefix(line, "\t") {
			continue
		}

		function := stackFunction(line)
		var file string
		var lineNumber int
		if i+1 < len(lines) && strings.HasPrefix(lines[i+1], "\t") {
			file, lineNumber = stackFileLine(lines[i+1])
			i++
		}
		switch {
		case function == "panic":
			// The frames so far are the deferred call that recovered and
			// runtime/debug.Stack itself.
			frames = frames[:0]
		case len(frames) < maxStackDepth && keepFrame(function, file):
			frames = append(frames, Frame{Function: function, File: file, Line: lineNumber})
		}
	}
	return frames
}

// stackFunction returns the function name of a function line of
// runtime/debug.Stack output, without its arguments.
func stackFunction(line string) string {
	if rest, ok := strings.CutPrefix(line, "created by "); ok {
		name, _, _ := strings.Cut(rest, " in goroutine ")
		return name
	}
	if i := strings.LastIndexByte(line, '('); i > 0 {
		return line[:i]
	}
	return line
}

// stackFileLine parses "\t/path/file.go:12 +0x1d" into its file and line.
func stackFileLine(line string) (string, int) {
	line = strings.TrimSpace(line)
	if i := strings.LastIndex(line, " +0x"); i >= 0 {
		line = line[:i]
	}
	i := strings.LastIndexByte(line, ':')
	if i < 0 {
		return line, 0
	}
	n, err := strconv.Atoi(line[i+1:])
	if err != nil {
		return line, 0
	}
	return line[:i], n
}
