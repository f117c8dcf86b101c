package simprovider

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"net/http"
	"strconv"
)

// Embeddings request limits, as OpenAI documents them for
// text-embedding-3 models.
const (
	maxEmbeddingInputs     = 2048
	maxEmbeddingDimensions = 3072
)

type embeddingsRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	EncodingFormat string          `json:"encoding_format"`
	Dimensions     *int            `json:"dimensions"`
}

// embeddingInput is one input: a text, or a list of token ids.
type embeddingInput struct {
	text     string
	tokenIDs []int
	isTokens bool
}

func (in embeddingInput) tokens() int {
	if in.isTokens {
		return len(in.tokenIDs)
	}
	return max(1, estimateTokens(in.text))
}

// serveEmbeddings serves POST /v1/embeddings.
func (s *Server) serveEmbeddings(w http.ResponseWriter, r *http.Request) {
	var req embeddingsRequest
	if status, e := decodeBody(r, &req); e != nil {
		s.reject(w, r, &s.stats.invalidRequests, status, *e)
		return
	}
	inputs, dims, e := req.validate(s.cfg.EmbeddingDimensions)
	if e != nil {
		s.reject(w, r, &s.stats.invalidRequests, http.StatusBadRequest, *e)
		return
	}

	promptTokens := 0
	for _, in := range inputs {
		promptTokens += in.tokens()
	}
	summary := Request{Path: PathEmbeddings, Model: req.Model, Inputs: len(inputs), PromptTokens: promptTokens}
	if _, proceed := s.applyFault(w, r, summary); !proceed {
		return
	}

	s.mu.Lock()
	delay := s.cfg.Latency.Draw(s.rng) + s.cfg.Spike.extraAt(s.cfg.Now())
	s.mu.Unlock()
	if s.wait(r, delay) != nil {
		return
	}

	out := embeddingList{
		Object: "list",
		Model:  req.Model,
		Usage:  embeddingUsage{PromptTokens: promptTokens, TotalTokens: promptTokens},
	}
	for i, in := range inputs {
		vector := embeddingVector(req.Model, in, dims)
		item := embeddingItem{Object: "embedding", Index: i, Embedding: vector}
		if req.EncodingFormat == "base64" {
			item.Embedding = encodeFloat32s(vector)
		}
		out.Data = append(out.Data, item)
	}
	if err := writeJSON(w, out); err != nil {
		s.canceled(r, err)
		return
	}
	s.stats.embeddings.Add(1)
	s.stats.addUsage(tokenCounts{prompt: promptTokens})
}

// validate checks the request and returns its inputs and the vector length.
func (req *embeddingsRequest) validate(defaultDims int) ([]embeddingInput, int, *apiError) {
	fail := func(message, param, code string) ([]embeddingInput, int, *apiError) {
		e := invalidRequest(message, param, code)
		return nil, 0, &e
	}

	if req.Model == "" {
		return fail("You must provide a model parameter.", "model", "missing_required_parameter")
	}
	switch req.EncodingFormat {
	case "", "float", "base64":
	default:
		return fail(fmt.Sprintf("Invalid value: '%s'. Supported values are: 'float' and 'base64'.", req.EncodingFormat),
			"encoding_format", "invalid_value")
	}
	dims := defaultDims
	if req.Dimensions != nil {
		if *req.Dimensions < 1 || *req.Dimensions > maxEmbeddingDimensions {
			return fail(fmt.Sprintf("Invalid 'dimensions': %d. Expected a value from 1 to %d.", *req.Dimensions, maxEmbeddingDimensions),
				"dimensions", "invalid_value")
		}
		dims = *req.Dimensions
	}

	inputs, message := parseEmbeddingInput(req.Input)
	if message != "" {
		return fail(message, "input", "invalid_value")
	}
	return inputs, dims, nil
}

// parseEmbeddingInput accepts the four input forms of the API: a string, an
// array of strings, an array of token ids, or an array of such arrays. It
// returns a message for the client when the input is invalid.
func parseEmbeddingInput(raw json.RawMessage) ([]embeddingInput, string) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, "Missing required parameter: 'input'."
	}

	var text string
	if json.Unmarshal(raw, &text) == nil {
		if text == "" {
			return nil, "Invalid 'input': empty string. Send a non-empty string or array."
		}
		return []embeddingInput{{text: text}}, ""
	}

	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, "Invalid type for 'input': expected a string, an array of strings, or an array of token arrays."
	}
	if len(items) == 0 {
		return nil, "Invalid 'input': empty array. Send at least one input."
	}
	if len(items) > maxEmbeddingInputs {
		return nil, fmt.Sprintf("Invalid 'input': %d inputs, more than the maximum of %d.", len(items), maxEmbeddingInputs)
	}

	// An array of token ids is one input.
	var ids []int
	if json.Unmarshal(raw, &ids) == nil {
		return []embeddingInput{{tokenIDs: ids, isTokens: true}}, ""
	}

	inputs := make([]embeddingInput, 0, len(items))
	for i, item := range items {
		var itemText string
		var itemIDs []int
		switch {
		case json.Unmarshal(item, &itemText) == nil && itemText != "":
			inputs = append(inputs, embeddingInput{text: itemText})
		case json.Unmarshal(item, &itemIDs) == nil && len(itemIDs) > 0:
			inputs = append(inputs, embeddingInput{tokenIDs: itemIDs, isTokens: true})
		default:
			return nil, fmt.Sprintf("Invalid 'input[%d]': expected a non-empty string or a non-empty array of token ids.", i)
		}
	}
	return inputs, ""
}

// embeddingVector returns a unit vector of length dims that depends only on
// the model and the input, so equal inputs get equal embeddings.
func embeddingVector(model string, in embeddingInput, dims int) []float32 {
	h := fnv.New64a()
	writeField(h, model)
	if in.isTokens {
		for _, id := range in.tokenIDs {
			writeField(h, strconv.Itoa(id))
		}
	} else {
		writeField(h, in.text)
	}
	state := h.Sum64()

	vector := make([]float32, dims)
	norm := 0.0
	for i := range vector {
		// Uniform in [-1, 1) from the top 53 bits of a splitmix64 step.
		var bits uint64
		state, bits = splitmix64(state)
		x := float64(bits>>11)/(1<<52) - 1
		vector[i] = float32(x)
		norm += x * x
	}

	// OpenAI embeddings have length 1; a zero vector cannot be scaled.
	if norm == 0 {
		vector[0] = 1
		return vector
	}
	scale := 1 / math.Sqrt(norm)
	for i := range vector {
		vector[i] = float32(float64(vector[i]) * scale)
	}
	return vector
}

// splitmix64 advances the state and returns it with the next output.
func splitmix64(state uint64) (uint64, uint64) {
	state += 0x9e3779b97f4a7c15
	z := state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return state, z ^ (z >> 31)
}

// encodeFloat32s encodes v as base64 of little-endian float32 values, the
// form OpenAI sends for encoding_format "base64".
func encodeFloat32s(v []float32) string {
	buf := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(x))
	}
	return base64.StdEncoding.EncodeToString(buf)
}
