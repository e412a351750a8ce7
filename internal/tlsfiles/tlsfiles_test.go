package tlsfiles

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writePair writes a self-signed certificate named cn and its key.
func writePair(t *testing.T, certFile, keyFile, cn string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestClientCertificateIsReadAtEachHandshake: a renewed key pair, written
// over the files, is what the next handshake presents.
func TestClientCertificateIsReadAtEachHandshake(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	writePair(t, cert, key, "first")
	tc, err := Config{Enabled: true, CAFile: cert, CertFile: cert, KeyFile: key}.Build("kafka")
	if err != nil {
		t.Fatal(err)
	}
	presented := func() string {
		c, err := tc.GetClientCertificate(&tls.CertificateRequestInfo{})
		if err != nil {
			t.Fatal(err)
		}
		leaf, err := x509.ParseCertificate(c.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		return leaf.Subject.CommonName
	}
	if got := presented(); got != "first" {
		t.Fatalf("presents %s", got)
	}
	writePair(t, cert, key, "renewed")
	if got := presented(); got != "renewed" {
		t.Fatalf("after renewal presents %s, want the renewed certificate", got)
	}
	if tc.RootCAs == nil || tc.MinVersion != tls.VersionTLS12 {
		t.Fatal("want the CA bundle as the roots and TLS 1.2 at least")
	}
}

// TestBuildRefusesBadFiles: each unusable file fails when the settings are
// built (start-up), with the service's name and what is wrong.
func TestBuildRefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	writePair(t, cert, key, "x")
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"missing CA", Config{Enabled: true, CAFile: filepath.Join(dir, "none.pem")}, "kafka TLS CA bundle"},
		{"CA not PEM", Config{Enabled: true, CAFile: notPEM}, "holds no PEM certificate"},
		{"certificate without key", Config{Enabled: true, CertFile: cert}, "both files or neither"},
		{"key not matching", Config{Enabled: true, CertFile: cert, KeyFile: notPEM}, "kafka TLS client certificate"},
	} {
		if _, err := tc.cfg.Build("kafka"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
}

// TestCertificateErrorsAreToldApart: verification failures are certificate
// errors; a record that is not TLS is a handshake error; neither is
// anything else.
func TestCertificateErrorsAreToldApart(t *testing.T) {
	unknown := &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}
	if !IsCertificateError(unknown) || !IsCertificateError(errors.New("remote error: tls: bad certificate")) {
		t.Error("want certificate errors")
	}
	if !IsHandshakeError(tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}) {
		t.Error("want a handshake error")
	}
	for _, err := range []error{nil, errors.New("connection refused"), errors.New("EOF")} {
		if IsCertificateError(err) || IsHandshakeError(err) {
			t.Errorf("%v: neither a certificate nor a handshake error", err)
		}
	}
}
