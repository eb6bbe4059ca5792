// Package accounts is sessiond's built-in user directory: it creates users,
// checks passwords at login and mints their sessions through the Manager.
// Applications with users of their own skip it and create sessions through
// the admin API.
package accounts

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/password"
)

// MinPasswordLength is the shortest password, in characters, that AddUser
// and SetPassword accept. Login checks what is stored, whatever its length.
const MinPasswordLength = 8

// MaxEmailLength is the longest email address accepted, in bytes (RFC 5321).
const MaxEmailLength = 254

// Service is the user directory. It is safe for concurrent use.
type Service struct {
	users    sessiond.UserStore
	sessions *sessiond.Manager
	hasher   *password.Hasher
	now      func() time.Time
	rand     io.Reader
	log      *slog.Logger
}

// New returns a Service. It takes the clock, random source and logger of
// the Manager's configuration.
func New(users sessiond.UserStore, sessions *sessiond.Manager, hasher *password.Hasher) *Service {
	cfg := sessions.Config()
	return &Service{users: users, sessions: sessions, hasher: hasher, now: cfg.Now, rand: cfg.Rand, log: cfg.Logger}
}

// CanonicalEmail returns the key under which an email is unique: Unicode
// NFC, lower case, surrounding spaces removed. It rejects what cannot be an
// address: invalid UTF-8, control characters (NUL included), spaces inside,
// no "@" with text on both sides, or more than MaxEmailLength bytes.
func CanonicalEmail(email string) (string, error) {
	email = strings.TrimSpace(email)
	if email == "" {
		return "", sessiond.Errorf(sessiond.CodeInvalidInput, "email is required")
	}
	if len(email) > MaxEmailLength {
		return "", sessiond.Errorf(sessiond.CodeInvalidInput, "email longer than %d bytes", MaxEmailLength)
	}
	if !utf8.ValidString(email) {
		return "", sessiond.Errorf(sessiond.CodeInvalidInput, "email is not valid UTF-8")
	}
	for _, r := range email {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return "", sessiond.Errorf(sessiond.CodeInvalidInput, "email contains a space or control character")
		}
	}
	at := strings.LastIndexByte(email, '@')
	if at <= 0 || at == len(email)-1 {
		return "", sessiond.Errorf(sessiond.CodeInvalidInput, "email must look like name@domain")
	}
	return strings.ToLower(norm.NFC.String(email)), nil
}

// CheckPassword enforces the length policy for new passwords.
func CheckPassword(pw string) error {
	if len(pw) > password.MaxLength {
		return password.ErrTooLong
	}
	if !utf8.ValidString(pw) {
		return sessiond.Errorf(sessiond.CodeInvalidInput, "password is not valid UTF-8")
	}
	if utf8.RuneCountInString(pw) < MinPasswordLength {
		return sessiond.Errorf(sessiond.CodeInvalidInput, "password shorter than %d characters", MinPasswordLength)
	}
	return nil
}

// NewUser describes a user to add.
type NewUser struct {
	Email           string
	Password        string
	TenantID        string
	NeedsOnboarding bool
	OnboardingStep  string
}

// AddUser creates a user. An email already taken, in any case or Unicode
// form, is ErrConflict.
func (s *Service) AddUser(ctx context.Context, nu NewUser) (*sessiond.User, error) {
	key, err := CanonicalEmail(nu.Email)
	if err != nil {
		return nil, err
	}
	if err := CheckPassword(nu.Password); err != nil {
		return nil, err
	}
	hash, err := s.hasher.Hash(ctx, nu.Password)
	if err != nil {
		return nil, err
	}
	id, err := sessiond.NewID(s.rand)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	u := &sessiond.User{
		ID:              id,
		Email:           strings.TrimSpace(nu.Email),
		EmailKey:        key,
		PasswordHash:    hash,
		TenantID:        nu.TenantID,
		NeedsOnboarding: nu.NeedsOnboarding,
		OnboardingStep:  nu.OnboardingStep,
		CreatedAt:       now,
		UpdatedAt:       now,
	}
	sctx, cancel := s.sessions.StoreContext(ctx)
	defer cancel()
	if err := s.users.CreateUser(sctx, u); err != nil {
		if errors.Is(err, sessiond.ErrConflict) {
			return nil, sessiond.Errorf(sessiond.CodeConflict, "a user with this email exists")
		}
		return nil, storeErr(err)
	}
	s.log.Info("user created", "user_id", u.ID, "tenant_id", u.TenantID)
	return u, nil
}

// UserByEmail returns the user with the email, in any case or Unicode form.
func (s *Service) UserByEmail(ctx context.Context, email string) (*sessiond.User, error) {
	key, err := CanonicalEmail(email)
	if err != nil {
		return nil, err
	}
	sctx, cancel := s.sessions.StoreContext(ctx)
	defer cancel()
	u, err := s.users.UserByEmailKey(sctx, key)
	if err != nil {
		return nil, storeErr(err)
	}
	return u, nil
}

