package store

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/alsobought/alsobought/internal/tlsfiles"
)

// TLS says how to reach Redis over TLS: Enabled turns it on (a rediss://
// address turns it on too); the CA bundle is read at start-up, the client's
// certificate and key at each handshake (internal/tlsfiles).
type TLS = tlsfiles.Config

// ErrAuthentication marks an error of Redis refusing the credentials.
var ErrAuthentication = errors.New("redis authentication failed (check the username and password)")

// ErrCertificate marks an error of the TLS handshake with Redis: a server
// certificate not trusted, or the client's refused.
var ErrCertificate = errors.New("redis TLS certificate not accepted")

// ErrPermission marks a command or key that Redis's ACL rules deny the
// user: the rules lack a permission the service needs (ACLRules).
var ErrPermission = errors.New("refused by the user's ACL rules")

// IsURL reports whether a -redis address is a redis:// or rediss:// URL.
func IsURL(addr string) bool {
	a := strings.ToLower(strings.TrimSpace(addr))
	return strings.HasPrefix(a, "redis://") || strings.HasPrefix(a, "rediss://")
}

// Redact returns addresses (comma-separated, each host:port or a URL) with
// every URL's password replaced, for messages and logs: a secret is never
// printed.
func Redact(addrs string) string {
	parts := strings.Split(addrs, ",")
	for i, p := range parts {
		parts[i] = redactOne(p)
	}
	return strings.Join(parts, ",")
}

func redactOne(a string) string {
	if !strings.Contains(a, "@") {
		return a
	}
	if u, err := url.Parse(strings.TrimSpace(a)); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
		return u.String()
	}
	// Unparsable: everything before the last @ may be a secret.
	i := strings.LastIndex(a, "@")
	scheme := ""
	if j := strings.Index(a, "://"); j >= 0 && j < i {
		scheme = a[:j+3]
	}
	return scheme + "xxxxx" + a[i:]
}

// parsed is what the address and the security settings give: where to
// connect and how, before the mode's client options.
type parsed struct {
	addrs              []string
	username, password string
	db                 int
	tls                *tls.Config
}

// resolve merges the address (host:port or URL) with the settings.
// Credentials are given once, in the URL or in the settings: both is an
// error, as neither could be said to win without surprising someone.
func (c Config) resolve() (parsed, error) {
	p := parsed{addrs: c.Addrs, username: c.Username, password: c.Password}
	urlTLS := false
	if c.Mode == Sentinel {
		for _, a := range c.Addrs {
			if IsURL(a) {
				return p, fmt.Errorf("redis sentinel mode takes the sentinels' host:port addresses, not a URL (%s): give credentials and TLS with their settings", Redact(a))
			}
		}
	}
	if len(c.Addrs) > 0 && IsURL(c.Addrs[0]) {
		if len(c.Addrs) > 1 {
			return p, errors.New("a Redis URL is the only address: give more cluster seeds as ?addr=host:port parameters of the URL")
		}
		var user, pass string
		var hasPass bool
		if c.Mode == Cluster {
			o, err := redis.ParseClusterURL(strings.TrimSpace(c.Addrs[0]))
			if err != nil {
				return p, fmt.Errorf("redis URL %s: %s", Redact(c.Addrs[0]), redactErr(err, c.Addrs[0]))
			}
			p.addrs, user, pass, urlTLS = o.Addrs, o.Username, o.Password, o.TLSConfig != nil
		} else {
			o, err := redis.ParseURL(strings.TrimSpace(c.Addrs[0]))
			if err != nil {
				return p, fmt.Errorf("redis URL %s: %s", Redact(c.Addrs[0]), redactErr(err, c.Addrs[0]))
			}
			p.addrs, user, pass, p.db, urlTLS = []string{o.Addr}, o.Username, o.Password, o.DB, o.TLSConfig != nil
		}
		hasPass = pass != ""
		if (user != "" || hasPass) && (c.Username != "" || c.Password != "" || c.PasswordFile != "") {
			return p, errors.New("redis credentials given twice, in the URL and in the username/password settings: give them once")
		}
		if user != "" || hasPass {
			p.username, p.password = user, pass
		}
		if !urlTLS && c.TLS.Enabled {
			return p, errors.New("redis TLS is on but the URL says redis:// (no TLS): use rediss://")
		}
	}
	if c.Password != "" && c.PasswordFile != "" {
		return p, errors.New("give the Redis password once: as a password or as a password file")
	}
	on := c.TLS.Enabled || urlTLS
	if c.TLS.Any() && !on {
		return p, errors.New("redis TLS files or server name given with TLS off: turn TLS on (ALSOBOUGHT_REDIS_TLS=true or a rediss:// URL)")
	}
	if err := c.TLS.CheckPair("redis"); err != nil {
		return p, err
	}
	if on {
		tc, err := c.TLS.Build("redis")
		if err != nil {
			return p, err
		}
		p.tls = tc
	}
	return p, nil
}

