package auth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"

	"github.com/trestlehq/trestle/auth"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func hashOf(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

func TestAPIKeys(t *testing.T) {
	a, err := auth.New(context.Background(), auth.Config{APIKeys: []auth.APIKey{
		{Name: "reporting", SHA256: "sha256:" + hashOf("trk_reporting"), Roles: []string{"finance"}},
		{Name: "shopfront", SHA256: hashOf("trk_shopfront")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		header  http.Header
		who     string
		finance bool
	}{
		{"a key in X-API-Key", http.Header{"X-Api-Key": {"trk_reporting"}}, "reporting", true},
		{"a key as a bearer token", http.Header{"Authorization": {"Bearer trk_shopfront"}}, "shopfront", false},
		{"a wrong key", http.Header{"X-Api-Key": {"trk_guess"}}, "", false},
		{"no credentials (anonymous is off)", http.Header{}, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := a.Authenticate(context.Background(), auth.FromHeader(tc.header))
			if tc.who == "" {
				if !errors.Is(err, auth.ErrUnauthenticated) {
					t.Fatalf("got %+v, %v; want unauthenticated", p, err)
				}
				return
			}
			if err != nil || p.Name != tc.who || p.Has("FINANCE") != tc.finance {
				t.Fatalf("got %+v, %v; want %s with finance %v", p, err, tc.who, tc.finance)
			}
		})
	}
}

func TestAnonymous(t *testing.T) {
	a, err := auth.New(context.Background(), auth.Config{Anonymous: true, AnonymousRoles: []string{"FINANCE"},
		APIKeys: []auth.APIKey{{Name: "k", SHA256: hashOf("trk_k")}}})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := a.Authenticate(context.Background(), auth.Credentials{}); err != nil || !p.Has("FINANCE") {
		t.Fatalf("got %+v, %v; want the anonymous principal", p, err)
	}
	// Credentials that are presented are checked, anonymous or not.
	if _, err := a.Authenticate(context.Background(), auth.Credentials{APIKey: "trk_wrong"}); err == nil {
		t.Fatal("a wrong key got in because anonymous access is on")
	}
}

// issuer signs tokens with an RSA key it publishes as a JWKS.
type issuer struct {
	key  *rsa.PrivateKey
	kid  string
	jwks *httptest.Server
}

func newIssuer(t *testing.T) *issuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	iss := &issuer{key: key, kid: "k1"}
	b64 := base64.RawURLEncoding.EncodeToString
	set, _ := json.Marshal(map[string]any{"keys": []any{map[string]any{"kty": "RSA", "kid": iss.kid, "alg": "RS256", "use": "sig",
		"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes())}}})
	iss.jwks = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(set)
	}))
	t.Cleanup(iss.jwks.Close)
	return iss
}

func (i *issuer) token(t *testing.T, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = i.kid
	s, err := tok.SignedString(i.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func claims(mods ...func(jwt.MapClaims)) jwt.MapClaims {
	c := jwt.MapClaims{"iss": "https://idp.example.com", "aud": "trestle", "sub": "ana",
		"exp": time.Now().Add(time.Hour).Unix(), "roles": []string{"finance"}}
	for _, m := range mods {
		m(c)
	}
	return c
}

func TestJWTFromAJWKS(t *testing.T) {
	iss := newIssuer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := auth.New(ctx, auth.Config{JWT: &auth.JWT{JWKSURL: iss.jwks.URL, Issuer: "https://idp.example.com", Audience: "trestle"}})
	if err != nil {
		t.Fatal(err)
	}
	other := newIssuer(t)
	for _, tc := range []struct {
		name    string
		token   string
		problem string // "" when accepted
	}{
		{"valid", iss.token(t, claims()), ""},
		{"roles as a space-separated string", iss.token(t, claims(func(c jwt.MapClaims) { c["roles"] = "finance reporting" })), ""},
		{"expired", iss.token(t, claims(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() })), "expired"},
		{"no expiry", iss.token(t, claims(func(c jwt.MapClaims) { delete(c, "exp") })), "a required claim is missing"},
		{"wrong audience", iss.token(t, claims(func(c jwt.MapClaims) { c["aud"] = "billing" })), "wrong audience"},
		{"wrong issuer", iss.token(t, claims(func(c jwt.MapClaims) { c["iss"] = "https://evil.example.com" })), "wrong issuer"},
		{"signed by another key", other.token(t, claims()), "bad signature or unknown key"},
		{"not signed", "eyJhbGciOiJub25lIn0." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"x"}`)) + ".", "bad signature or unknown key"},
		{"garbage", "a.b.c", "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := a.Authenticate(context.Background(), auth.FromHeader(http.Header{"Authorization": {"Bearer " + tc.token}}))
			if tc.problem == "" {
				if err != nil || p.Name != "ana" || !p.Has("FINANCE") {
					t.Fatalf("got %+v, %v; want ana with finance", p, err)
				}
				return
			}
			if !errors.Is(err, auth.ErrUnauthenticated) || !strings.Contains(err.Error(), tc.problem) {
				t.Fatalf("got %+v, %v; want refused as %s", p, err, tc.problem)
			}
		})
	}
}

func TestJWTWithAStaticKey(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	pub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	a, err := auth.New(context.Background(), auth.Config{JWT: &auth.JWT{PublicKey: string(pub), Issuer: "https://idp.example.com", Audience: "trestle", RolesClaim: "groups"}})
	if err != nil {
		t.Fatal(err)
	}
	c := claims(func(c jwt.MapClaims) { delete(c, "roles"); c["groups"] = []string{"FINANCE"} })
	signed, _ := jwt.NewWithClaims(jwt.SigningMethodES256, c).SignedString(key)
	if p, err := a.Authenticate(context.Background(), auth.Credentials{Bearer: signed}); err != nil || !p.Has("FINANCE") {
		t.Fatalf("got %+v, %v; want ana with finance from the groups claim", p, err)
	}
	// An HMAC token made with the public key as its secret (the classic
	// algorithm confusion) is refused.
	forged, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(pub)
	if _, err := a.Authenticate(context.Background(), auth.Credentials{Bearer: forged}); err == nil {
		t.Fatal("an HS256 token signed with the public key was accepted")
	}
}

func TestJWTWithASecret(t *testing.T) {
	a, err := auth.New(context.Background(), auth.Config{JWT: &auth.JWT{Secret: "s3cret-s3cret-s3cret-s3cret-s3cret", Issuer: "https://idp.example.com", Audience: "trestle"}})
	if err != nil {
		t.Fatal(err)
	}
	good, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims()).SignedString([]byte("s3cret-s3cret-s3cret-s3cret-s3cret"))
	bad, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims()).SignedString([]byte("guessed"))
	if _, err := a.Authenticate(context.Background(), auth.Credentials{Bearer: good}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(context.Background(), auth.Credentials{Bearer: bad}); err == nil {
		t.Fatal("a token with the wrong secret was accepted")
	}
}

func TestBadConfig(t *testing.T) {
	for _, cfg := range []auth.Config{
		{APIKeys: []auth.APIKey{{Name: "x", SHA256: "not-hex"}}},
		{JWT: &auth.JWT{PublicKey: "-----BEGIN NOTHING-----", Issuer: "i", Audience: "a"}},
		{JWT: &auth.JWT{Issuer: "i", Audience: "a"}},
	} {
		if _, err := auth.New(context.Background(), cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}
