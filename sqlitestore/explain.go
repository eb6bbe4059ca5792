package sqlitestore

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrNotDatabase is returned, wrapped, by Open for a file that exists but
// is not an SQLite database.
var ErrNotDatabase = errors.New("not an SQLite database")

// explainOpen says why path could not be opened when the driver's own
// error ("unable to open database file") does not: a missing directory, a
// permission, a file that is no database. It wraps the cause it found
// (fs.ErrNotExist, fs.ErrPermission, ErrNotDatabase) and the driver's
// error; it returns nil when it finds nothing wrong.
func explainOpen(path string) error {
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("the directory %s does not exist (create it, or give --store another path): %w", dir, fs.ErrNotExist)
	case err != nil:
		return fmt.Errorf("the directory %s cannot be read: %w", dir, err)
	case !st.IsDir():
		return fmt.Errorf("%s is not a directory", dir)
	}
	st, err = os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		// The file will be created: the directory must take it.
		f, err := os.CreateTemp(dir, ".sessiond-probe-*")
		if err != nil {
			return fmt.Errorf("cannot create the database in %s: %w", dir, err)
		}
		f.Close()
		os.Remove(f.Name())
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s cannot be read: %w", path, err)
	}
	if st.IsDir() {
		return fmt.Errorf("%s is a directory, not a database file", path)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("%s cannot be opened for writing by this user: %w", path, err)
	}
	defer f.Close()
	head := make([]byte, 16)
	n, _ := io.ReadFull(f, head)
	if n > 0 && !bytes.Equal(head[:n], []byte("SQLite format 3\x00")[:n]) || n > 0 && n < 16 {
		return fmt.Errorf("%s: %w (it is %d bytes that do not start as one); give --store another path", path, ErrNotDatabase, st.Size())
	}
	return nil
}
