package kafkaconn

import (
	"errors"
	"fmt"
	"strings"

	"github.com/segmentio/kafka-go"

	"github.com/alsobought/alsobought/internal/tlsfiles"
)

// Kind says what a failed Kafka call ran into, so that it is reported as
// what it is and not as "cannot reach Kafka" (docs/operations.md, "Exit
// codes").
type Kind int

// The kinds of failure.
const (
	// Unreachable: no answer (down, wrong address, a network problem), or
	// an error of no other kind.
	Unreachable Kind = iota
	// Authentication: the brokers refused the SASL login.
	Authentication
	// Certificate: a certificate was not accepted during the TLS
	// handshake, the brokers' or the client's.
	Certificate
	// Handshake: the TLS handshake failed otherwise (a listener without
	// TLS, no common version).
	Handshake
	// Denied: the brokers authenticated the client and refused the
	// operation (a missing ACL).
	Denied
	// Missing: the brokers know no such topic (yet).
	Missing
)

// Op is what a call was doing, for messages: an ACL operation (Describe,
// Read, Write, Create) and the topic and group it concerns.
type Op struct {
	Name         string
	Topic, Group string
}

// Error is a Kafka failure said as what it is.
type Error struct {
	Kind Kind
	Msg  string
	Err  error
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the kind of err (Unreachable when Explain did not mark it).
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return classify(err)
}

// Retryable reports whether retrying err may succeed without anyone
// changing anything: false for refused credentials, certificates and
// ACLs, which need an operator.
func Retryable(err error) bool { k := KindOf(err); return k == Unreachable || k == Missing }

// Explain returns err said as what it is: a refused login names the user
// and the mechanism (never the password), a refused certificate says so, a
// missing ACL names the operation, the resource and the principal, and
// anything else is "cannot reach Kafka". op says what the call was doing.
func (c *Conn) Explain(err error, op Op) error {
	if err == nil {
		return nil
	}
	var done *Error
	if errors.As(err, &done) {
		return err
	}
	brokers := strings.Join(c.cfg.Brokers, ",")
	e := &Error{Kind: classify(err), Err: err}
	switch e.Kind {
	case Authentication:
		e.Msg = fmt.Sprintf("Kafka at %s refused the SASL %s login of user %s: check the username and password (-kafka-username, -kafka-password-file) and the mechanism (%v)",
			brokers, c.Mechanism(), c.cfg.SASL.Username, err)
	case Certificate:
		e.Msg = fmt.Sprintf("TLS with Kafka at %s: certificate not accepted: %v (the brokers' certificate must be signed by a CA of -kafka-tls-ca and carry the broker's name or -kafka-tls-server-name; a broker asking for a client certificate must trust -kafka-tls-cert)",
			brokers, err)
	case Handshake:
		e.Msg = fmt.Sprintf("TLS handshake with Kafka at %s failed: %v (is this a TLS listener? -kafka-tls must match the listener)", brokers, err)
	case Denied:
		e.Msg = fmt.Sprintf("Kafka denied %s on %s to %s: grant the ACL (docs/security.md)", op.Name, resource(err, op), c.Principal())
	case Missing:
		e.Msg = fmt.Sprintf("Kafka at %s has no topic %s: %v", brokers, op.Topic, err)
	default:
		hint := "is it running? `make up` starts a local one"
		if c.Secured() {
			hint = "is it running, and does this listener take the -kafka-tls and -kafka-sasl-mechanism set?"
		}
		e.Msg = fmt.Sprintf("cannot reach Kafka at %s: %v (%s)", brokers, err, hint)
	}
	return e
}

// resource names what an authorisation error refused access to.
func resource(err error, op Op) string {
	switch {
	case errors.Is(err, kafka.GroupAuthorizationFailed):
		return "group " + op.Group
	case errors.Is(err, kafka.ClusterAuthorizationFailed):
		return "the cluster"
	case errors.Is(err, kafka.TransactionalIDAuthorizationFailed):
		return "a transactional id"
	case errors.Is(err, kafka.DelegationTokenAuthorizationFailed):
		return "a delegation token"
	}
	return "topic " + op.Topic
}

// classify tells the kinds of failure apart.
func classify(err error) Kind {
	switch {
	case errors.Is(err, kafka.SASLAuthenticationFailed), errors.Is(err, kafka.UnsupportedSASLMechanism),
		errors.Is(err, kafka.IllegalSASLState), strings.Contains(err.Error(), "SASL"):
		return Authentication
	case errors.Is(err, kafka.TopicAuthorizationFailed), errors.Is(err, kafka.GroupAuthorizationFailed),
		errors.Is(err, kafka.ClusterAuthorizationFailed), errors.Is(err, kafka.TransactionalIDAuthorizationFailed),
		errors.Is(err, kafka.DelegationTokenAuthorizationFailed), errors.Is(err, kafka.BrokerAuthorizationFailed):
		return Denied
	case errors.Is(err, kafka.UnknownTopicOrPartition):
		return Missing
	case tlsfiles.IsCertificateError(err):
		return Certificate
	case tlsfiles.IsHandshakeError(err):
		return Handshake
	}
	return Unreachable
}
