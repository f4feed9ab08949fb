// Package auth authenticates Trestle's clients: API keys, kept in the config
// only as SHA-256 hashes, and JWT bearer tokens verified against a JWKS URL
// or a static key, with issuer, audience and expiry checked. What a client
// may read is decided per field by its roles (see the @auth directive).
package auth

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"

	"github.com/trestlehq/trestle/config"
)

// Principal is an authenticated client.
type Principal struct {
	Name  string   // the API key's name, or the token's subject
	Roles []string // upper case, sorted
}

// Has reports whether the principal holds a role.
func (p *Principal) Has(role string) bool {
	_, ok := slices.BinarySearch(p.Roles, role)
	return ok
}

// Scope is what the principal may see, as a key: clients with the same
// scope get the same answers.
func (p *Principal) Scope() string { return strings.Join(p.Roles, ",") }

type principalKey struct{}

// With returns a context carrying the principal.
func With(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// From returns the principal of ctx; nil when there is none.
func From(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

// ErrUnauthenticated is a request whose credentials are missing or not
// accepted; its message says which, never why a token's signature failed
// in detail.
var ErrUnauthenticated = errors.New("unauthenticated")

// APIKey is a client key as the config holds it.
type APIKey struct {
	Name   string
	SHA256 string // hex SHA-256 of the key
	Roles  []string
}

// JWT configures bearer tokens. Exactly one of JWKSURL, PublicKey and
// Secret is set.
type JWT struct {
	JWKSURL    string // the issuer's key set, refreshed in the background
	PublicKey  string // a PEM public key (RSA, EC or Ed25519)
	Secret     string // an HMAC secret
	Issuer     string // required iss
	Audience   string // required aud
	RolesClaim string // the claim holding the roles, a list or a space-separated string; default "roles"
}

// Config configures an Authenticator.
type Config struct {
	// Anonymous lets requests without credentials in, with AnonymousRoles.
	Anonymous      bool
	AnonymousRoles []string
	APIKeys        []APIKey
	JWT            *JWT
}

// Authenticator checks credentials.
type Authenticator struct {
	anonymous *Principal // nil when anonymous access is off
	keys      map[[sha256.Size]byte]*Principal
	parser    *jwt.Parser
	keyfunc   jwt.Keyfunc
	rolesIn   string
}

// New builds an Authenticator; a JWKS URL's key set is fetched in the
// background until ctx ends.
func New(ctx context.Context, cfg Config) (*Authenticator, error) {
	a := &Authenticator{keys: map[[sha256.Size]byte]*Principal{}}
	if cfg.Anonymous {
		a.anonymous = &Principal{Name: "anonymous", Roles: normal(cfg.AnonymousRoles)}
	}
	for _, k := range cfg.APIKeys {
		raw, err := hex.DecodeString(strings.TrimPrefix(k.SHA256, "sha256:"))
		if err != nil || len(raw) != sha256.Size {
			return nil, fmt.Errorf("auth: API key %q: sha256 is not a hex SHA-256", k.Name)
		}
		a.keys[[sha256.Size]byte(raw)] = &Principal{Name: k.Name, Roles: normal(k.Roles)}
	}
	if j := cfg.JWT; j != nil {
		if err := a.setJWT(ctx, j); err != nil {
			return nil, fmt.Errorf("auth: jwt: %w", err)
		}
	}
	return a, nil
}

func (a *Authenticator) setJWT(ctx context.Context, j *JWT) error {
	var methods []string
	switch {
	case j.JWKSURL != "":
		noError := true
		kf, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{j.JWKSURL}, keyfunc.Override{
			HTTPTimeout:               10 * time.Second,
			NoErrorReturnFirstHTTPReq: &noError, // the issuer may be back by the first request
			RefreshInterval:           time.Hour,
			RefreshUnknownKID:         rate.NewLimiter(rate.Every(time.Minute), 1), // a rotated key is fetched at once
		})
		if err != nil {
			return err
		}
		a.keyfunc = kf.Keyfunc
		methods = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
	case j.PublicKey != "":
		key, alg, err := parsePublicKey([]byte(j.PublicKey))
		if err != nil {
			return err
		}
		a.keyfunc = func(*jwt.Token) (any, error) { return key, nil }
		methods = alg
	case j.Secret != "":
		secret := []byte(j.Secret)
		a.keyfunc = func(*jwt.Token) (any, error) { return secret, nil }
		methods = []string{"HS256", "HS384", "HS512"}
	default:
		return errors.New("one of jwksURL, publicKey and secret is required")
	}
	a.parser = jwt.NewParser(jwt.WithValidMethods(methods), jwt.WithIssuer(j.Issuer), jwt.WithAudience(j.Audience),
		jwt.WithExpirationRequired(), jwt.WithLeeway(30*time.Second))
	a.rolesIn = cmp.Or(j.RolesClaim, config.DefaultJWT().RolesClaim)
	return nil
}

func parsePublicKey(pem []byte) (key any, methods []string, err error) {
	if k, err := jwt.ParseRSAPublicKeyFromPEM(pem); err == nil {
		return k, []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}, nil
	}
	if k, err := jwt.ParseECPublicKeyFromPEM(pem); err == nil {
		return k, []string{"ES256", "ES384", "ES512"}, nil
	}
	if k, err := jwt.ParseEdPublicKeyFromPEM(pem); err == nil {
		return k, []string{"EdDSA"}, nil
	}
	return nil, nil, errors.New("publicKey is not a PEM RSA, EC or Ed25519 public key")
}

