package simprovider

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// sseWriter writes server-sent events and flushes after each one, so that
// every chunk reaches the client when it is sent.
type sseWriter struct {
	w          http.ResponseWriter
	controller *http.ResponseController
}

// send writes one "data: ..." event. An error means the client is gone.
func (sw *sseWriter) send(data []byte) error {
	if _, err := fmt.Fprintf(sw.w, "data: %s\n\n", data); err != nil {
		return err
	}
	err := sw.controller.Flush()
	if errors.Is(err, http.ErrNotSupported) {
		// The chunks still arrive, only later, so the stream goes on.
		return nil
	}
	return err
}

func (sw *sseWriter) sendChunk(chunk *chatChunk) error {
	data, err := json.Marshal(chunk)
	if err != nil {
		// chatChunk holds only strings, numbers and valid raw JSON.
		panic(fmt.Sprintf("simprovider: marshal chunk: %v", err))
	}
	return sw.send(data)
}

// streamChat sends a planned chat completion as server-sent events: a role
// chunk per choice, content chunks, a finish chunk per choice, the usage
// chunk when includeUsage is set, and "data: [DONE]". With cut set, it
// drops the connection after Config.DisconnectAfter content chunks instead.
func (s *Server) streamChat(w http.ResponseWriter, r *http.Request, plan *chatPlan, includeUsage, cut bool) {
	if s.wait(r, plan.firstDelay) != nil {
		return
	}

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	sw := &sseWriter{w: w, controller: http.NewResponseController(w)}

	// One role chunk per choice opens the stream, with empty content.
	for i := range plan.choices {
		c := plan.newChunk(includeUsage)
		empty := ""
		c.Choices = append(c.Choices, chunkChoice{Index: i, Delta: chunkDelta{Role: "assistant", Content: &empty}})
		if err := sw.sendChunk(c); err != nil {
			s.canceled(r, err)
			return
		}
	}

	if !s.streamContent(sw, r, plan, includeUsage, cut) {
		return
	}

	// A finish chunk per choice, with an empty delta.
	for i, choice := range plan.choices {
		c := plan.newChunk(includeUsage)
		reason := choice.finishReason
		c.Choices = append(c.Choices, chunkChoice{Index: i, FinishReason: &reason})
		if err := sw.sendChunk(c); err != nil {
			s.canceled(r, err)
			return
		}
	}

	// The usage chunk, with no choices, only when the client asked for it.
	if includeUsage {
		c := plan.newChunk(includeUsage)
		usage, err := json.Marshal(plan.usage.chatUsage())
		if err != nil {
			panic(fmt.Sprintf("simprovider: marshal usage: %v", err))
		}
		c.Usage = usage
		if err := sw.sendChunk(c); err != nil {
			s.canceled(r, err)
			return
		}
		s.stats.addUsage(plan.usage)
	}

	if err := sw.send([]byte("[DONE]")); err != nil {
		s.canceled(r, err)
		return
	}
	s.stats.chatStreams.Add(1)
}

// streamContent sends the content chunks, one token of each unfinished
// choice per step, with the planned delay between steps. It reports whether
// the stream may go on. With cut set, it aborts the connection after
// Config.DisconnectAfter content chunks or at the end of the content.
func (s *Server) streamContent(sw *sseWriter, r *http.Request, plan *chatPlan, includeUsage, cut bool) bool {
	sent := 0
	for step := 0; step < plan.steps(); step++ {
		if step > 0 && s.wait(r, plan.stepDelays[step-1]) != nil {
			return false
		}

		for i, choice := range plan.choices {
			if step >= len(choice.tokens) {
				continue
			}
			c := plan.newChunk(includeUsage)
			c.Choices = append(c.Choices, chunkChoice{Index: i, Delta: chunkDelta{Content: &choice.tokens[step]}})
			if err := sw.sendChunk(c); err != nil {
				s.canceled(r, err)
				return false
			}

			sent++
			if cut && sent >= s.cfg.DisconnectAfter {
				s.stats.disconnected.Add(1)
				abortConnection()
			}
		}
	}

	if cut {
		s.stats.disconnected.Add(1)
		abortConnection()
	}
	return true
}

// newChunk returns a chunk with no choices. Its usage is null when the
// client asked for usage, and absent otherwise, as OpenAI sends it on every
// chunk but the last.
func (p *chatPlan) newChunk(includeUsage bool) *chatChunk {
	c := &chatChunk{
		ID:                p.id,
		Object:            "chat.completion.chunk",
		Created:           p.created,
		Model:             p.model,
		ServiceTier:       "default",
		SystemFingerprint: systemFingerprint,
		Choices:           []chunkChoice{},
	}
	if includeUsage {
		c.Usage = json.RawMessage("null")
	}
	return c
}
