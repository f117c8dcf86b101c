package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/aimeter/aimeter/ratelimit"
	"github.com/aimeter/aimeter/ratelimit/redislimit"
	"github.com/redis/go-redis/v9"
)

// redisConnectTimeout bounds the first PING to the Redis server.
const redisConnectTimeout = 5 * time.Second

// openRedis connects to the Redis server at addr and returns the client and
// a function that builds the route limits on it, so every replica of the
// server shares them. A limit that cannot reach
// Redis fails open, as redislimit does by default, and is counted under the
// rule's name with a ":degraded" suffix.
//
// timeout bounds each decision; past it, the decision fails open.
func openRedis(addr string, timeout time.Duration, logger *slog.Logger) (*redis.Client, func(api, agent, stream ratelimit.Rule) routeLimits, error) {
	// ContextTimeoutEnabled makes go-redis honour each decision's timeout
	// on the connection itself.
	client := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	ctx, cancel := context.WithTimeout(context.Background(), redisConnectTimeout)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		_ = client.Close()
		return nil, nil, fmt.Errorf("connect to redis at %s: %w", addr, err)
	}
	build := func(api, agent, stream ratelimit.Rule) routeLimits {
		// The logger reports when Redis stops responding in time and the
		// limits fail open, and when it recovers.
		opts := []redislimit.Option{redislimit.WithTimeout(timeout), redislimit.WithLogger(logger)}
		chat := redislimit.New(client, []ratelimit.Rule{api}, opts...)
		// The API rule's keys are the same in both limiters, so a stream
		// spends from the same API budget as a plain chat, atomically with
		// the streaming rule.
		streamed := redislimit.New(client, []ratelimit.Rule{api, stream}, opts...)
		agents := redislimit.New(client, []ratelimit.Rule{agent}, opts...)
		return routeLimits{
			chat:   chat,
			stream: streamed,
			agent:  agents,
			reporters: []ratelimit.StatsReporter{
				chat, streamed, agents,
				chat.Degraded(), streamed.Degraded(), agents.Degraded(),
			},
		}
	}
	return client, build, nil
}
