package pgstore

import (
	"context"
	"testing"

	"github.com/sessiond/sessiond/internal/pgtest"
)

// TestOpen_PoolSize: DefaultMaxConns unless the URL's pool_max_conns or
// Options.MaxConns says otherwise, Options first.
func TestOpen_PoolSize(t *testing.T) {
	url, schema := pgtest.Schema(t, "sessiond_test_")
	for _, c := range []struct {
		url  string
		opt  int32
		want int32
	}{
		{url, 0, DefaultMaxConns},
		{url + "&pool_max_conns=5", 0, 5},
		{url + "&pool_max_conns=5", 7, 7},
		{url, 3, 3},
	} {
		s, err := Open(context.Background(), c.url, Options{Schema: schema, MaxConns: c.opt})
		if err != nil {
			t.Fatal(err)
		}
		got := s.pool.Config().MaxConns
		s.Close()
		if got != c.want {
			t.Errorf("%s with MaxConns %d: a pool of %d, want %d", c.url, c.opt, got, c.want)
		}
	}
}
