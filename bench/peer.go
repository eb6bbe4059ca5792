package main

import (
	"net/http"
	"strings"
	"time"

	scspg "github.com/alexedwards/scs/postgresstore"
	scsredis "github.com/alexedwards/scs/redisstore"
	"github.com/alexedwards/scs/v2"
	redigo "github.com/gomodule/redigo/redis"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/sessiond/sessiond/pgstore"
)

// serveSCS is the peer: scs v2 with its in-memory store, reading one value
// from the session on every request, as an app checking "who is this" would.
func serveSCS(addr string) error {
	sm := scs.New()
	sm.Lifetime = 24 * time.Hour
	mux := http.NewServeMux()
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		sm.Put(r.Context(), "user_id", "u1")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if sm.GetString(r.Context(), "user_id") == "" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Write([]byte("ok"))
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {})
	return http.ListenAndServe(addr, sm.LoadAndSave(mux))
}

// serveSCSStore is the peer on a shared store: "redis:URL" (scs's
// redisstore on redigo) or "postgres:URL" (scs's postgresstore on pgx's
// database/sql driver, in a table it creates).
func serveSCSStore(store, addr string) error {
	sm := scs.New()
	sm.Lifetime = 24 * time.Hour
	switch {
	case strings.HasPrefix(store, "redis:"):
		u := strings.TrimPrefix(store, "redis:")
		pool := &redigo.Pool{MaxIdle: 64, Dial: func() (redigo.Conn, error) { return redigo.DialURL(u) }}
		sm.Store = scsredis.New(pool)
	case strings.HasPrefix(store, "postgres:"):
		u := strings.TrimPrefix(store, "postgres:")
		cfg, err := pgx.ParseConfig(u)
		if err != nil {
			return err
		}
		schema := cfg.RuntimeParams["search_path"]
		db := stdlib.OpenDB(*cfg)
		// The pool sessiond's nodes have (pgstore.DefaultMaxConns): the
		// same budget for both, and with the four sessiond processes of
		// the round it fits a default max_connections (100); 64 did not
		// ("too many clients" in the peer's turns). Its connections also
		// close once idle, between its turns.
		db.SetMaxOpenConns(pgstore.DefaultMaxConns)
		db.SetMaxIdleConns(pgstore.DefaultMaxConns)
		db.SetConnMaxIdleTime(time.Second)
		for _, q := range []string{"CREATE SCHEMA IF NOT EXISTS " + pgx.Identifier{schema}.Sanitize(),
			`CREATE TABLE IF NOT EXISTS sessions (token TEXT PRIMARY KEY, data BYTEA NOT NULL, expiry TIMESTAMPTZ NOT NULL)`,
			`CREATE INDEX IF NOT EXISTS sessions_expiry_idx ON sessions (expiry)`} {
			if _, err := db.Exec(q); err != nil {
				return err
			}
		}
		sm.Store = scspg.NewWithCleanupInterval(db, 0)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) { sm.Put(r.Context(), "user_id", "u1") })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if sm.GetString(r.Context(), "user_id") == "" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Write([]byte("ok"))
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {})
	return http.ListenAndServe(addr, sm.LoadAndSave(mux))
}

func scsLogin(url string) string {
	res, err := http.Get(url + "/login")
	if err != nil {
		fail(err)
	}
	res.Body.Close()
	for _, c := range res.Cookies() {
		if c.Name == "session" {
			return "session=" + c.Value
		}
	}
	failf("scs login set no cookie")
	return ""
}
