package redisstore_test

import (
	"context"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/redistest"
	"github.com/sessiond/sessiond/redisstore"
	"github.com/sessiond/sessiond/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) sessiond.Store {
		url, prefix := redistest.Prefix(t)
		s, err := redisstore.Open(context.Background(), url, redisstore.Options{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
