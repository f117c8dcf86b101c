package simprovider

import (
	"encoding/binary"
	"hash"
	"hash/fnv"
	"unicode/utf8"
)

// Token estimate constants. The per-message overhead, the name token and
// the reply priming follow the tiktoken counting recipe in OpenAI's cookbook
// ("How to count tokens with tiktoken") for gpt-4-class chat models.
const (
	tokensPerMessage   = 3
	tokensPerName      = 1
	replyPrimingTokens = 3
	// tokensPerImage is the base cost of an image part at low detail.
	tokensPerImage = 85
)

// estimateTokens estimates the tokens of text as one per four characters,
// rounded up, the usual rule of thumb for English text. It is an estimate:
// real tokenizers give other counts.
func estimateTokens(text string) int {
	return (utf8.RuneCountInString(text) + 3) / 4
}

// prefix is one message boundary of a chat prompt: the tokens and the hash
// of everything up to and including one message.
type prefix struct {
	tokens int
	hash   uint64
}

// chatPrompt is the token estimate of a chat request's prompt.
type chatPrompt struct {
	// tokens is the whole prompt's estimate, reply priming included.
	tokens int
	// prefixes holds one entry per message, in order, for the prompt
	// cache. Their token counts exclude the reply priming, so a cache hit
	// never covers the whole prompt.
	prefixes []prefix
}

// buildChatPrompt estimates the prompt tokens of a validated chat request
// and hashes its message prefixes.
func buildChatPrompt(req *chatRequest, messages []parsedMessage) chatPrompt {
	h := fnv.New64a()
	writeField(h, req.Model)

	// Tool definitions come before the messages in the model's input, so
	// they are part of every prefix.
	tokens := 0
	if len(req.Tools) > 0 && string(req.Tools) != "null" {
		tokens += estimateTokens(string(req.Tools))
		writeField(h, string(req.Tools))
	}

	prefixes := make([]prefix, 0, len(messages))
	for _, m := range messages {
		tokens += m.tokens()
		m.hashInto(h)
		prefixes = append(prefixes, prefix{tokens: tokens, hash: h.Sum64()})
	}

	return chatPrompt{tokens: tokens + replyPrimingTokens, prefixes: prefixes}
}

// tokens estimates the message's share of the prompt.
func (m parsedMessage) tokens() int {
	n := tokensPerMessage + estimateTokens(m.role) + estimateTokens(m.text) + len(m.imageURLs)*tokensPerImage
	if m.name != "" {
		n += tokensPerName + estimateTokens(m.name)
	}
	if len(m.toolCalls) > 0 {
		n += estimateTokens(string(m.toolCalls))
	}
	if m.toolCallID != "" {
		n += estimateTokens(m.toolCallID)
	}
	return n
}

// hashInto writes every field that makes the message distinct.
func (m parsedMessage) hashInto(h hash.Hash64) {
	writeField(h, m.role)
	writeField(h, m.name)
	writeField(h, m.text)
	writeField(h, string(m.toolCalls))
	writeField(h, m.toolCallID)
	for _, url := range m.imageURLs {
		writeField(h, url)
	}
}

// writeField writes s with its length in front, so that no two different
// field sequences hash the same bytes.
func writeField(h hash.Hash64, s string) {
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(s)))
	_, _ = h.Write(n[:])
	_, _ = h.Write([]byte(s))
}
