package simprovider

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// chatRequest is the part of a chat completion request body that the server
// reads.
//
// NOTE: other fields, such as temperature, tools and tool_choice, are
// accepted and ignored, and so are unknown fields, which OpenAI rejects.
// Tools count towards the prompt tokens, but replies are always text.
type chatRequest struct {
	Model               string          `json:"model"`
	Messages            *[]chatMessage  `json:"messages"`
	Stream              bool            `json:"stream"`
	StreamOptions       *streamOptions  `json:"stream_options"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	N                   *int            `json:"n"`
	ReasoningEffort     string          `json:"reasoning_effort"`
	Tools               json.RawMessage `json:"tools"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

type chatMessage struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content"`
	Name       string          `json:"name"`
	ToolCalls  json.RawMessage `json:"tool_calls"`
	ToolCallID string          `json:"tool_call_id"`
}

// parsedMessage is a chat message with its content flattened.
type parsedMessage struct {
	role       string
	name       string
	text       string // the text parts, joined
	imageURLs  []string
	toolCalls  json.RawMessage
	toolCallID string
}

// validRoles are the message roles that the Chat Completions API accepts.
var validRoles = map[string]bool{
	"system": true, "developer": true, "user": true, "assistant": true, "tool": true, "function": true,
}

// maxChoices is the largest n that OpenAI accepts.
const maxChoices = 128

// decodeBody decodes a JSON request body into v, or returns the status and
// error to send.
func decodeBody(r *http.Request, v any) (int, *apiError) {
	err := json.NewDecoder(r.Body).Decode(v)
	if err == nil {
		return 0, nil
	}

	var tooLarge *http.MaxBytesError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooLarge):
		e := invalidRequest(fmt.Sprintf("The request body is larger than the limit of %d bytes.", tooLarge.Limit), "", "")
		return http.StatusRequestEntityTooLarge, &e
	case errors.As(err, &typeErr):
		e := invalidRequest(fmt.Sprintf("Invalid type for '%s': expected %s, but got %s instead.",
			typeErr.Field, typeErr.Type, typeErr.Value), typeErr.Field, "invalid_type")
		return http.StatusBadRequest, &e
	case errors.Is(err, io.EOF):
		e := invalidRequest("The request body is empty. Send a JSON object.", "", "")
		return http.StatusBadRequest, &e
	default:
		e := invalidRequest(fmt.Sprintf("We could not parse the JSON body of your request: %v. Send valid JSON.", err), "", "")
		return http.StatusBadRequest, &e
	}
}

// parseChatRequest reads and validates a chat completion request.
func parseChatRequest(r *http.Request) (*chatRequest, []parsedMessage, int, *apiError) {
	var req chatRequest
	if status, e := decodeBody(r, &req); e != nil {
		return nil, nil, status, e
	}

	messages, e := req.validate()
	if e != nil {
		return nil, nil, http.StatusBadRequest, e
	}
	return &req, messages, 0, nil
}

// validate checks the fields the server reads and flattens the messages.
func (req *chatRequest) validate() ([]parsedMessage, *apiError) {
	fail := func(message, param, code string) ([]parsedMessage, *apiError) {
		e := invalidRequest(message, param, code)
		return nil, &e
	}

	if req.Model == "" {
		return fail("You must provide a model parameter.", "model", "missing_required_parameter")
	}
	if req.Messages == nil {
		return fail("Missing required parameter: 'messages'.", "messages", "missing_required_parameter")
	}
	if len(*req.Messages) == 0 {
		return fail("Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
			"messages", "empty_array")
	}
	if req.StreamOptions != nil && !req.Stream {
		return fail("The 'stream_options' parameter is only allowed when 'stream' is enabled.", "stream_options", "")
	}
	for _, limit := range []struct {
		name  string
		value *int
	}{{"max_tokens", req.MaxTokens}, {"max_completion_tokens", req.MaxCompletionTokens}} {
		if limit.value != nil && *limit.value < 1 {
			return fail(fmt.Sprintf("Invalid '%s': integer below minimum value. Expected a value >= 1, but got %d instead.",
				limit.name, *limit.value), limit.name, "integer_below_min_value")
		}
	}
	if req.MaxTokens != nil && isReasoningModel(req.Model) {
		return fail("Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
			"max_tokens", "unsupported_parameter")
	}
	if _, ok := reasoningFactors[req.ReasoningEffort]; !ok {
		return fail(fmt.Sprintf("Invalid value: '%s'. Supported values are: 'none', 'minimal', 'low', 'medium', 'high' and 'xhigh'.",
			req.ReasoningEffort), "reasoning_effort", "invalid_value")
	}
	if req.N != nil && (*req.N < 1 || *req.N > maxChoices) {
		return fail(fmt.Sprintf("Invalid 'n': %d. Expected a value from 1 to %d.", *req.N, maxChoices), "n", "invalid_value")
	}

	messages := make([]parsedMessage, 0, len(*req.Messages))
	for i, m := range *req.Messages {
		parsed, e := m.parse(i)
		if e != nil {
			return nil, e
		}
		messages = append(messages, parsed)
	}
	return messages, nil
}

