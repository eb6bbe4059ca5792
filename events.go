package sessiond

import (
	"context"
	"maps"
	"slices"
)

// Record completes e (id, time), writes it as a structured log line, stores
// it when the store keeps events, and hands it to Config.OnEvent. Failing to
// store an event is logged and does not fail the action it describes.
func (m *Manager) Record(ctx context.Context, e Event) {
	if e.ID == "" {
		id, err := NewID(m.cfg.Rand)
		if err != nil {
			m.log.Error("event id", "err", err)
			return
		}
		e.ID = id
	}
	if e.At.IsZero() {
		e.At = m.now()
	}
	attrs := []any{"event", e.Type, "event_id", e.ID, "user_id", e.UserID, "session_id", e.SessionID,
		"ip", e.IPAddress, "user_agent", e.UserAgent}
	for _, k := range slices.Sorted(maps.Keys(e.Detail)) {
		attrs = append(attrs, k, e.Detail[k])
	}
	m.log.Info("audit", attrs...)
	if _, ok := m.rawStore.(EventStore); ok && e.UserID != "" {
		if err := m.store.AppendEvent(context.WithoutCancel(ctx), &e); err != nil {
			m.log.Warn("event not stored", "event_id", e.ID, "err", err)
		}
	}
	if m.cfg.OnEvent != nil {
		e.Detail = maps.Clone(e.Detail)
		m.cfg.OnEvent(e)
	}
}

// Events returns the user's audit events, newest first, at most limit.
func (m *Manager) Events(ctx context.Context, userID string, limit int) ([]*Event, error) {
	if _, ok := m.rawStore.(EventStore); !ok {
		return nil, nil
	}
	list, err := m.store.EventsByUser(ctx, userID, limit)
	if err != nil {
		return nil, m.storeErr("list events", err)
	}
	return list, nil
}

// purgeEvents deletes events older than EventRetention, in batches.
func (m *Manager) purgeEvents(ctx context.Context) error {
	if _, ok := m.rawStore.(EventStore); !ok {
		return nil
	}
	before := m.now().Add(-m.cfg.EventRetention)
	for {
		n, err := m.store.DeleteEventsBefore(ctx, before, m.cfg.PurgeBatch)
		if err != nil {
			return m.storeErr("purge events", err)
		}
		if n < m.cfg.PurgeBatch || ctx.Err() != nil {
			return ctx.Err()
		}
	}
}