// redactErr is err's text with the URL's password removed: a parse error
// may quote the URL.
func redactErr(err error, raw string) string {
	msg := err.Error()
	if u, perr := url.Parse(strings.TrimSpace(raw)); perr == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	return msg
}

// passwordFile returns a credentials provider that reads the password file
// at each new connection, so that a rotated password (a Secret updated in
// place) is used without a restart. White space around it is ignored.
func passwordFile(username, path string) func(context.Context) (string, string, error) {
	return func(context.Context) (string, string, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", "", fmt.Errorf("redis password file: %w", err)
		}
		return username, strings.TrimSpace(string(b)), nil
	}
}

// classify marks authentication and certificate errors so that callers
// can say what failed instead of "cannot reach".
func classify(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "WRONGPASS"), strings.Contains(msg, "NOAUTH"),
		strings.Contains(msg, "invalid password"), strings.Contains(msg, "invalid username-password"):
		return fmt.Errorf("%w: %w", ErrAuthentication, err)
	case strings.Contains(msg, "NOPERM"), strings.Contains(msg, "can't run this command or subcommand"):
		// The second is Redis 7.0's reply for a command a script runs
		// that the user may not run.
		return fmt.Errorf("%w: %w", ErrPermission, err)
	}
	if tlsfiles.IsCertificateError(err) {
		return fmt.Errorf("%w: %w", ErrCertificate, err)
	}
	return err
}

// classify is classify, and classifySentinel first in sentinel mode.
func (c *conn) classify(err error) error {
	if c.master != "" {
		if named := classifySentinel(err, c.master); named != err {
			return named
		}
	}
	return classify(err)
}

// classifySentinel tells apart the ways go-redis's "all sentinels
// unreachable" can fail although they answer: no master of that name
// (the sentinels reply nil), and refused sentinel credentials, which are
// marked ErrAuthentication and named as the sentinels' (a refusal by the
// data node is classify's).
func classifySentinel(err error, master string) error {
	msg := err.Error()
	if !strings.Contains(msg, "all sentinels") {
		return err
	}
	switch {
	case errors.Is(err, redis.Nil):
		return fmt.Errorf("the sentinels know no master named %q (check -redis-sentinel-master): %w", master, err)
	case strings.Contains(msg, "WRONGPASS"), strings.Contains(msg, "NOAUTH"),
		strings.Contains(msg, "invalid password"), strings.Contains(msg, "invalid username-password"):
		return fmt.Errorf("%w: the sentinels refused the sentinel credentials (-redis-sentinel-username, -redis-sentinel-password or -redis-sentinel-password-file): %w",
			ErrAuthentication, err)
	}
	return err
}

// ACLRules are the least-privilege Redis ACL rules of an alsobought user
// whose keys start with prefix (docs/operations.md, "Redis security"): its
// keys only, no channels, and the commands it sends: reads and writes of
// its data types, MULTI/EXEC, its scripts (SCRIPT LOAD, then EVALSHA; TIME inside one), SCAN
// for whole-state operations, WAIT, INFO and CONFIG GET for the Redis guard
// (which tolerates NOPERM on CONFIG), and the connection and cluster
// topology commands the client sends. -@dangerous drops FLUSHALL, KEYS,
// DEBUG, CONFIG SET and the like before the few needed are allowed back.
func ACLRules(prefix string) string {
	return "resetkeys ~" + prefix + ":* resetchannels -@all +@read +@write +@keyspace +@transaction +@connection " +
		"+evalsha +eval +script|load +time -@dangerous +info +config|get +wait +cluster|slots +cluster|shards +cluster|nodes +cluster|info +readonly"
}

// SentinelACLRules are the least-privilege ACL rules of an alsobought user
// at the sentinels (sentinel mode, docs/operations.md, "Redis with
// Sentinel"): asking for the master's address, the other sentinels and the
// replicas, and subscribing to the two channels on which the sentinels
// announce a new master; the connection commands the client sends. Redis
// 7.0's sentinel knows no CLIENT SETINFO, which go-redis sends and does
// without.
func SentinelACLRules() string {
	return "resetchannels &+switch-master &+replica-reconf-done -@all +sentinel|get-master-addr-by-name +sentinel|sentinels " +
		"+sentinel|replicas +subscribe +ping +hello +auth +client|setname"
}
