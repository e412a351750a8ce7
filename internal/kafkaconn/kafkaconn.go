// Package kafkaconn builds every Kafka connection alsobought makes (the
// consumer group and its readers, the writers, the admin client) from one
// set of settings: the brokers, TLS and SASL (docs/security.md, "Kafka").
package kafkaconn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/alsobought/alsobought/internal/tlsfiles"
)

// The SASL mechanisms.
const (
	MechanismNone        = "none"
	MechanismPlain       = "plain"
	MechanismSCRAMSHA256 = "scram-sha-256"
	MechanismSCRAMSHA512 = "scram-sha-512"
)

// Mechanisms are the valid SASL.Mechanism values.
func Mechanisms() []string {
	return []string{MechanismNone, MechanismPlain, MechanismSCRAMSHA256, MechanismSCRAMSHA512}
}

// SASL are the credentials of a SASL login.
type SASL struct {
	// Mechanism is one of Mechanisms(); "" means none.
	Mechanism string
	Username  string
	// Password, or PasswordFile: a file holding it (a mounted Secret), read
	// again at each new connection, so a rotated password is used without
	// a restart. White space around it is ignored.
	Password, PasswordFile string
}

func (s SASL) on() bool { return s.Mechanism != "" && s.Mechanism != MechanismNone }

// Config is where the brokers are and how to reach them.
type Config struct {
	Brokers []string
	TLS     tlsfiles.Config
	SASL    SASL
}

// Validate checks the settings before anything connects; its errors say
// what to change.
func (c Config) Validate() error {
	if len(c.Brokers) == 0 || c.Brokers[0] == "" {
		return errors.New("no Kafka broker: set ALSOBOUGHT_KAFKA_BROKERS (e.g. 127.0.0.1:19092)")
	}
	if c.TLS.Any() && !c.TLS.Enabled {
		return errors.New("kafka TLS files or server name given with TLS off: turn TLS on (-kafka-tls, ALSOBOUGHT_KAFKA_TLS=true)")
	}
	if err := c.TLS.CheckPair("kafka"); err != nil {
		return err
	}
	s := c.SASL
	switch s.Mechanism {
	case "", MechanismNone:
		if s.Username != "" || s.Password != "" || s.PasswordFile != "" {
			return errors.New("kafka username or password given without a SASL mechanism: set -kafka-sasl-mechanism (plain, scram-sha-256 or scram-sha-512)")
		}
		return nil
	case MechanismPlain, MechanismSCRAMSHA256, MechanismSCRAMSHA512:
	default:
		return fmt.Errorf("unknown kafka SASL mechanism %q: use %s", s.Mechanism, strings.Join(Mechanisms(), ", "))
	}
	switch {
	case s.Username == "":
		return fmt.Errorf("kafka SASL %s needs a username: set -kafka-username", s.Mechanism)
	case s.Password != "" && s.PasswordFile != "":
		return errors.New("give the Kafka password once: -kafka-password or -kafka-password-file")
	case s.Password == "" && s.PasswordFile == "":
		return fmt.Errorf("kafka SASL %s needs a password: set -kafka-password-file (or -kafka-password)", s.Mechanism)
	}
	return nil
}

// Conn builds the connections of one Config: the TLS settings and the SASL
// mechanism are built once and shared by every connection.
type Conn struct {
	cfg  Config
	tls  *tls.Config
	sasl sasl.Mechanism
}

// New checks cfg, reads the CA bundle, and checks that the client key pair
// and the password file can be read, so that a mistake fails at start-up.
func New(cfg Config) (*Conn, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Conn{cfg: cfg}
	if cfg.TLS.Enabled {
		tc, err := cfg.TLS.Build("kafka")
		if err != nil {
			return nil, err
		}
		c.tls = tc
	}
	if cfg.SASL.on() {
		m := &mechanism{sasl: cfg.SASL}
		if _, err := m.current(); err != nil {
			return nil, err
		}
		c.sasl = m
	}
	return c, nil
}

// Plain is a Conn of brokers without TLS or SASL (the tests' local broker,
// tools given addresses only).
func Plain(brokers ...string) *Conn {
	return &Conn{cfg: Config{Brokers: brokers}}
}

// Brokers are the bootstrap brokers.
func (c *Conn) Brokers() []string { return c.cfg.Brokers }

// Principal names who the brokers see, for messages: the SASL user, or
// the client certificate's subject, or the anonymous user.
func (c *Conn) Principal() string {
	switch {
	case c.cfg.SASL.on():
		return "user " + c.cfg.SASL.Username
	case c.cfg.TLS.CertFile != "":
		return "the principal of client certificate " + c.cfg.TLS.CertFile
	}
	return "the anonymous user (no SASL, no client certificate)"
}

