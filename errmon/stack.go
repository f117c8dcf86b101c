package errmon

import (
	"runtime"
	"strings"
)

// maxStackDepth is the maximum number of frames an Event keeps.
const maxStackDepth = 32

// modulePath is the path of the module errmon belongs to. Frames of its
// library packages are left out of events, so that an error recorded by
// another aimeter package (usage.TrackCall records through a Monitor) points
// at the code that called into aimeter.
const modulePath = "github.com/aimeter/aimeter"

// Frame is one function call on the stack of an Event.
type Frame struct {
	// Function is the package-qualified function name, as runtime.Frame
	// reports it, such as "example.com/app/chat.(*Server).reply".
	Function string `json:"function"`
	// File is the absolute path of the source file.
	File string `json:"file"`
	// Line is the line number in File, or 0 when unknown.
	Line int `json:"line"`
}

// callerStack returns the frames of its caller's goroutine that keepFrame
// keeps, innermost first, at most maxStackDepth of them. When the caller
// runs in a deferred call during a panic, the stack starts at the function
// that panicked. The frames may be shared with other calls through the
// frame cache, so the caller must not change them.
func callerStack() []Frame {
	// Twice the depth leaves room for the frames that keepFrame drops.
	var pcs [2 * maxStackDepth]uintptr
	n := runtime.Callers(2, pcs[:]) // skip runtime.Callers and callerStack
	if n == 0 {
		return nil
	}
	return cachedFrames(pcs[:n])
}

// resolveFrames returns the frames of the program counters pcs, as
// runtime.Callers returns them, that keepFrame keeps, innermost first, at
// most maxStackDepth of them. A runtime.gopanic frame drops the frames
// before it.
func resolveFrames(pcs []uintptr) []Frame {
	stack := make([]Frame, 0, min(len(pcs), maxStackDepth))
	frames := runtime.CallersFrames(pcs)
	for {
		f, more := frames.Next()
		switch {
		case f.Function == "runtime.gopanic":
			// The frames so far are the deferred call that recovered.
			stack = stack[:0]
		case len(stack) < maxStackDepth && keepFrame(f.Function, f.File):
			stack = append(stack, Frame{Function: f.Function, File: f.File, Line: f.Line})
		}
		if !more {
			break
		}
	}
	return stack
}

// keepFrame reports whether a frame belongs in an Event: it drops the
// runtime's frames and those of aimeter's library packages, and keeps tests
// and aimeter's examples, which stand for user code.
func keepFrame(function, file string) bool {
	switch {
	case function == "":
		return false
	case function == "panic", strings.HasPrefix(function, "runtime."), strings.HasPrefix(function, "runtime/"):
		return false
	case strings.HasSuffix(file, "_test.go"):
		return true
	case strings.HasPrefix(function, modulePath+"/examples/"):
		return true
	case strings.HasPrefix(function, modulePath+"/"), strings.HasPrefix(function, modulePath+"."):
		return false
	}
	return true
}

// cloneFrames returns a copy of stack, so that a caller who changes an
// Event's frames cannot change the Monitor's copy.
func cloneFrames(stack []Frame) []Frame {
	if stack == nil {
		return nil
	}
	return append(make([]Frame, 0, len(stack)), stack...)
}
