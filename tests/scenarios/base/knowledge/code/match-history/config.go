package history

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

// Config of match-history, read from the environment.
type Config struct {
	RedisAddr   string // REDIS_ADDR, e.g. redis-history:6379
	DatabaseURL string // DATABASE_URL of prod-match-db (read-only role)
	CacheTTL    time.Duration
	Port        int
}

// LoadConfig reads and validates the environment. A REDIS_ADDR on a port other than 6379 is
// accepted (staging uses 6380), so a wrong port is only noticed on the first connection.
func LoadConfig() (Config, error) {
	c := Config{
		RedisAddr:   os.Getenv("REDIS_ADDR"),
		DatabaseURL: os.Getenv("DATABASE_URL"),
		CacheTTL:    10 * time.Minute,
		Port:        8080,
	}
	if c.RedisAddr == "" {
		return c, fmt.Errorf("REDIS_ADDR is required")
	}
	if ttl := os.Getenv("CACHE_TTL_SECONDS"); ttl != "" {
		secs, err := strconv.Atoi(ttl)
		if err != nil {
			return c, fmt.Errorf("CACHE_TTL_SECONDS: %w", err)
		}
		c.CacheTTL = time.Duration(secs) * time.Second
	}
	return c, nil
}
