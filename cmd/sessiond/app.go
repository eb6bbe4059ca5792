package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/accounts"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/metrics"
	"github.com/sessiond/sessiond/internal/redact"
	"github.com/sessiond/sessiond/internal/webhook"
	"github.com/sessiond/sessiond/password"
	"github.com/sessiond/sessiond/pgstore"
	"github.com/sessiond/sessiond/redisstore"
	"github.com/sessiond/sessiond/sqlitestore"
)

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// app is the engine opened from a configuration: store, manager, accounts.
type app struct {
	store    sessiond.Store
	manager  *sessiond.Manager
	accounts *accounts.Service
	webhook  *webhook.Sender
	log      *slog.Logger
	metrics  *metrics.Metrics // nil unless serving
}

// open opens the store and builds the engine. Short-lived commands run
// without a cache and without background purging.
func open(e env, cfg config.Config, serving bool) (*app, error) {
	log := newLogger(cfg, e.stderr)
	store, err := openStore(e.ctx, cfg.Store, log)
	if err != nil {
		return nil, err
	}
	mc := managerConfig(cfg)
	mc.Logger = log
	var m *sessiond.Manager
	var met *metrics.Metrics
	if serving {
		met = metrics.New(func() int { return m.CacheLen() }) // read at scrapes, once m exists
		mc.StoreObserver = met.Store()
	}
	var hook *webhook.Sender
	if serving && cfg.WebhookURL != "" {
		key, err := readSecretFile(cfg.WebhookSecretFile, "--webhook-secret-file")
		if err != nil {
			store.Close()
			return nil, err
		}
		hook = webhook.New(cfg.WebhookURL, []byte(key), log, webhook.Options{Observe: met.Webhook()})
		mc.OnEvent = hook.Enqueue
	}
	if !serving {
		mc.CacheSize = -1
	}
	if !serving {
		mc.PurgeInterval = -1
	}
	m = sessiond.NewManager(store, mc)
	return &app{
		store:   store,
		manager: m,
		accounts: accounts.New(store, m, password.New(password.Options{}), accounts.Throttle{
			AccountAttempts: cfg.ThrottleAccountAttempts,
			AddressAttempts: cfg.ThrottleAddressAttempts,
			Max:             cfg.ThrottleMaxDelay,
		}),
		webhook: hook,
		log:     log,
		metrics: met,
	}, nil
}

// managerConfig is the Manager's policy as the flags and the environment
// set it. TestConfig_TheCLIsDefaultsAreTheLibrarysDefaults holds the
// flags' documented defaults equal to the library's own.
func managerConfig(cfg config.Config) sessiond.Config {
	return sessiond.Config{
		Lifetime:           cfg.Lifetime,
		IdleTimeout:        cfg.IdleTimeout,
		TouchInterval:      cfg.TouchInterval,
		CacheSize:          cliOff(cfg.CacheSize),
		CacheTTL:           cfg.CacheTTL,
		MaxSessionsPerUser: cfg.MaxSessionsPerUser,
		RefuseAtLimit:      cfg.RefuseAtLimit,
		ReauthWindow:       cfg.ReauthWindow,
		Anomaly:            cfg.AnomalyAction,
		IPv4Prefix:         cfg.AnomalyIPv4Prefix,
		IPv6Prefix:         cfg.AnomalyIPv6Prefix,
		EventRetention:     cfg.EventRetention,
	}
}

// cliOff maps a flag's 0, which operators read as "off", to the library's
// off, which is negative: the library's zero means its default.
func cliOff(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// openStore picks the store from its URL: the only place that knows them
// all.
func openStore(ctx context.Context, url string, log *slog.Logger) (sessiond.Store, error) {
	// Said before the wait, so that a store that does not answer is not a
	// silent hang (connection attempts are bounded by each store).
	log.Debug("opening the store", "store", redact.URL(url))
	switch {
	case strings.HasPrefix(url, "sqlite:"):
		return sqlitestore.Open(ctx, strings.TrimPrefix(url, "sqlite:"), sqlitestore.Options{})
	case strings.HasPrefix(url, "redis://"), strings.HasPrefix(url, "rediss://"):
		s, err := redisstore.Open(ctx, url, redisstore.Options{})
		if err != nil {
			return nil, err
		}
		for _, w := range s.Check(ctx) {
			log.Warn(w)
		}
		return s, nil
	}
	return pgstore.Open(ctx, url, pgstore.Options{})
}

// Close stops the engine, writing pending touches, then the webhook sender,
// then closes the store. It is safe after a partial start.
func (a *app) Close() error {
	err := a.manager.Close()
	if a.webhook != nil {
		err = errors.Join(err, a.webhook.Close())
	}
	return errors.Join(err, a.store.Close())
}

// readSecretFile reads a token or key: the file's content without
// surrounding white space, at least 16 bytes.
func readSecretFile(path, flagName string) (string, error) {
	if path == "" {
		return "", fmt.Errorf("%s is required", flagName)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", flagName, err)
	}
	secret := strings.TrimSpace(string(b))
	if len(secret) < 16 {
		return "", fmt.Errorf("%s: the secret in %s is shorter than 16 bytes", flagName, path)
	}
	return secret, nil
}

// withApp opens the store for one CLI command, runs fn and closes the store,
// reporting a failed Close (a write the store could not finish) as the
// command's error too.
func withApp(e env, cfg config.Config, fn func(*app) error) error {
	a, err := open(e, cfg, false)
	if err != nil {
		return err
	}
	return errors.Join(fn(a), a.Close())
}