// Mechanism is the SASL mechanism in use ("none" without SASL).
func (c *Conn) Mechanism() string {
	if !c.cfg.SASL.on() {
		return MechanismNone
	}
	return c.cfg.SASL.Mechanism
}

// Secured reports whether the connections use TLS or SASL.
func (c *Conn) Secured() bool { return c.tls != nil || c.sasl != nil }

// dialTimeout bounds a connection's set-up: TCP, TLS and SASL.
const dialTimeout = 10 * time.Second

// Transport returns a new transport of its own: metadata (topics and
// partition counts above all) then comes from the brokers, where kafka-go's
// shared default transport answers from a cache up to 6 s old, which would
// hide a topic created or partitions added a moment ago. Close its idle
// connections when done.
//
// Given topics, its metadata is asked for those topics only, not for every
// topic of the cluster: the brokers then answer a topic the client may not
// describe with an authorisation error, where a listing of every topic
// leaves it out, which would read as a missing topic.
func (c *Conn) Transport(topics ...string) *kafka.Transport {
	return &kafka.Transport{DialTimeout: dialTimeout, TLS: c.tls, SASL: c.sasl, MetadataTopics: topics}
}

// Dialer returns a dialer for readers and the consumer group.
func (c *Conn) Dialer() *kafka.Dialer {
	return &kafka.Dialer{Timeout: dialTimeout, DualStack: true, TLS: c.tls, SASLMechanism: c.sasl}
}

// Client returns an admin client with a transport of its own
// (Transport, of topics); done releases its connections.
func (c *Conn) Client(topics ...string) (client *kafka.Client, done func()) {
	t := c.Transport(topics...)
	return &kafka.Client{Addr: kafka.TCP(c.cfg.Brokers...), Transport: t}, t.CloseIdleConnections
}

// Writer returns a writer of topic with a transport of its own, acks from
// all in-sync replicas and murmur2 partitioning (the Java client's, so a
// key lands where other producers put it); the caller tunes batching before
// the first write. Closing it closes its connections.
func (c *Conn) Writer(topic string) *kafka.Writer {
	return &kafka.Writer{
		Addr:         kafka.TCP(c.cfg.Brokers...),
		Topic:        topic,
		Transport:    c.Transport(topic),
		Balancer:     &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll,
	}
}

// Reader returns a reader as cfg says, on these brokers and through this
// Conn's dialer (cfg's Brokers and Dialer are replaced).
func (c *Conn) Reader(cfg kafka.ReaderConfig) *kafka.Reader {
	cfg.Brokers = c.cfg.Brokers
	cfg.Dialer = c.Dialer()
	return kafka.NewReader(cfg)
}

// mechanism is the SASL mechanism of the settings. With a password file,
// each new connection reads the file, so a rotated password is used
// without a restart; the mechanism built from a password is kept until the
// password changes (SCRAM derives a key from it, which costs).
type mechanism struct {
	sasl SASL

	mu   sync.Mutex
	pass string
	mech sasl.Mechanism
}

func (m *mechanism) Name() string {
	switch m.sasl.Mechanism {
	case MechanismSCRAMSHA256:
		return scram.SHA256.Name()
	case MechanismSCRAMSHA512:
		return scram.SHA512.Name()
	}
	return plain.Mechanism{}.Name()
}

func (m *mechanism) Start(ctx context.Context) (sasl.StateMachine, []byte, error) {
	mech, err := m.current()
	if err != nil {
		return nil, nil, err
	}
	return mech.Start(ctx)
}

// current is the mechanism of the password as it is now.
func (m *mechanism) current() (sasl.Mechanism, error) {
	pass := m.sasl.Password
	if m.sasl.PasswordFile != "" {
		b, err := os.ReadFile(m.sasl.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("kafka password file: %w", err)
		}
		if pass = strings.TrimSpace(string(b)); pass == "" {
			return nil, fmt.Errorf("kafka password file %s is empty", m.sasl.PasswordFile)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mech != nil && m.pass == pass {
		return m.mech, nil
	}
	var mech sasl.Mechanism
	switch m.sasl.Mechanism {
	case MechanismPlain:
		mech = plain.Mechanism{Username: m.sasl.Username, Password: pass}
	default:
		algo := scram.SHA512
		if m.sasl.Mechanism == MechanismSCRAMSHA256 {
			algo = scram.SHA256
		}
		var err error
		if mech, err = scram.Mechanism(algo, m.sasl.Username, pass); err != nil {
			return nil, fmt.Errorf("kafka SASL %s: %w", m.sasl.Mechanism, err)
		}
	}
	m.pass, m.mech = pass, mech
	return mech, nil
}
