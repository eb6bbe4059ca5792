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
	"strconv"
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
	counters sessiond.CounterStore
	devices  sessiond.DeviceStore
	sessions *sessiond.Manager
	hasher   *password.Hasher
	throttle Throttle
	delegate *Delegate
	now      func() time.Time
	rand     io.Reader
	log      *slog.Logger
}

// New returns a Service. It takes the clock, random source and logger of
// the Manager's configuration; zero fields of throttle take their defaults.
func New(store sessiond.Store, sessions *sessiond.Manager, hasher *password.Hasher, throttle Throttle) *Service {
	cfg := sessions.Config()
	throttle.setDefaults()
	store = sessions.Bound(store) // every call bounded and observed as the Manager's are
	return &Service{users: store, counters: store, devices: store, sessions: sessions, hasher: hasher,
		throttle: throttle, now: cfg.Now, rand: cfg.Rand, log: cfg.Logger}
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

// UserParams describes a user to add.
type UserParams struct {
	Email           string
	Password        string
	TenantID        string
	NeedsOnboarding bool
	OnboardingStep  string
}

// AddUser creates a user. An email already taken, in any case or Unicode
// form, is ErrConflict.
func (s *Service) AddUser(ctx context.Context, nu UserParams) (*sessiond.User, error) {
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
	if err := s.users.CreateUser(ctx, u); err != nil {
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
	u, err := s.users.UserByEmailKey(ctx, key)
	if err != nil {
		return nil, storeErr(err)
	}
	return u, nil
}

// SessionUser returns the user of the session, or ErrNotFound for a session
// the application created for a user of its own: the user read together with
// the session when the store could, else through the Manager's node cache.
// It is on the path of every GET of a session. The returned user must not be
// modified, and holds no password hash (sessiond.PasswordHashWithheld).
func (s *Service) SessionUser(ctx context.Context, sess *sessiond.Session) (*sessiond.User, error) {
	u, err := s.sessions.SessionUser(ctx, sess, s.users.UserByID)
	if err != nil {
		return nil, storeErr(err)
	}
	return u, nil
}

// UserByID returns the user, or ErrNotFound, through the Manager's node
// cache: it is on the path of every GET of a session. The returned user must
// not be modified, and holds no password hash (sessiond.PasswordHashWithheld):
// a password is checked against the user read from the store.
func (s *Service) UserByID(ctx context.Context, id string) (*sessiond.User, error) {
	u, err := s.sessions.User(ctx, id, s.users.UserByID)
	if err != nil {
		return nil, storeErr(err)
	}
	return u, nil
}

// updateUser stores u; the bound store drops it from the node cache.
func (s *Service) updateUser(ctx context.Context, u *sessiond.User) error {
	return s.users.UpdateUser(ctx, u)
}

// Login describes a login attempt.
type Login struct {
	Email     string
	Password  string
	IPAddress string
	UserAgent string
	// Presented, when set, returns the live sessions the client already
	// carried (one, or several when cookies were planted on a parent
	// domain). It is called only once the new session exists, so that a
	// refused or throttled login costs no lookups of them, and they are
	// revoked: a login never keeps a token it was given (SEC-06, SEC-33).
	Presented func(context.Context) []*sessiond.Session
	// EndOldestSession asks, for a user at the per-user cap of a Manager
	// that refuses logins there (sessiond.Config.RefuseAtLimit), to end
	// the user's least recently active session to make room, as the evict
	// policy would: a user who lost the device holding the other session is
	// not locked out. It applies only once the password is proved; the
	// ended session is an audit event (session_revoked, reason
	// session_limit, by login). Without a cap, or with the evict policy,
	// it changes nothing.
	EndOldestSession bool
}

// Login checks the credentials and creates a new session. Unknown email,
// wrong password and disabled user all give ErrInvalidCredentials after the
// same amount of work (SEC-15, SEC-16); repeated failures are throttled per
// account and per address (SEC-14). The token is returned once.
func (s *Service) Login(ctx context.Context, in Login) (string, *sessiond.Session, *sessiond.User, error) {
	if len(in.Password) > password.MaxLength {
		return "", nil, nil, password.ErrTooLong
	}
	key, err := CanonicalEmail(in.Email)
	if err != nil {
		return "", nil, nil, err
	}
	keys := s.throttleKeys(key, in.IPAddress)
	if err := s.reserve(ctx, keys, in.IPAddress); err != nil {
		return "", nil, nil, err
	}
	u, err := s.check(ctx, key, strings.TrimSpace(in.Email), in.Password)
	if errors.Is(err, sessiond.ErrInvalidCredentials) {
		// The reserved attempt stays counted: it was a failure.
		userID := ""
		if u != nil {
			userID = u.ID
		}
		s.sessions.Record(context.WithoutCancel(ctx), sessiond.Event{Type: sessiond.EventLoginFailed, UserID: userID, IPAddress: in.IPAddress, UserAgent: in.UserAgent})
		return "", nil, nil, err
	}
	if err != nil {
		s.release(ctx, keys) // never checked (busy, store down): not a failure
		return "", nil, nil, err
	}
	s.succeeded(ctx, keys)
	params := sessiond.SessionParams{
		UserID:    u.ID,
		TenantID:  u.TenantID,
		IPAddress: in.IPAddress,
		UserAgent: in.UserAgent,
	}
	token, sess, err := s.sessions.Create(ctx, params)
	// At a cap that refuses, end the least recently active session and
	// try again: a few times, since a parallel login of the same user may
	// take the room first (the store never lets the cap be exceeded).
	for try := 0; try < 3 && in.EndOldestSession && errors.Is(err, sessiond.ErrLimitReached); try++ {
		if ended, eerr := s.endOldest(ctx, u.ID, in); eerr != nil || !ended {
			if eerr != nil {
				err = eerr
			}
			break
		}
		token, sess, err = s.sessions.Create(ctx, params)
	}
	if err != nil {
		return "", nil, nil, err
	}
	// A disable or a password change may have landed between the check
	// and the session (#16.1): it updates the user, then revokes. The
	// session either existed when that revocation ran (and is gone), or
	// was made after it, and so after the update, which this fresh read
	// then sees. A session for a user that is no longer what was checked
	// is ended at once: no login in flight survives.
	if err := s.stillValid(ctx, u, in.Password); err != nil {
		if rerr := s.sessions.Revoke(context.WithoutCancel(ctx), sess.ID); rerr != nil {
			s.log.Warn("could not end a session whose user changed during the login", "session_id", sess.ID, "err", rerr)
			return "", nil, nil, rerr
		}
		return "", nil, nil, err
	}
	var presented []*sessiond.Session
	if in.Presented != nil {
		presented = in.Presented(context.WithoutCancel(ctx))
	}
	for _, p := range presented {
		if err := s.sessions.Revoke(context.WithoutCancel(ctx), p.ID); err != nil {
			s.log.Warn("could not revoke a session presented at login", "session_id", p.ID, "err", err)
		}
	}
	// The session exists: its bookkeeping survives the client going away.
	ctx = context.WithoutCancel(ctx)
	s.sessions.Record(ctx, sessiond.Event{Type: sessiond.EventLogin, UserID: u.ID, SessionID: sess.ID, IPAddress: in.IPAddress, UserAgent: in.UserAgent})
	s.noteDevice(ctx, sess)
	return token, sess, u, nil
}

// endOldest ends the user's least recently active live session, for a
// login that proved the password at a cap that refuses (Login's
// EndOldestSession). ended is false when there was none to end.
func (s *Service) endOldest(ctx context.Context, userID string, in Login) (ended bool, err error) {
	live, err := s.sessions.List(ctx, userID)
	if err != nil || len(live) == 0 {
		return false, err
	}
	oldest := live[len(live)-1] // most recently active first
	if err := s.sessions.Revoke(context.WithoutCancel(ctx), oldest.ID); err != nil {
		return false, err
	}
	s.sessions.Record(context.WithoutCancel(ctx), sessiond.Event{Type: sessiond.EventRevoked, UserID: userID, SessionID: oldest.ID,
		IPAddress: in.IPAddress, UserAgent: in.UserAgent, Detail: map[string]string{"reason": "session_limit", "by": "login"}})
	return true, nil
}

// stillValid reads u again from the store, past every cache, and reports
// ErrInvalidCredentials when it is gone, disabled, or holds a password
// hash other than the one pw was checked against that pw does not match
// (a password change; a hash upgraded meanwhile by a parallel login still
// matches pw, so that login is kept).
func (s *Service) stillValid(ctx context.Context, u *sessiond.User, pw string) error {
	now, err := s.users.UserByID(ctx, u.ID)
	switch {
	case errors.Is(err, sessiond.ErrNotFound):
		return sessiond.ErrInvalidCredentials
	case err != nil:
		return storeErr(err)
	case now.Disabled:
		return sessiond.ErrInvalidCredentials
	case now.PasswordHash == u.PasswordHash || u.PasswordHash == "" && now.PasswordHash == "":
		return nil
	}
	ok, _, err := s.hasher.Verify(ctx, pw, now.PasswordHash)
	if err != nil {
		return err
	}
	if !ok {
		return sessiond.ErrInvalidCredentials
	}
	return nil
}

// verify checks a password for the user with the email key. It returns
// ErrInvalidCredentials, after a full hash either way, for an unknown user,
// a wrong password or a disabled user; the user is returned beside it when
// one exists, for the audit trail.
func (s *Service) verify(ctx context.Context, key, pw string) (*sessiond.User, error) {
	u, err := s.users.UserByEmailKey(ctx, key)
	switch {
	case errors.Is(err, sessiond.ErrNotFound):
		if err := s.hasher.VerifyDummy(ctx, pw); err != nil {
			return nil, err
		}
		return nil, sessiond.ErrInvalidCredentials
	case err != nil:
		return nil, storeErr(err)
	case u.PasswordHash == "":
		// A user that a trusted backend vouched for has no password here.
		if err := s.hasher.VerifyDummy(ctx, pw); err != nil {
			return nil, err
		}
		return u, sessiond.ErrInvalidCredentials
	}
	ok, rehash, err := s.hasher.Verify(ctx, pw, u.PasswordHash)
	if err != nil {
		return nil, err
	}
	if !ok || u.Disabled {
		return u, sessiond.ErrInvalidCredentials
	}
	if rehash {
		s.upgradeHash(ctx, u, pw)
	}
	return u, nil
}

// noteDevice records the session's device and raises new_device when the
// user never signed in from it before.
func (s *Service) noteDevice(ctx context.Context, sess *sessiond.Session) {
	isNew, err := s.devices.SeenDevice(ctx, sess.UserID, sessiond.DeviceFingerprint(sess.UserAgent), sess.CreatedAt)
	if err != nil {
		s.log.Warn("device not recorded", "session_id", sess.ID, "err", err)
		return
	}
	if isNew {
		s.sessions.Record(ctx, sessiond.Event{Type: sessiond.EventNewDevice, UserID: sess.UserID, SessionID: sess.ID,
			IPAddress: sess.IPAddress, UserAgent: sess.UserAgent, Detail: map[string]string{"device": sess.Device()}})
	}
}

// Reauthenticate checks the password of the session's user and rotates the
// session with a fresh authentication time (SEC-12). A wrong password is
// ErrWrongPassword and counts toward the account's throttle.
func (s *Service) Reauthenticate(ctx context.Context, sess *sessiond.Session, pw string, c sessiond.Client) (string, *sessiond.Session, error) {
	if _, err := s.checkOwnPassword(ctx, sess, pw, c); err != nil {
		return "", nil, err
	}
	token, n, err := s.sessions.Reauthenticate(ctx, sess)
	if err != nil {
		return "", nil, err
	}
	s.sessions.Record(ctx, sessiond.Event{Type: sessiond.EventReauth, UserID: n.UserID, SessionID: n.ID, IPAddress: c.IPAddress, UserAgent: c.UserAgent})
	return token, n, nil
}

// ChangePassword sets a new password for the session's user. It needs a
// recent authentication and the current password; it rotates the current
// session and ends every other session of the user (SEC-07).
func (s *Service) ChangePassword(ctx context.Context, sess *sessiond.Session, current, next string, c sessiond.Client) (string, *sessiond.Session, error) {
	if err := s.sessions.RequireRecentAuth(sess); err != nil {
		return "", nil, err
	}
	if err := CheckPassword(next); err != nil {
		return "", nil, err
	}
	u, err := s.checkOwnPassword(ctx, sess, current, c)
	if err != nil {
		return "", nil, err
	}
	if u.PasswordHash == "" {
		return "", nil, sessiond.Errorf(sessiond.CodeInvalidInput, "this user's password is managed by the application, not here")
	}
	hash, err := s.hasher.Hash(ctx, next)
	if err != nil {
		return "", nil, err
	}
	updated := *u
	updated.PasswordHash, updated.UpdatedAt = hash, s.now().UTC()
	if err := s.updateUser(ctx, &updated); err != nil {
		return "", nil, storeErr(err)
	}
	token, n, err := s.sessions.Reauthenticate(ctx, sess)
	if err != nil {
		// The password has changed, but this session could not carry on
		// (its token replaced meanwhile, or the store failed): every
		// session of the user ends, this one too, rather than leaving the
		// others alive (SEC-07).
		if _, rerr := s.sessions.RevokeUser(context.WithoutCancel(ctx), u.ID, ""); rerr != nil {
			return "", nil, rerr
		}
		return "", nil, err
	}
	revoked, err := s.sessions.RevokeUser(ctx, n.UserID, n.ID)
	if err != nil {
		return "", nil, err
	}
	s.sessions.Record(ctx, sessiond.Event{Type: sessiond.EventPasswordChanged, UserID: n.UserID, SessionID: n.ID,
		IPAddress: c.IPAddress, UserAgent: c.UserAgent, Detail: map[string]string{"sessions_revoked": strconv.Itoa(revoked)}})
	return token, n, nil
}

// ErrWrongPassword answers a wrong password from a signed-in user: 403, so
// that a front end does not read it as "signed out".
var ErrWrongPassword = sessiond.Errorf(sessiond.CodeWrongPassword, "the password is not correct")

// checkOwnPassword verifies the password of the session's user, throttled
// like a login.
func (s *Service) checkOwnPassword(ctx context.Context, sess *sessiond.Session, pw string, c sessiond.Client) (*sessiond.User, error) {
	if len(pw) > password.MaxLength {
		return nil, password.ErrTooLong
	}
	// From the store, not the node cache: the throttle keys and the
	// account the password is checked against are the user's as they are
	// now (a cached email key may have moved to another account).
	u, err := s.User(ctx, sess.UserID)
	if errors.Is(err, sessiond.ErrNotFound) || err == nil && u.PasswordHash == "" && !s.delegates(u) {
		return nil, sessiond.Errorf(sessiond.CodeInvalidInput, "this session's user has no password here")
	}
	if err != nil {
		return nil, err
	}
	keys := s.throttleKeys(u.EmailKey, c.IPAddress)
	if err := s.reserve(ctx, keys, c.IPAddress); err != nil {
		return nil, err
	}
	if u.PasswordHash == "" {
		u, err = s.reverify(ctx, u, pw)
	} else {
		u, err = s.verify(ctx, u.EmailKey, pw)
		// If the email has moved to another account since the read
		// above, the password checked was that account's, and it proves
		// nothing about this session's user.
		if err == nil && u.ID != sess.UserID {
			u, err = nil, sessiond.ErrInvalidCredentials
		}
	}
	switch {
	case errors.Is(err, sessiond.ErrInvalidCredentials):
		return nil, ErrWrongPassword
	case err != nil:
		s.release(ctx, keys)
	default:
		s.succeeded(ctx, keys)
	}
	return u, err
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
	u.PasswordHash, u.Version = hash, c.Version
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
	return s.setDisabled(ctx, u, disabled)
}

// SetDisabledByID is SetDisabled for the user with the id.
func (s *Service) SetDisabledByID(ctx context.Context, id string, disabled bool) (*sessiond.User, int, error) {
	u, err := s.users.UserByID(ctx, id)
	if err != nil {
		return nil, 0, storeErr(err)
	}
	return s.setDisabled(ctx, u, disabled)
}

func (s *Service) setDisabled(ctx context.Context, u *sessiond.User, disabled bool) (*sessiond.User, int, error) {
	c := *u
	c.Disabled = disabled
	c.UpdatedAt = s.now().UTC()
	if err := s.updateUser(ctx, &c); err != nil {
		return nil, 0, storeErr(err)
	}
	if !disabled {
		s.log.Info("user updated", "user_id", c.ID, "disabled", false)
		return &c, 0, nil
	}
	n, err := s.sessions.RevokeUser(ctx, c.ID, "")
	if err != nil {
		return &c, n, err
	}
	s.sessions.Record(ctx, sessiond.Event{Type: sessiond.EventUserDisabled, UserID: c.ID,
		Detail: map[string]string{"sessions_revoked": strconv.Itoa(n)}})
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
