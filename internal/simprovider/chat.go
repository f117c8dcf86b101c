package simprovider

import (
	"net/http"
	"time"
)

// chatPlan is everything drawn for one chat completion before it is sent.
type chatPlan struct {
	id      string
	created int64
	model   string
	choices []choicePlan
	usage   tokenCounts

	// firstDelay is the time to first token: Config.Latency plus one
	// ChunkDelay per reasoning token of the longest-reasoning choice.
	firstDelay time.Duration
	// stepDelays are the ChunkDelay draws between consecutive content
	// steps. Each step sends one token of every choice that has one left.
	stepDelays []time.Duration
}

// steps returns the number of content steps: the longest choice's tokens.
func (p *chatPlan) steps() int {
	n := 0
	for _, c := range p.choices {
		n = max(n, len(c.tokens))
	}
	return n
}

// totalDelay is the time a non-streamed response waits.
func (p *chatPlan) totalDelay() time.Duration {
	d := p.firstDelay
	for _, step := range p.stepDelays {
		d += step
	}
	return d
}

// serveChat serves POST /v1/chat/completions.
func (s *Server) serveChat(w http.ResponseWriter, r *http.Request) {
	req, messages, status, e := parseChatRequest(r)
	if e != nil {
		s.reject(w, r, &s.stats.invalidRequests, status, *e)
		return
	}
	prompt := buildChatPrompt(req, messages)

	// Faults come after validation, as a real provider checks the request
	// before it spends capacity on it.
	summary := Request{
		Path:         PathChatCompletions,
		Model:        req.Model,
		Stream:       req.Stream,
		IncludeUsage: req.includeUsage(),
		Inputs:       len(messages),
		PromptTokens: prompt.tokens,
	}
	fault, proceed := s.applyFault(w, r, summary)
	if !proceed {
		return
	}

	plan := s.planChat(req, prompt, time.Now())
	if req.Stream {
		s.streamChat(w, r, plan, summary.IncludeUsage, fault == FaultDisconnect)
		return
	}

	if s.wait(r, plan.totalDelay()) != nil {
		return
	}
	if err := writeJSON(w, plan.completion()); err != nil {
		s.canceled(r, err)
		return
	}
	s.stats.chat.Add(1)
	s.stats.addUsage(plan.usage)
}

// planChat draws the id, the replies, the cached tokens and the delays of a
// chat completion. It holds the server's lock throughout, so that one Seed
// gives one sequence of plans.
func (s *Server) planChat(req *chatRequest, prompt chatPrompt, now time.Time) *chatPlan {
	s.mu.Lock()
	defer s.mu.Unlock()

	plan := &chatPlan{
		id:      "chatcmpl-" + randomID(s.rng, 29),
		created: now.Unix(),
		model:   req.Model,
	}

	// Replies, and the usage they add up to.
	plan.usage.prompt = prompt.tokens
	plan.usage.cached = s.cache.lookupAndStore(prompt.prefixes, s.cfg.CacheMinTokens, s.cfg.CacheIncrement)
	reasoningModel := isReasoningModel(req.Model)
	maxReasoning := 0
	for i := 0; i < req.choices(); i++ {
		c := planChoice(s.rng, s.cfg.ReplyTokens, req.completionLimit(), reasoningModel, req.ReasoningEffort)
		plan.choices = append(plan.choices, c)
		plan.usage.completion += c.completionTokens()
		plan.usage.reasoning += c.reasoning
		maxReasoning = max(maxReasoning, c.reasoning)
	}

	// Delays: reasoning happens before the first visible token.
	plan.firstDelay = s.cfg.Latency.Draw(s.rng) + s.cfg.Spike.extraAt(s.cfg.Now())
	for i := 0; i < maxReasoning; i++ {
		plan.firstDelay += s.cfg.ChunkDelay.Draw(s.rng)
	}
	for i := 1; i < plan.steps(); i++ {
		plan.stepDelays = append(plan.stepDelays, s.cfg.ChunkDelay.Draw(s.rng))
	}
	return plan
}

// completion builds the non-streamed response body.
func (p *chatPlan) completion() chatCompletion {
	out := chatCompletion{
		ID:                p.id,
		Object:            "chat.completion",
		Created:           p.created,
		Model:             p.model,
		Usage:             p.usage.chatUsage(),
		ServiceTier:       "default",
		SystemFingerprint: systemFingerprint,
	}
	for i, c := range p.choices {
		out.Choices = append(out.Choices, chatChoice{
			Index: i,
			Message: assistantMessage{
				Role:        "assistant",
				Content:     c.content(),
				Annotations: []struct{}{},
			},
			FinishReason: c.finishReason,
		})
	}
	return out
}