// UserByID returns the user, or ErrNotFound, through the Manager's node
// cache: it is on the path of every GET of a session. The returned user must
// not be modified.
func (s *Service) UserByID(ctx context.Context, id string) (*sessiond.User, error) {
	u, err := s.sessions.User(ctx, id, s.users.UserByID)
	if err != nil {
		return nil, storeErr(err)
	}
	return u, nil
}

// updateUser stores u and drops it from the node cache.
func (s *Service) updateUser(ctx context.Context, u *sessiond.User) error {
	sctx, cancel := s.sessions.StoreContext(ctx)
	defer cancel()
	err := s.users.UpdateUser(sctx, u)
	s.sessions.InvalidateUser(u.ID)
	return err
}

// Login describes a login attempt.
type Login struct {
	Email     string
	Password  string
	IPAddress string
	UserAgent string
	// Presented is the session the client already carried, if any. It is
	// revoked once the new one exists: a login never keeps a token it was
	// given (SEC-06).
	Presented *sessiond.Session
}

// Login checks the credentials and creates a new session. Unknown email,
// wrong password and disabled user all give ErrInvalidCredentials after the
// same amount of work (SEC-15, SEC-16). The token is returned once.
func (s *Service) Login(ctx context.Context, in Login) (string, *sessiond.Session, *sessiond.User, error) {
	if len(in.Password) > password.MaxLength {
		return "", nil, nil, password.ErrTooLong
	}
	key, err := CanonicalEmail(in.Email)
	if err != nil {
		return "", nil, nil, err
	}
	sctx, cancel := s.sessions.StoreContext(ctx)
	u, err := s.users.UserByEmailKey(sctx, key)
	cancel()
	switch {
	case errors.Is(err, sessiond.ErrNotFound):
		if err := s.hasher.VerifyDummy(ctx, in.Password); err != nil {
			return "", nil, nil, err
		}
		s.log.Info("login failed", "reason", "invalid_credentials", "ip", in.IPAddress)
		return "", nil, nil, sessiond.ErrInvalidCredentials
	case err != nil:
		return "", nil, nil, storeErr(err)
	}
	ok, rehash, err := s.hasher.Verify(ctx, in.Password, u.PasswordHash)
	if err != nil {
		return "", nil, nil, err
	}
	if !ok || u.Disabled {
		s.log.Info("login failed", "reason", "invalid_credentials", "user_id", u.ID, "ip", in.IPAddress)
		return "", nil, nil, sessiond.ErrInvalidCredentials
	}
	if rehash {
		s.upgradeHash(ctx, u, in.Password)
	}
	token, sess, err := s.sessions.Create(ctx, sessiond.NewSession{
		UserID:    u.ID,
		TenantID:  u.TenantID,
		IPAddress: in.IPAddress,
		UserAgent: in.UserAgent,
	})
	if err != nil {
		return "", nil, nil, err
	}
	if in.Presented != nil {
		if err := s.sessions.Revoke(ctx, in.Presented.ID); err != nil {
			s.log.Warn("could not revoke the session presented at login", "session_id", in.Presented.ID, "err", err)
		}
	}
	s.log.Info("login", "user_id", u.ID, "session_id", sess.ID, "ip", in.IPAddress)
	return token, sess, u, nil
}

// upgradeHash stores a hash at the current parameters (SEC-17). A failure is
// logged: the login itself has succeeded.
func (s *Service) upgradeHash(ctx context.Context, u *sessiond.User, pw string) {
	hash, err := s.hasher.Hash(ctx, pw)
	if err != nil {
		s.log.Warn("password hash upgrade failed", "user_id", u.ID, "err", err)
		return
	}
	c := *u
	c.PasswordHash = hash
	c.UpdatedAt = s.now().UTC()
	if err := s.updateUser(ctx, &c); err != nil {
		s.log.Warn("password hash upgrade failed", "user_id", u.ID, "err", err)
		return
	}
	u.PasswordHash = hash
	s.log.Info("password hash upgraded", "user_id", u.ID)
}

// SetDisabled disables or enables the user with the email. Disabling
// revokes every session of the user at once (SEC-07). It returns the user
// and, when disabling, how many sessions ended.
func (s *Service) SetDisabled(ctx context.Context, email string, disabled bool) (*sessiond.User, int, error) {
	u, err := s.UserByEmail(ctx, email)
	if err != nil {
		return nil, 0, err
	}
	c := *u
	c.Disabled = disabled
	c.UpdatedAt = s.now().UTC()
	if err := s.updateUser(ctx, &c); err != nil {
		return nil, 0, storeErr(err)
	}
	n := 0
	if disabled {
		if n, err = s.sessions.RevokeUser(ctx, c.ID, ""); err != nil {
			return &c, n, err
		}
	}
	s.log.Info("user updated", "user_id", c.ID, "disabled", disabled, "sessions_revoked", n)
	return &c, n, nil
}

func storeErr(err error) error {
	if errors.Is(err, sessiond.ErrNotFound) || errors.Is(err, sessiond.ErrConflict) {
		return err
	}
	var e *sessiond.Error
	if errors.As(err, &e) {
		return err
	}
	return &sessiond.Error{Code: sessiond.CodeUnavailable, Message: sessiond.ErrUnavailable.Message, Err: err}
}
