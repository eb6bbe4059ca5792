package accounts

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/sessiond/sessiond"
)

// Import caps: one call reads at most MaxImportLines users, each line at
// most MaxImportLineBytes.
const (
	MaxImportLines     = 100_000
	MaxImportLineBytes = 16 << 10
)

// ImportRecord is one line of an import: a user of an existing backend,
// with its password hash in the backend's format (see password.Check for
// the formats and their cost caps). Without password_hash the user is
// external (no password here; see Account).
type ImportRecord struct {
	ID              string          `json:"id"`
	Email           string          `json:"email"`
	TenantID        string          `json:"tenant_id"`
	NeedsOnboarding bool            `json:"needs_onboarding"`
	OnboardingStep  string          `json:"onboarding_step"`
	Attributes      json.RawMessage `json:"attributes"`
	PasswordHash    string          `json:"password_hash"`

	// Line is where the record was read (from 1); errors name it.
	Line int `json:"-"`
}

// ImportError names the line (from 1) an import refused, and why.
type ImportError struct {
	Line int
	Err  error
}

func (e *ImportError) Error() string {
	var se *sessiond.Error
	if errors.As(e.Err, &se) {
		return fmt.Sprintf("line %d: %s", e.Line, se.Message)
	}
	return fmt.Sprintf("line %d: %v", e.Line, e.Err)
}

func (e *ImportError) Unwrap() error { return e.Err }

// ReadImport reads JSON Lines (one object a line; blank lines skipped) or,
// when the first non-space byte is '[', one JSON array of objects. Each
// object is decoded strictly: bounded depth, no duplicate or unknown keys.
// The line of an array element is its index from 1.
func ReadImport(r io.Reader) ([]ImportRecord, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	first, err := peekNonSpace(br)
	if err != nil {
		return nil, err
	}
	var raws []json.RawMessage
	var lines []int
	if first == '[' {
		body, err := io.ReadAll(io.LimitReader(br, MaxImportLines*MaxImportLineBytes+1))
		if err != nil {
			return nil, err
		}
		if err := sessiond.CheckJSON(body, sessiond.MaxJSONDepth); err != nil {
			return nil, sessiond.Errorf(sessiond.CodeInvalidInput, "the import is not a valid JSON array")
		}
		if err := json.Unmarshal(body, &raws); err != nil {
			return nil, sessiond.Errorf(sessiond.CodeInvalidInput, "the import is not a JSON array of objects")
		}
		for i := range raws {
			lines = append(lines, i+1)
		}
	} else {
		sc := bufio.NewScanner(br)
		sc.Buffer(make([]byte, 0, 64<<10), MaxImportLineBytes)
		for n := 1; sc.Scan(); n++ {
			if len(bytes.TrimSpace(sc.Bytes())) == 0 {
				continue
			}
			raws = append(raws, append(json.RawMessage(nil), sc.Bytes()...))
			lines = append(lines, n)
			if len(raws) > MaxImportLines {
				return nil, &ImportError{n, sessiond.Errorf(sessiond.CodeInvalidInput, "more than %d users in one import; split it", MaxImportLines)}
			}
		}
		if err := sc.Err(); err != nil {
			if errors.Is(err, bufio.ErrTooLong) {
				return nil, &ImportError{len(lines) + 1, sessiond.Errorf(sessiond.CodeInvalidInput, "line longer than %d bytes", MaxImportLineBytes)}
			}
			return nil, err
		}
	}
	if len(raws) > MaxImportLines {
		return nil, sessiond.Errorf(sessiond.CodeInvalidInput, "more than %d users in one import; split it", MaxImportLines)
	}
	recs := make([]ImportRecord, len(raws))
	for i, raw := range raws {
		if err := decodeRecord(raw, &recs[i]); err != nil {
			return nil, &ImportError{lines[i], err}
		}
		recs[i].Line = lines[i]
	}
	return recs, nil
}

func peekNonSpace(br *bufio.Reader) (byte, error) {
	for {
		b, err := br.ReadByte()
		if errors.Is(err, io.EOF) {
			return 0, nil
		}
		if err != nil {
			return 0, err
		}
		if b != ' ' && b != '\t' && b != '\r' && b != '\n' {
			return b, br.UnreadByte()
		}
	}
}

var recordFields = map[string]bool{"id": true, "email": true, "tenant_id": true, "needs_onboarding": true,
	"onboarding_step": true, "attributes": true, "password_hash": true}

