package errmon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"
)

// Defaults of WebhookConfig.
const (
	// DefaultWebhookTimeout is the default of WebhookConfig.Timeout.
	DefaultWebhookTimeout = 5 * time.Second
	// DefaultWebhookRetries is the default of WebhookConfig.Retries.
	DefaultWebhookRetries = 3
	// DefaultWebhookBackoff is the default of WebhookConfig.Backoff.
	DefaultWebhookBackoff = time.Second
	// DefaultWebhookQueue is the default of WebhookConfig.QueueSize.
	DefaultWebhookQueue = 64
)

// maxWebhookWait caps the wait before a retry, also when the server
// requests a longer one, so that one alert cannot hold up the queue for
// long.
const maxWebhookWait = 30 * time.Second

// maxWebhookResponseBytes is how much of a response body a Webhook reads
// before closing it. Reading the body lets the client reuse the
// connection, and the cap bounds the time spent on a server that sends a
// large page.
const maxWebhookResponseBytes = 64 << 10

// Log messages of a Webhook.
const (
	logMessageWebhookRetry  = "alert webhook attempt failed, retrying"
	logMessageWebhookFailed = "alert webhook failed"
)

// WebhookConfig sets up a Webhook. The zero WebhookConfig is ready to use.
type WebhookConfig struct {
	// Client sends the requests. Its own Timeout, if any, applies as well.
	// Default: http.DefaultClient.
	Client *http.Client
	// Timeout bounds each attempt, from sending the request to reading the
	// response. Zero or less selects the default, 5 s.
	Timeout time.Duration
	// Retries is the maximum number of attempts after a first one that
	// failed with a network error, a timeout, or status 408, 425, 429 or
	// 5xx. Other statuses are not retried. Zero selects the default, 3,
	// and a negative value turns retries off.
	Retries int
	// Backoff is the wait before the first retry. It doubles for each
	// further retry. A longer Retry-After in the response replaces it,
	// and no wait is longer than 30 s. Zero or less selects the default,
	// 1 s.
	Backoff time.Duration
	// QueueSize is the maximum number of alerts waiting to be sent. When
	// it is reached, Notify drops new alerts and counts them in
	// WebhookStats.Dropped. Zero or less selects the default, 64.
	QueueSize int
	// Header holds headers to send with each request, such as an
	// Authorization header. They may replace the Content-Type, which is
	// application/json. Default: none.
	Header http.Header
	// Logger receives a record for each failed attempt: at level Debug
	// when the alert will be sent again, at level Error when the Webhook
	// gives up on it. The records name the URL's host only (see
	// LogKeyWebhookHost). Default: a logger that discards everything.
	Logger *slog.Logger
}

// WebhookStats counts what a Webhook did with the alerts passed to Notify.
type WebhookStats struct {
	// Sent is the number of alerts that the server accepted with a 2xx
	// status.
	Sent int64
	// Failed is the number of alerts given up after the last attempt, or
	// after a status that is not retried.
	Failed int64
	// Dropped is the number of alerts not queued because the queue was
	// full.
	Dropped int64
	// Retries is the number of attempts after the first, over all alerts.
	Retries int64
}

// Webhook posts alerts as JSON to a URL, from its own queue and goroutine,
// so that a slow or dead server never delays the Monitor. Create one with
// WebhookAlerts and pass its Notify method in Config.OnAlert. A Webhook is
// safe for concurrent use.
//
// Each alert is one POST with Content-Type application/json and a body such
// as:
//
//	{"rule": "chat errors", "state": "firing", "value": 0.25,
//	 "threshold": 0.05, "calls": 40, "errors": 10, "window_seconds": 300,
//	 "since": "2026-12-04T19:00:00Z", "at": "2026-12-04T19:01:00Z",
//	 "filter": {"endpoint": "/api/ai/chat"}, "category": ""}
//
// The filter leaves out its empty fields, and category is empty for an
// error-rate rule. Alerts are sent one at a time, in the order of Notify.
type Webhook struct {
	url     string
	host    string
	client  *http.Client
	timeout time.Duration
	retries int
	backoff time.Duration
	header  http.Header
	logger  *slog.Logger
	queue   *asyncQueue[Alert]

	sent    atomic.Int64
	failed  atomic.Int64
	retried atomic.Int64

	// sleep waits before a retry. Test hook.
	sleep func(time.Duration)
}

// WebhookAlerts returns a Webhook that posts alerts to rawURL, set up by
// cfg. It returns an error wrapping ErrInvalidWebhookURL when rawURL is not
// an absolute http or https URL. The error leaves the URL out, because it
// may contain a secret token.
func WebhookAlerts(rawURL string, cfg WebhookConfig) (*Webhook, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err
		}
		return nil, fmt.Errorf("%w: %v", ErrInvalidWebhookURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%w: scheme %q is not http or https", ErrInvalidWebhookURL, u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%w: the host is missing", ErrInvalidWebhookURL)
	}

	w := &Webhook{
		url:     rawURL,
		host:    u.Host,
		client:  cfg.Client,
		timeout: cfg.Timeout,
		retries: cfg.Retries,
		backoff: cfg.Backoff,
		header:  cfg.Header.Clone(),
		logger:  cfg.Logger,
		sleep:   time.Sleep,
	}
	if w.client == nil {
		w.client = http.DefaultClient
	}
	if w.timeout <= 0 {
		w.timeout = DefaultWebhookTimeout
	}
	switch {
	case w.retries == 0:
		w.retries = DefaultWebhookRetries
	case w.retries < 0:
		w.retries = 0
	}
	if w.backoff <= 0 {
		w.backoff = DefaultWebhookBackoff
	}
	if w.logger == nil {
		w.logger = slog.New(discardHandler{})
	}
	w.queue = newAsyncQueue(positiveOr(cfg.QueueSize, DefaultWebhookQueue), w.send)
	return w, nil
}

