package matchmaker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrQueueFull is returned when a region's queue holds more tickets than it can match.
var ErrQueueFull = errors.New("matchmaking queue full")

// Queue holds matchmaking tickets per region in redis-sessions.
type Queue struct {
	rdb     *redis.Client
	db      *PartyStore
	breaker *Breaker
	maxSize int64
}

// NewQueue connects to redis-sessions at addr.
func NewQueue(addr string, db *PartyStore, breaker *Breaker) *Queue {
	return &Queue{
		rdb:     redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 500 * time.Millisecond, PoolSize: 64}),
		db:      db,
		breaker: breaker,
		maxSize: 200_000,
	}
}

// Enqueue adds a ticket for a party. If redis-sessions is unavailable it falls back to reading
// party state from prod-match-db, which holds a database connection for the whole request.
func (q *Queue) Enqueue(ctx context.Context, t Ticket) error {
	size, err := q.rdb.ZCard(ctx, t.Region).Result()
	if err != nil {
		party, dbErr := q.db.LoadParty(ctx, t.PartyID)
		if dbErr != nil {
			return fmt.Errorf("redis-sessions: %w; fallback: %v", err, dbErr)
		}
		t.Members = party.Members
		return q.enqueueDirect(ctx, t)
	}
	if size >= q.maxSize {
		return ErrQueueFull
	}
	return q.rdb.ZAdd(ctx, t.Region, redis.Z{Score: float64(t.CreatedAt.UnixMilli()), Member: t.ID}).Err()
}

// enqueueDirect writes the ticket to prod-match-db when the cache is down.
func (q *Queue) enqueueDirect(ctx context.Context, t Ticket) error {
	return q.db.InsertTicket(ctx, t)
}

// Match pops up to n tickets of similar skill from a region.
func (q *Queue) Match(ctx context.Context, region string, n int) ([]Ticket, error) {
	ids, err := q.rdb.ZPopMin(ctx, region, int64(n)).Result()
	if err != nil {
		return nil, fmt.Errorf("redis-sessions: %w", err)
	}
	tickets := make([]Ticket, 0, len(ids))
	for _, z := range ids {
		tickets = append(tickets, Ticket{ID: z.Member.(string)})
	}
	return tickets, nil
}

// NotifyParty tells party-service a match was found, through the circuit breaker.
func (q *Queue) NotifyParty(ctx context.Context, partyID string, matchID string) error {
	return q.breaker.Call(ctx, "party-service", func(ctx context.Context) error {
		return postJSON(ctx, "http://party-service/v1/parties/"+partyID+"/match", map[string]string{"match_id": matchID})
	})
}
