package simprovider

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestStartURL(t *testing.T) {
	t.Parallel()
	s, _ := startServer(t, Config{})

	got := s.URL()
	if !strings.HasPrefix(got, "http://127.0.0.1:") {
		t.Errorf("URL() = %q, want prefix http://127.0.0.1:", got)
	}
	if !strings.HasSuffix(got, "/v1") {
		t.Errorf("URL() = %q, want suffix /v1", got)
	}
}

func TestNewURLEmpty(t *testing.T) {
	t.Parallel()
	s := New(Config{})
	defer s.Close()

	if got := s.URL(); got != "" {
		t.Errorf("URL() = %q, want empty for a Server from New", got)
	}
}

func TestAuthorization(t *testing.T) {
	t.Parallel()
	s, _ := startServer(t, Config{})
	body := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`

	tests := []struct {
		name          string
		authorization string
		wantStatus    int
		wantCode      any
	}{
		{name: "missing", authorization: "", wantStatus: http.StatusUnauthorized, wantCode: nil},
		{name: "not bearer", authorization: "Basic dXNlcjpwYXNz", wantStatus: http.StatusUnauthorized, wantCode: "invalid_api_key"},
		{name: "empty key", authorization: "Bearer ", wantStatus: http.StatusUnauthorized, wantCode: "invalid_api_key"},
		{name: "any key", authorization: "Bearer anything", wantStatus: http.StatusOK},
		{name: "lowercase scheme", authorization: "bearer anything", wantStatus: http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, data := postRaw(t, s, PathChatCompletions, tt.authorization, body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.wantStatus, data)
			}
			if tt.wantStatus == http.StatusOK {
				return
			}

			var got struct {
				Error map[string]any `json:"error"`
			}
			if err := json.Unmarshal([]byte(data), &got); err != nil {
				t.Fatalf("decode body %s: %v", data, err)
			}
			if got.Error["type"] != "invalid_request_error" {
				t.Errorf("error.type = %v, want invalid_request_error", got.Error["type"])
			}
			if got.Error["code"] != tt.wantCode {
				t.Errorf("error.code = %v, want %v", got.Error["code"], tt.wantCode)
			}
		})
	}
}

func TestAuthorizationGoOpenAI(t *testing.T) {
	t.Parallel()
	s, _ := startServer(t, Config{})

	// go-openai sends no Authorization header when the key is empty.
	client := newClient(s.URL(), "")
	_, err := client.CreateChatCompletion(context.Background(), userChat("gpt-4o-mini", "hi"))

	apiErr := asAPIError(t, err)
	if apiErr.HTTPStatusCode != http.StatusUnauthorized {
		t.Errorf("HTTPStatusCode = %d, want 401", apiErr.HTTPStatusCode)
	}
	if got := s.Stats().Unauthorized; got != 1 {
		t.Errorf("Stats().Unauthorized = %d, want 1", got)
	}
}

func TestRouting(t *testing.T) {
	t.Parallel()
	s := New(Config{Latency: Fixed(0)})
	defer s.Close()

	tests := []struct {
		name       string
		method     string
		path       string
		wantStatus int
		wantAllow  string
	}{
		{name: "unknown path", method: http.MethodPost, path: "/v1/completions", wantStatus: http.StatusNotFound},
		{name: "no version prefix", method: http.MethodPost, path: "/chat/completions", wantStatus: http.StatusNotFound},
		{name: "get chat", method: http.MethodGet, path: PathChatCompletions, wantStatus: http.StatusMethodNotAllowed, wantAllow: "POST"},
		{name: "get embeddings", method: http.MethodGet, path: PathEmbeddings, wantStatus: http.StatusMethodNotAllowed, wantAllow: "POST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(tt.method, tt.path, nil)
			req.Header.Set("Authorization", "Bearer k")
			s.ServeHTTP(rec, req)

			if rec.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d", rec.Code, tt.wantStatus)
			}
			if got := rec.Header().Get("Allow"); got != tt.wantAllow {
				t.Errorf("Allow = %q, want %q", got, tt.wantAllow)
			}
			want := "Invalid URL (" + tt.method + " " + tt.path + ")"
			if !strings.Contains(rec.Body.String(), want) {
				t.Errorf("body = %s, want it to contain %q", rec.Body.String(), want)
			}
		})
	}

	if got, want := s.Stats().InvalidRequests, int64(len(tests)); got != want {
		t.Errorf("Stats().InvalidRequests = %d, want %d", got, want)
	}
}

func TestServeHTTPAfterClose(t *testing.T) {
	t.Parallel()
	s := New(Config{Latency: Fixed(0)})
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, PathChatCompletions, strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer k")
	s.ServeHTTP(rec, req)

	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("status = %d, want 503", rec.Code)
	}
}

func TestCloseEndsWaits(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	s, client := startServer(t, Config{SlowDelay: time.Hour, Sleep: blockingSleep(time.Hour, started)})
	s.FailNext(1, FaultSlow)

	errc := make(chan error, 1)
	go func() {
		_, err := client.CreateChatCompletion(context.Background(), userChat("gpt-4o-mini", "hi"))
		errc <- err
	}()

	<-started
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-errc; err == nil {
		t.Errorf("CreateChatCompletion error = nil, want an error after Close")
	}

	stats := s.Stats()
	if stats.Slow != 1 {
		t.Errorf("Stats().Slow = %d, want 1", stats.Slow)
	}
	if stats.Canceled != 1 {
		t.Errorf("Stats().Canceled = %d, want 1", stats.Canceled)
	}
}

func TestInvalidConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{name: "negative reply tokens", cfg: Config{ReplyTokens: -1}, want: "ReplyTokens"},
		{name: "negative slow delay", cfg: Config{SlowDelay: -time.Second}, want: "SlowDelay"},
		{name: "rate above one", cfg: Config{Faults: FaultRates{RateLimit: 1.5}}, want: "Faults.RateLimit"},
		{name: "negative rate", cfg: Config{Faults: FaultRates{Slow: -0.1}}, want: "Faults.Slow"},
		{name: "rates sum above one", cfg: Config{Faults: FaultRates{RateLimit: 0.6, ServerError: 0.6}}, want: "sum"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Start(tt.cfg)
			if err == nil {
				s.Close()
				t.Fatalf("Start error = nil, want an error naming %s", tt.want)
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("Start error = %v, want it to wrap ErrInvalidConfig", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Start error = %v, want it to name %s", err, tt.want)
			}

			defer func() {
				got, _ := recover().(error)
				if !errors.Is(got, ErrInvalidConfig) {
					t.Errorf("New panic = %v, want an error wrapping ErrInvalidConfig", got)
				}
			}()
			New(tt.cfg)
		})
	}
}