func decodeRecord(raw json.RawMessage, rec *ImportRecord) error {
	if len(raw) > MaxImportLineBytes {
		return sessiond.Errorf(sessiond.CodeInvalidInput, "longer than %d bytes", MaxImportLineBytes)
	}
	if err := sessiond.CheckJSON(raw, sessiond.MaxJSONDepth); err != nil {
		var e *sessiond.Error
		if errors.As(err, &e) {
			return err
		}
		return sessiond.Errorf(sessiond.CodeInvalidInput, "not valid JSON")
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil {
		return sessiond.Errorf(sessiond.CodeInvalidInput, "not a JSON object")
	}
	for k := range members {
		if !recordFields[k] {
			return sessiond.Errorf(sessiond.CodeInvalidInput, "unknown field %q", k)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(rec); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return sessiond.Errorf(sessiond.CodeInvalidInput, "field %q must be %s", typeErr.Field, typeErr.Type)
		}
		return sessiond.Errorf(sessiond.CodeInvalidInput, "not valid JSON")
	}
	return nil
}

// ImportResult reports an import.
type ImportResult struct {
	Created int `json:"created"`
}

// Import creates the users of recs. Every record is checked first, and
// nothing is written unless all pass: a malformed record, an unknown hash
// format or a hash above the cost caps, an email or id given twice in the
// import, or an email or id that the store already holds is refused with
// its line number (an *ImportError). Then the users are created in order;
// should a concurrent writer take an email meanwhile, that line's error
// says how many were created before it.
func (s *Service) Import(ctx context.Context, recs []ImportRecord) (ImportResult, error) {
	users := make([]*sessiond.User, len(recs))
	seenKey, seenID := map[string]int{}, map[string]int{}
	line := func(i int) int {
		if recs[i].Line > 0 {
			return recs[i].Line
		}
		return i + 1
	}
	for i, rec := range recs {
		line := line(i)
		if rec.Email == "" {
			return ImportResult{}, &ImportError{line, sessiond.Errorf(sessiond.CodeInvalidInput, "email is required")}
		}
		u, err := s.prepare(Account{ID: rec.ID, Email: rec.Email, TenantID: rec.TenantID, NeedsOnboarding: rec.NeedsOnboarding,
			OnboardingStep: rec.OnboardingStep, Attributes: rec.Attributes, PasswordHash: rec.PasswordHash})
		if err != nil {
			return ImportResult{}, &ImportError{line, err}
		}
		if first, ok := seenKey[u.EmailKey]; ok {
			return ImportResult{}, &ImportError{line, sessiond.Errorf(sessiond.CodeConflict, "email given again (first on line %d)", first)}
		}
		if first, ok := seenID[u.ID]; ok {
			return ImportResult{}, &ImportError{line, sessiond.Errorf(sessiond.CodeConflict, "id given again (first on line %d)", first)}
		}
		seenKey[u.EmailKey], seenID[u.ID] = line, line
		users[i] = u
	}
	for i, u := range users {
		if err := s.taken(ctx, u); err != nil {
			return ImportResult{}, &ImportError{line(i), err}
		}
	}
	var res ImportResult
	for i, u := range users {
		err := s.users.CreateUser(ctx, u)
		if errors.Is(err, sessiond.ErrConflict) {
			err = sessiond.Errorf(sessiond.CodeConflict, "email or id taken meanwhile; the %d users before this line were created", res.Created)
		}
		if err != nil {
			return res, &ImportError{line(i), storeErr(err)}
		}
		res.Created++
	}
	s.log.Info("users imported", "count", res.Created)
	return res, nil
}

// taken reports a conflict when the store holds u's id or email key.
func (s *Service) taken(ctx context.Context, u *sessiond.User) error {
	if _, err := s.users.UserByID(ctx, u.ID); err == nil {
		return sessiond.Errorf(sessiond.CodeConflict, "a user with id %q exists", u.ID)
	} else if !errors.Is(err, sessiond.ErrNotFound) {
		return storeErr(err)
	}
	if _, err := s.users.UserByEmailKey(ctx, u.EmailKey); err == nil {
		return sessiond.Errorf(sessiond.CodeConflict, "a user with this email exists")
	} else if !errors.Is(err, sessiond.ErrNotFound) {
		return storeErr(err)
	}
	return nil
}
