package history

import (
	"encoding/json"
	"net/http"

	"github.com/redis/go-redis/v9"
)

// Handler serves GET /v1/history/{player}.
type Handler struct {
	cache *redis.Client
	store *Store
}

// ServeHTTP answers from redis-history, then prod-match-db; a cache error is a 500 because
// the database cannot carry the read load alone.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	player := r.PathValue("player")
	cached, err := h.cache.Get(r.Context(), "history:"+player).Bytes()
	if err == nil {
		w.Header().Set("content-type", "application/json")
		_, _ = w.Write(cached)
		return
	}
	if err != redis.Nil {
		http.Error(w, "redis-history: "+err.Error(), http.StatusInternalServerError)
		return
	}
	matches, err := h.store.Recent(r.Context(), player, 50)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	_ = json.NewEncoder(w).Encode(matches)
}