// Notify queues a to be sent and returns at once. When the queue is full,
// it drops a and counts it in WebhookStats.Dropped.
func (w *Webhook) Notify(a Alert) {
	w.queue.push(a)
}

// Flush waits until every queued alert has been sent or given up and
// returns nil, or returns ctx.Err() when ctx is done first. A dead server
// can take Timeout for each attempt, plus the waits between them.
func (w *Webhook) Flush(ctx context.Context) error {
	return w.queue.flush(ctx)
}

// Stats returns the counts of sent, failed, dropped and retried alerts.
func (w *Webhook) Stats() WebhookStats {
	return WebhookStats{
		Sent:    w.sent.Load(),
		Failed:  w.failed.Load(),
		Dropped: w.queue.dropped.Load(),
		Retries: w.retried.Load(),
	}
}

// send posts a, retrying as WebhookConfig sets. It runs on the queue's
// goroutine.
func (w *Webhook) send(a Alert) {
	attempt := 0
	defer func() {
		// A panic in a custom client's transport would stop the queue.
		if v := recover(); v != nil {
			w.failed.Add(1)
			w.logger.Error(logMessageWebhookFailed, w.logAttrs(a, attempt, fmt.Errorf("panic: %v", v))...)
		}
	}()

	body, err := json.Marshal(webhookBodyOf(a))
	if err != nil {
		w.failed.Add(1)
		w.logger.Error(logMessageWebhookFailed, w.logAttrs(a, attempt, err)...)
		return
	}

	wait := w.backoff
	for attempt = 1; ; attempt++ {
		retryAfter, retry, err := w.post(body)
		if err == nil {
			w.sent.Add(1)
			return
		}
		if !retry || attempt > w.retries {
			w.failed.Add(1)
			w.logger.Error(logMessageWebhookFailed, w.logAttrs(a, attempt, err)...)
			return
		}

		w.logger.Debug(logMessageWebhookRetry, w.logAttrs(a, attempt, err)...)
		w.retried.Add(1)
		w.sleep(min(max(wait, retryAfter), maxWebhookWait))
		wait = min(2*wait, maxWebhookWait) // capped before it can overflow
	}
}

// post makes one attempt to post body. It returns the wait the server
// requested in Retry-After, whether a failure may be retried, and the
// failure.
func (w *Webhook) post(body []byte) (time.Duration, bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), w.timeout)
	defer cancel()

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return 0, false, err
	}
	req.Header.Set("Content-Type", "application/json")
	for key, values := range w.header {
		req.Header[key] = values
	}

	resp, err := w.client.Do(req)
	if err != nil {
		// http.Client wraps its errors in a *url.Error that quotes the
		// whole URL, which may contain a secret token.
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err
		}
		return 0, true, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxWebhookResponseBytes))

	status := resp.StatusCode
	if status >= 200 && status < 300 {
		return 0, false, nil
	}
	err = fmt.Errorf("webhook returned status %s", resp.Status)
	retry := status == http.StatusRequestTimeout || status == http.StatusTooEarly ||
		status == http.StatusTooManyRequests || status >= 500
	retryAfter, _ := ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	return retryAfter, retry, err
}

func (w *Webhook) logAttrs(a Alert, attempt int, err error) []any {
	return []any{
		slog.String(LogKeyRule, a.Rule),
		slog.String(LogKeyAlertState, string(a.State)),
		slog.String(LogKeyWebhookHost, w.host),
		slog.Int(LogKeyAttempt, attempt),
		slog.String(LogKeyError, Redact(err.Error())),
	}
}

// webhookBody is the JSON body of a webhook request.
type webhookBody struct {
	Rule          string        `json:"rule"`
	State         AlertState    `json:"state"`
	Value         float64       `json:"value"`
	Threshold     float64       `json:"threshold"`
	Calls         int64         `json:"calls"`
	Errors        int64         `json:"errors"`
	WindowSeconds float64       `json:"window_seconds"`
	Since         time.Time     `json:"since"`
	At            time.Time     `json:"at"`
	Filter        webhookFilter `json:"filter"`
	Category      Category      `json:"category"`
}

type webhookFilter struct {
	Endpoint  string `json:"endpoint,omitempty"`
	Provider  string `json:"provider,omitempty"`
	Model     string `json:"model,omitempty"`
	Operation string `json:"operation,omitempty"`
}

func webhookBodyOf(a Alert) webhookBody {
	return webhookBody{
		Rule:          a.Rule,
		State:         a.State,
		Value:         a.Value,
		Threshold:     a.Threshold,
		Calls:         a.Calls,
		Errors:        a.Errors,
		WindowSeconds: a.Window.Seconds(),
		Since:         a.Since.UTC(),
		At:            a.At.UTC(),
		Filter: webhookFilter{
			Endpoint:  a.Filter.Endpoint,
			Provider:  a.Filter.Provider,
			Model:     a.Filter.Model,
			Operation: a.Filter.Operation,
		},
		Category: a.Category,
	}
}
