package testenv

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alsobought/alsobought/store"
)

// SecureRedis is an ACL user of one test on the TLS port of the local
// Redis (deploy/local/up.sh opens it next to the plain port of the same
// server) or of every node of the local Redis Cluster (cluster-up.sh): the
// secured endpoints of .run/secure-env. The user is made with the given
// rules by the scripts' admin user and deleted at cleanup; the keys are
// the Env's, deleted by its own cleanup.
type SecureRedis struct {
	Mode store.Mode
	// Addr is the TLS port, host:port (comma-separated seeds of every
	// node in cluster mode).
	Addr string
	// CAFile is the local CA, which signed the servers' certificates and
	// CertFile; OtherCAFile a CA that signed nothing the servers use.
	CAFile, OtherCAFile string
	// CertFile and KeyFile are a client certificate of the local CA. The
	// servers accept a client without one (tls-auth-clients optional) but
	// refuse one that another CA signed (UntrustedClientCert).
	CertFile, KeyFile  string
	Username, Password string
	// PasswordFile holds Password (mode 0600, in the test's temporary
	// directory), for -redis-password-file.
	PasswordFile string

	admin redis.UniversalClient
}

// NewSecureRedis makes the user of this test, with a random password and
// the ACL rules given (after "reset on >password"; the service's minimum
// is store.ACLRules(env.Prefix)), on env's Redis: in cluster mode on every
// node, since Redis Cluster does not propagate ACL users. Under -short it
// skips; without the secure-env settings it stops the test (Setting).
func NewSecureRedis(t testing.TB, env *Env, rules string) *SecureRedis {
	t.Helper()
	s := &SecureRedis{Mode: env.RedisMode}
	if env.RedisMode == store.Cluster {
		s.Addr = Setting(t, "ALSOBOUGHT_TEST_REDIS_CLUSTER_TLS_ADDRS")
	} else {
		s.Addr = Setting(t, "ALSOBOUGHT_TEST_REDIS_TLS_ADDRS")
	}
	tlsDir := Setting(t, "ALSOBOUGHT_TEST_TLS_DIR")
	secrets := Setting(t, "ALSOBOUGHT_TEST_SECRETS_DIR")
	s.CAFile, s.OtherCAFile = filepath.Join(tlsDir, "ca.crt"), filepath.Join(tlsDir, "other-ca.crt")
	s.CertFile, s.KeyFile = filepath.Join(tlsDir, "client.crt"), filepath.Join(tlsDir, "client.key")
	adminPassword, err := os.ReadFile(filepath.Join(secrets, "redis-admin.password"))
	if err != nil {
		Need(t, "needs the Redis admin password of deploy/local/up.sh: %v", err)
	}
	caPEM, err := os.ReadFile(s.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("%s holds no PEM certificate", s.CAFile)
	}
	s.admin = redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs: strings.Split(s.Addr, ","), IsClusterMode: env.RedisMode == store.Cluster,
		Username: adminUser, Password: strings.TrimSpace(string(adminPassword)),
		TLSConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
	})
	s.Username = "alsobought-" + env.Prefix
	s.Password = randomHex(t)
	s.PasswordFile = filepath.Join(t.TempDir(), "redis.password")
	if err := os.WriteFile(s.PasswordFile, []byte(s.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.OnEveryNode(t, "ACL", "DELUSER", s.Username)
		s.admin.Close()
	})
	args := []any{"ACL", "SETUSER", s.Username, "reset", "on", ">" + s.Password}
	for _, r := range strings.Fields(rules) {
		args = append(args, r)
	}
	s.OnEveryNode(t, args...)
	return s
}

// adminUser is the ACL user with every permission that deploy/local's
// scripts add to each redis-server (lib.sh, REDIS_ADMIN_USER).
const adminUser = "alsobought-admin"

// OnEveryNode runs a command as the admin user on the Redis, or on every
// node of the cluster, masters and replicas: ACL users and client
// connections are each node's own.
func (s *SecureRedis) OnEveryNode(t testing.TB, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	do := func(ctx context.Context, c *redis.Client) error {
		if err := c.Do(ctx, args...).Err(); err != nil {
			return fmt.Errorf("%s on %s: %w", args[0], c.Options().Addr, err)
		}
		return nil
	}
	var err error
	if cc, ok := s.admin.(*redis.ClusterClient); ok {
		err = cc.ForEachShard(ctx, do)
	} else {
		err = do(ctx, s.admin.(*redis.Client))
	}
	if err != nil {
		t.Fatalf("as %s: %v", adminUser, err)
	}
}

// UntrustedClientCert returns a client certificate and its key signed by
// a CA of this test, which no server trusts: a server that asks for client
// certificates refuses it.
func UntrustedClientCert(t testing.TB) (certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	ca, caKey := newCA(t, "a CA of this test")
	cert, key := newLeaf(t, ca, caKey, "alsobought", x509.ExtKeyUsageClientAuth)
	return writePEM(t, dir, "client.crt", "CERTIFICATE", cert), writePEM(t, dir, "client.key", "PRIVATE KEY", key)
}

func randomHex(t testing.TB) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
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
