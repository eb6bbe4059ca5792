package sessiond

import "context"

type contextKey struct{}

// NewContext returns ctx carrying the session s.
func NewContext(ctx context.Context, s *Session) context.Context {
	return context.WithValue(ctx, contextKey{}, s)
}

// FromContext returns the session that middleware put on ctx, or nil when
// the request has none. The session must not be modified.
func FromContext(ctx context.Context) *Session {
	s, _ := ctx.Value(contextKey{}).(*Session)
	return s
}
