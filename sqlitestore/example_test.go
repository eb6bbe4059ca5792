package sqlitestore_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/sqlitestore"
)

// A store is opened once per process and handed to the Manager; the file
// is created with its schema on first use.
func ExampleOpen() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	store, err := sqlitestore.Open(context.Background(), filepath.Join(dir, "sessions.db"), sqlitestore.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	var _ sessiond.Store = store // every store implements the whole contract
	fmt.Println(store.Ping(context.Background()))
	// Output:
	// <nil>
}