// Credentials are what a client presented: an API key and a bearer token,
// either or both empty.
type Credentials struct {
	APIKey string
	Bearer string
}

// FromHeader reads the credentials of a request: X-API-Key, and
// Authorization: Bearer (an API key may come that way too).
func FromHeader(h http.Header) Credentials {
	c := Credentials{APIKey: strings.TrimSpace(h.Get("X-API-Key"))}
	if scheme, token, ok := strings.Cut(h.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		c.Bearer = strings.TrimSpace(token)
	}
	return c
}

// Authenticate returns the principal the credentials name.
func (a *Authenticator) Authenticate(ctx context.Context, c Credentials) (*Principal, error) {
	switch {
	case c.APIKey != "":
		return a.apiKey(c.APIKey)
	case c.Bearer != "" && strings.Count(c.Bearer, ".") == 2:
		return a.token(c.Bearer)
	case c.Bearer != "":
		return a.apiKey(c.Bearer)
	case a.anonymous != nil:
		return a.anonymous, nil
	}
	return nil, fmt.Errorf("%w: no credentials (an API key in X-API-Key, or a bearer token)", ErrUnauthenticated)
}

func (a *Authenticator) apiKey(key string) (*Principal, error) {
	// Looked up by its hash: the time a lookup takes says nothing an
	// attacker could use, as they cannot steer the hash.
	if p, ok := a.keys[sha256.Sum256([]byte(key))]; ok {
		return p, nil
	}
	return nil, fmt.Errorf("%w: the API key is not known", ErrUnauthenticated)
}

func (a *Authenticator) token(raw string) (*Principal, error) {
	if a.parser == nil {
		return nil, fmt.Errorf("%w: bearer tokens are not accepted", ErrUnauthenticated)
	}
	claims := jwt.MapClaims{}
	if _, err := a.parser.ParseWithClaims(raw, claims, a.keyfunc); err != nil {
		return nil, fmt.Errorf("%w: the token is not accepted: %s", ErrUnauthenticated, tokenProblem(err))
	}
	sub, _ := claims.GetSubject()
	return &Principal{Name: sub, Roles: normal(rolesOf(claims[a.rolesIn]))}, nil
}

// tokenProblem names what is wrong with a token in a few safe words.
func tokenProblem(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return "expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "not valid yet"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "wrong audience"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "wrong issuer"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "a required claim is missing"
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed"
	default:
		return "bad signature or unknown key"
	}
}

// rolesOf reads a roles claim: a list of strings, or one space-separated
// string (as OAuth scopes are).
func rolesOf(v any) []string {
	switch v := v.(type) {
	case string:
		return strings.Fields(v)
	case []any:
		var out []string
		for _, r := range v {
			if s, ok := r.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// normal is a role list upper-cased, sorted and without repeats.
func normal(roles []string) []string {
	out := make([]string, 0, len(roles))
	for _, r := range roles {
		out = append(out, strings.ToUpper(strings.TrimSpace(r)))
	}
	slices.Sort(out)
	return slices.Compact(out)
}
