package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// SecureRedis is a redis-server of this test that listens only on a TLS
// port, with certificates made for it (a CA, a server certificate for
// 127.0.0.1 and a client certificate), the default user off, and one ACL
// user with the given rules.
type SecureRedis struct {
	Addr               string // 127.0.0.1:port of the TLS port
	CAFile             string // the CA that signed the server's and the client's certificates
	OtherCAFile        string // a CA that signed neither
	CertFile, KeyFile  string // the client's certificate and key
	Username, Password string
	// Admin may do anything, for the test's own set-up (ACL SETUSER,
	// CLIENT KILL).
	Admin, AdminPassword string
	// ClientCertRequired: the server refuses a client without a
	// certificate signed by CAFile.
	ClientCertRequired bool
}

// StartSecureRedis starts the server; it is killed at cleanup. rules are
// the ACL rules of the user (after "on >password").
func StartSecureRedis(t testing.TB, rules string, clientCertRequired bool) *SecureRedis {
	t.Helper()
	requireServices(t)
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		Need(t, "needs redis-server on PATH: %v", err)
	}
	dir := t.TempDir()
	s := &SecureRedis{Username: "alsobought", Password: "s3cret-" + strconv.FormatInt(time.Now().UnixNano(), 36),
		Admin: "admin", AdminPassword: "admin-" + strconv.FormatInt(time.Now().UnixNano(), 36), ClientCertRequired: clientCertRequired}
	ca, caKey := newCA(t, "alsobought test CA")
	other, _ := newCA(t, "some other CA")
	s.CAFile = writePEM(t, dir, "ca.crt", "CERTIFICATE", ca.Raw)
	s.OtherCAFile = writePEM(t, dir, "other-ca.crt", "CERTIFICATE", other.Raw)
	srvCert, srvKey := newLeaf(t, ca, caKey, "127.0.0.1", x509.ExtKeyUsageServerAuth)
	srvCertFile := writePEM(t, dir, "server.crt", "CERTIFICATE", srvCert)
	srvKeyFile := writePEM(t, dir, "server.key", "PRIVATE KEY", srvKey)
	cliCert, cliKey := newLeaf(t, ca, caKey, "alsobought", x509.ExtKeyUsageClientAuth)
	s.CertFile = writePEM(t, dir, "client.crt", "CERTIFICATE", cliCert)
	s.KeyFile = writePEM(t, dir, "client.key", "PRIVATE KEY", cliKey)

	port := FreePort(t)
	s.Addr = "127.0.0.1:" + strconv.Itoa(port)
	auth := "no"
	if clientCertRequired {
		auth = "yes"
	}
	conf := strings.Join([]string{
		"bind 127.0.0.1", "port 0", "tls-port " + strconv.Itoa(port),
		"tls-cert-file " + srvCertFile, "tls-key-file " + srvKeyFile, "tls-ca-cert-file " + s.CAFile,
		"tls-auth-clients " + auth, "dir " + dir, `save ""`, "appendonly yes", "maxmemory-policy noeviction",
		"user default off", "user " + s.Username + " on >" + s.Password + " " + rules,
		"user " + s.Admin + " on >" + s.AdminPassword + " ~* &* +@all",
	}, "\n") + "\n"
	confFile := filepath.Join(dir, "redis.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	logFile, err := os.Create(filepath.Join(dir, "redis.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, confFile)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		logFile.Close()
		if t.Failed() {
			t.Logf("last lines of the secure redis-server's log:\n%s", tail(logFile.Name(), 30))
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; {
		select {
		case <-exited:
			t.Fatalf("secure redis-server exited at start-up:\n%s", tail(logFile.Name(), 30))
		default:
		}
		if c, err := net.DialTimeout("tcp", s.Addr, time.Second); err == nil {
			c.Close()
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("secure redis-server did not listen on %s within 30s:\n%s", s.Addr, tail(logFile.Name(), 30))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var serial int64

func template(cn string) *x509.Certificate {
	serial++
	return &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano() + serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
}

func newCA(t testing.TB, cn string) (*x509.Certificate, *ecdsa.PrivateKey) {
	key := newKey(t)
	tpl := template(cn)
	tpl.IsCA, tpl.BasicConstraintsValid = true, true
	tpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

// newLeaf is a certificate signed by ca, for the IP address or name cn,
// and its PKCS#8 key, both DER.
func newLeaf(t testing.TB, ca *x509.Certificate, caKey *ecdsa.PrivateKey, cn string, usage x509.ExtKeyUsage) ([]byte, []byte) {
	key := newKey(t)
	tpl := template(cn)
	tpl.KeyUsage = x509.KeyUsageDigitalSignature
	tpl.ExtKeyUsage = []x509.ExtKeyUsage{usage}
	if ip := net.ParseIP(cn); ip != nil {
		tpl.IPAddresses = []net.IP{ip}
	} else {
		tpl.DNSNames = []string{cn}
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	k, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return der, k
}

func writePEM(t testing.TB, dir, name, typ string, der []byte) string {
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(fmt.Errorf("write %s: %w", name, err))
	}
	return p
}
