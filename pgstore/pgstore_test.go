package pgstore_test

import (
	"context"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/pgtest"
	"github.com/sessiond/sessiond/pgstore"
	"github.com/sessiond/sessiond/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) sessiond.Store {
		url, schema := pgtest.Schema(t, "sessiond_test_")
		s, err := pgstore.Open(context.Background(), url, pgstore.Options{Schema: schema, MaxConns: 8})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() }) // runs before the schema is dropped
		return s
	})
}