// parse validates the message at index i and flattens its content, which
// may be a string, null, or an array of parts.
func (m chatMessage) parse(i int) (parsedMessage, *apiError) {
	fail := func(message, param, code string) (parsedMessage, *apiError) {
		e := invalidRequest(message, param, code)
		return parsedMessage{}, &e
	}

	if !validRoles[m.Role] {
		return fail(fmt.Sprintf("Invalid value: '%s'. Supported values are: 'system', 'developer', 'user', 'assistant', 'tool' and 'function'.", m.Role),
			fmt.Sprintf("messages[%d].role", i), "invalid_value")
	}
	out := parsedMessage{role: m.Role, name: m.Name, toolCallID: m.ToolCallID}
	if len(m.ToolCalls) > 0 && string(m.ToolCalls) != "null" {
		out.toolCalls = m.ToolCalls
	}

	content := strings.TrimSpace(string(m.Content))
	switch {
	case content == "" || content == "null":
		// Assistant messages with tool calls have no content.
	case strings.HasPrefix(content, `"`):
		if err := json.Unmarshal(m.Content, &out.text); err != nil {
			return fail(fmt.Sprintf("Invalid 'messages[%d].content': %v.", i, err), fmt.Sprintf("messages[%d].content", i), "invalid_type")
		}
	case strings.HasPrefix(content, "["):
		if e := out.parseParts(m.Content, i); e != nil {
			return parsedMessage{}, e
		}
	default:
		return fail(fmt.Sprintf("Invalid type for 'messages[%d].content': expected a string or an array of content parts.", i),
			fmt.Sprintf("messages[%d].content", i), "invalid_type")
	}
	return out, nil
}

// parseParts flattens an array of content parts: text parts are joined, and
// image parts are counted by their URLs. Other part types add no tokens.
func (out *parsedMessage) parseParts(raw json.RawMessage, i int) *apiError {
	var parts []struct {
		Type     string `json:"type"`
		Text     string `json:"text"`
		ImageURL *struct {
			URL string `json:"url"`
		} `json:"image_url"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		e := invalidRequest(fmt.Sprintf("Invalid 'messages[%d].content': %v.", i, err), fmt.Sprintf("messages[%d].content", i), "invalid_type")
		return &e
	}

	var texts []string
	for _, part := range parts {
		switch part.Type {
		case "text":
			texts = append(texts, part.Text)
		case "image_url":
			if part.ImageURL != nil {
				out.imageURLs = append(out.imageURLs, part.ImageURL.URL)
			}
		}
	}
	out.text = strings.Join(texts, "\n")
	return nil
}

// includeUsage reports whether a stream asked for the final usage chunk.
func (req *chatRequest) includeUsage() bool {
	return req.StreamOptions != nil && req.StreamOptions.IncludeUsage
}

// choices returns n, which defaults to 1.
func (req *chatRequest) choices() int {
	if req.N == nil {
		return 1
	}
	return *req.N
}

// completionLimit returns the smaller of max_tokens and
// max_completion_tokens, or 0 when neither is set.
func (req *chatRequest) completionLimit() int {
	limit := 0
	for _, v := range []*int{req.MaxTokens, req.MaxCompletionTokens} {
		if v != nil && (limit == 0 || *v < limit) {
			limit = *v
		}
	}
	return limit
}
