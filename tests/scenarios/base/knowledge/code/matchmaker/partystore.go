package matchmaker

import (
	"context"
	"database/sql"
)

// PartyStore reads party state from prod-match-db. The pool is DB_POOL_SIZE connections per
// pod (default 10); with 12 replicas that is 120 of the instance's max_connections.
type PartyStore struct {
	db *sql.DB
}

// OpenPartyStore opens the pool with poolSize connections.
func OpenPartyStore(dsn string, poolSize int) (*PartyStore, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(poolSize)
	db.SetMaxIdleConns(poolSize / 2)
	return &PartyStore{db: db}, nil
}

// LoadParty reads a party and its members.
func (s *PartyStore) LoadParty(ctx context.Context, id string) (Party, error) {
	var p Party
	row := s.db.QueryRowContext(ctx, `SELECT id, leader_id, members FROM parties WHERE id = $1`, id)
	err := row.Scan(&p.ID, &p.LeaderID, &p.Members)
	return p, err
}

// InsertTicket stores a ticket when redis-sessions is unavailable.
func (s *PartyStore) InsertTicket(ctx context.Context, t Ticket) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO tickets (id, party_id, region, created_at) VALUES ($1, $2, $3, $4)`,
		t.ID, t.PartyID, t.Region, t.CreatedAt)
	return err
}
