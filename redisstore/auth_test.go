package redisstore_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aside-cache/aside/redisstore"
	"github.com/aside-cache/aside/redistest"
)

// The database number of a URL is the one written to: a key written
// through /3 is not in /0.
func TestDatabaseOfTheURL(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	db3 := newStore(t, redisstore.Options{URL: "redis://" + srv.Addr + "/3"})
	db0 := newStore(t, redisstore.Options{URL: "redis://" + srv.Addr + "/0"})
	if err := db3.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, found, err := db0.Get(ctx, "k"); err != nil || found {
		t.Errorf("database 0 holds the key written to 3 (found %v, %v)", found, err)
	}
	if v, found, err := db3.Get(ctx, "k"); err != nil || !found || string(v) != "v" {
		t.Errorf("database 3 = %q, %v, %v; want v", v, found, err)
	}
	if n, _ := redistest.Do(srv.Addr, "DBSIZE"); n != "0" {
		t.Errorf("DBSIZE of database 0 = %s; want 0", n)
	}
}

// An ACL user and its password, from the URL or from Options; a wrong
// password is refused.
func TestACLUser(t *testing.T) {
	srv := redistest.Start(t, "--user", "default", "off", "--user", "app", "on", ">s3cret", "~*", "&*", "+@all")
	ctx := context.Background()
	for name, opts := range map[string]redisstore.Options{
		"URL":     {URL: "redis://app:s3cret@" + srv.Addr + "/0"},
		"Options": {Addrs: []string{srv.Addr}, Username: "app", Password: "s3cret"},
	} {
		t.Run(name, func(t *testing.T) {
			s := newStore(t, opts)
			if err := s.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
				t.Errorf("Set as app: %v", err)
			}
		})
	}
	if _, err := redistest.Do(srv.Addr, "PING"); err == nil {
		t.Error("the server answered the default user; the test proves nothing")
	}
	wrong, err := redisstore.New(redisstore.Options{URL: "redis://app:wrong@" + srv.Addr})
	if err != nil {
		t.Fatal(err)
	}
	defer wrong.Close()
	if err := wrong.Ping(ctx); err == nil {
		t.Error("Ping with a wrong password succeeded")
	}
}

// rediss://: TLS to a server with a certificate of the test's own CA,
// verified against it; without that CA the connection is refused.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	pool := writeCertificate(t, dir)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	redistest.Start(t, "--tls-port", strconv.Itoa(port),
		"--tls-cert-file", filepath.Join(dir, "cert.pem"), "--tls-key-file", filepath.Join(dir, "key.pem"),
		"--tls-ca-cert-file", filepath.Join(dir, "cert.pem"), "--tls-auth-clients", "no")
	url := "rediss://127.0.0.1:" + strconv.Itoa(port) + "/0"
	ctx := context.Background()

	s := newStore(t, redisstore.Options{URL: url, TLS: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}})
	if err := s.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
		t.Fatalf("Set over TLS: %v", err)
	}
	if v, found, err := s.Get(ctx, "k"); err != nil || !found || string(v) != "v" {
		t.Errorf("Get over TLS = %q, %v, %v; want v", v, found, err)
	}

	untrusted, err := redisstore.New(redisstore.Options{URL: url, DialTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer untrusted.Close()
	if err := untrusted.Ping(ctx); err == nil {
		t.Error("a client that does not trust the server's CA connected")
	}
}

// writeCertificate writes a self-signed certificate for 127.0.0.1 and its
// key into dir, and returns a pool that trusts it.
func writeCertificate(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "aside test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, kind string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("cert.pem", "CERTIFICATE", der)
	write("key.pem", "EC PRIVATE KEY", keyDER)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}

// A URL that does not parse is refused with an error that names what is
// wrong and never shows the URL's password.
func TestBadURLErrorHidesThePassword(t *testing.T) {
	for _, raw := range []string{
		"redis://:Secret Pw1@127.0.0.1:6379/0",
		"redis://app:Secret%zzPw1@127.0.0.1:6379/0",
		"redis://app:Secret Pw1@[::1/0",
		"rediz://app:SecretPw1@127.0.0.1:6379/0",
		"redis://app:SecretPw1@127.0.0.1:6379/notanumber",
		"redis://app:Secret/Pw1@127.0.0.1:6379/0", // the parser quotes ":Secret" as a port
		"redis://app:Secret#Pw1@127.0.0.1:6379/0",
	} {
		_, err := redisstore.New(redisstore.Options{URL: raw})
		if err == nil {
			t.Errorf("New(%q): no error", raw)
			continue
		}
		if strings.Contains(err.Error(), "Secret") {
			t.Errorf("New(%q) = %v; the error shows the password", raw, err)
		}
	}
}
