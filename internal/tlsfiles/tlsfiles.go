// Package tlsfiles builds a client's TLS settings from PEM files (a CA
// bundle, an optional client certificate and key) for every service
// alsobought connects to, Redis and Kafka alike, and tells certificate
// errors apart from other connection errors.
package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Config says how to reach a service over TLS.
type Config struct {
	// Enabled turns TLS on.
	Enabled bool
	// CAFile is a PEM bundle of the certificate authorities trusted to
	// sign the server's certificate; empty trusts the system's. It is read
	// once, when the connection settings are built: a new CA is rolled out
	// by adding it to the bundle (and restarting) before any server
	// certificate it signed is used (docs/security.md, "Rotation").
	CAFile string
	// CertFile and KeyFile are the client's certificate and key (PEM), for
	// a server that asks for one; both or neither. They are read again at
	// each handshake, so a renewed certificate is used by the next
	// connection without a restart.
	CertFile, KeyFile string
	// ServerName is the name the server's certificate must carry; empty
	// takes the host of the address.
	ServerName string
}

// Any reports whether a file or a server name is set: settings that mean
// nothing with TLS off.
func (c Config) Any() bool {
	return c.CAFile != "" || c.CertFile != "" || c.KeyFile != "" || c.ServerName != ""
}

// CheckPair returns an error when only one of the client certificate and
// its key is given. service names the service in the message ("redis").
func (c Config) CheckPair(service string) error {
	if (c.CertFile == "") != (c.KeyFile == "") {
		return fmt.Errorf("%s TLS client certificate and key go together: give both files or neither", service)
	}
	return nil
}

// Build returns the client's TLS settings: the CA bundle read now, the
// client's key pair loaded now (so that a wrong file fails at start-up)
// and again at each handshake. service prefixes the errors ("redis").
func (c Config) Build(service string) (*tls.Config, error) {
	if err := c.CheckPair(service); err != nil {
		return nil, err
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%s TLS CA bundle: %w", service, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s TLS CA bundle %s holds no PEM certificate", service, c.CAFile)
		}
		tc.RootCAs = pool
	}
	if c.CertFile != "" {
		if _, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile); err != nil {
			return nil, fmt.Errorf("%s TLS client certificate: %w", service, err)
		}
		cert, key := c.CertFile, c.KeyFile
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			kp, err := tls.LoadX509KeyPair(cert, key)
			if err != nil {
				return nil, fmt.Errorf("%s TLS client certificate: %w", service, err)
			}
			return &kp, nil
		}
	}
	return tc, nil
}

// IsCertificateError reports whether err comes from a TLS handshake that
// failed over a certificate: the server's not trusted (unknown authority,
// expired, wrong name) or the client's refused by the server.
func IsCertificateError(err error) bool {
	if err == nil {
		return false
	}
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var host x509.HostnameError
	var verify *tls.CertificateVerificationError
	if errors.As(err, &unknown) || errors.As(err, &invalid) || errors.As(err, &host) || errors.As(err, &verify) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "tls: ") && strings.Contains(msg, "certificate")
}

// IsHandshakeError reports whether err comes from a TLS handshake that
// failed for another reason than a certificate: a server that does not
// speak TLS on that port, no common protocol version or cipher.
func IsHandshakeError(err error) bool {
	if err == nil {
		return false
	}
	var rec tls.RecordHeaderError
	if errors.As(err, &rec) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "tls: ") && (strings.Contains(msg, "handshake") || strings.Contains(msg, "protocol version") || strings.Contains(msg, "alert"))
}
