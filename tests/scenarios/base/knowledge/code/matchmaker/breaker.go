package matchmaker

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// ErrOpen is returned while the breaker is open.
var ErrOpen = errors.New("circuit open")

// Breaker opens after half the calls in a window fail and closes 60 s after the first
// successful probe.
type Breaker struct {
	mu       sync.Mutex
	state    string
	failures int
	calls    int
	openedAt time.Time
}

// Call runs fn unless the breaker is open.
func (b *Breaker) Call(ctx context.Context, name string, fn func(context.Context) error) error {
	if !b.allow() {
		return ErrOpen
	}
	err := fn(ctx)
	b.record(name, err)
	return err
}

func (b *Breaker) allow() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == "OPEN" && time.Since(b.openedAt) > 60*time.Second {
		b.state = "HALF_OPEN"
	}
	return b.state != "OPEN"
}

func (b *Breaker) record(name string, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls++
	if err != nil {
		b.failures++
	}
	if b.calls >= 20 && b.failures*2 >= b.calls && b.state != "OPEN" {
		slog.Warn("circuit breaker "+name+" transitioned CLOSED -> OPEN after 50% failures")
		b.state, b.openedAt = "OPEN", time.Now()
		b.calls, b.failures = 0, 0
	}
}
