package simprovider

import (
	"math"
	"math/rand"
	"strings"
)

// isReasoningModel reports whether model spends hidden reasoning tokens:
// the o1, o3 and o4 series and gpt-5, but not gpt-5-chat, which does not
// reason. A fine-tuned name "ft:BASE:..." is judged by its base.
func isReasoningModel(model string) bool {
	model = strings.TrimPrefix(model, "ft:")
	if strings.HasPrefix(model, "gpt-5-chat") {
		return false
	}
	for _, series := range []string{"o1", "o3", "o4", "gpt-5"} {
		if strings.HasPrefix(model, series) {
			return true
		}
	}
	return false
}

// reasoningFactors maps reasoning_effort to the range of reasoning tokens
// per visible reply token. These ratios are made up to look plausible, not
// measured.
var reasoningFactors = map[string][2]float64{
	"none":    {0, 0},
	"minimal": {0, 0},
	"low":     {1, 3},
	"":        {3, 8}, // OpenAI's default effort is medium.
	"medium":  {3, 8},
	"high":    {8, 20},
	"xhigh":   {12, 30},
}

// choicePlan is one generated choice of a chat completion.
type choicePlan struct {
	// tokens are the visible reply's pieces, one token each, in the form a
	// stream sends them: words with their leading space.
	tokens []string
	// reasoning is the number of hidden reasoning tokens.
	reasoning    int
	finishReason string
}

func (c choicePlan) content() string { return strings.Join(c.tokens, "") }

// completionTokens counts the visible and the reasoning tokens, as OpenAI's
// completion_tokens does.
func (c choicePlan) completionTokens() int { return len(c.tokens) + c.reasoning }

// planChoice draws one choice. meanTokens is Config.ReplyTokens, limit is
// the request's completion token limit (0 for none), and reasoningModel and
// effort set whether and how much the model reasons.
//
// The reply is cut to the limit as OpenAI cuts it: reasoning comes first,
// so a small limit can leave no visible text, and a cut reply ends with
// finish_reason "length".
func planChoice(r *rand.Rand, meanTokens, limit int, reasoningModel bool, effort string) choicePlan {
	visible := meanTokens/2 + r.Intn(meanTokens+1)
	if visible < 1 {
		visible = 1
	}

	reasoning := 0
	if reasoningModel {
		factors := reasoningFactors[effort]
		factor := factors[0] + r.Float64()*(factors[1]-factors[0])
		reasoning = int(math.Round(float64(visible) * factor))
	}

	finish := "stop"
	if limit > 0 && reasoning+visible > limit {
		finish = "length"
		reasoning = min(reasoning, limit)
		visible = limit - reasoning
	}

	return choicePlan{
		tokens:       replyTokens(r, visible, finish == "stop"),
		reasoning:    reasoning,
		finishReason: finish,
	}
}

// replyOpening starts every reply, so that a reader can tell the reply from
// a real model's output.
var replyOpening = []string{"This", " is", " a", " simulated", " reply."}

// replyWords are the words of the rest of the reply.
var replyWords = strings.Fields(`the a each every some many one this that our
model token request latency cache stream answer server metric budget limit
window prompt reply count minute record store usage cost price chart error
retry signal sample route client queue
fast slow small large quiet steady clear simple early late
and with for from into over after before
runs keeps shows sends counts waits grows reads writes checks`)

// replyTokens returns n reply tokens. A complete reply ends with a period.
func replyTokens(r *rand.Rand, n int, complete bool) []string {
	tokens := make([]string, 0, n)
	for i := 0; i < n && i < len(replyOpening); i++ {
		tokens = append(tokens, replyOpening[i])
	}

	sentenceStart := true
	for len(tokens) < n {
		word := replyWords[r.Intn(len(replyWords))]
		if sentenceStart {
			word = strings.ToUpper(word[:1]) + word[1:]
		}
		sentenceStart = r.Intn(8) == 0
		if sentenceStart {
			word += "."
		}
		tokens = append(tokens, " "+word)
	}

	last := len(tokens) - 1
	if complete && last >= 0 && !strings.HasSuffix(tokens[last], ".") {
		tokens[last] += "."
	}
	return tokens
}
