package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/filestore-go/filestore"
	"github.com/filestore-go/filestore/auth"
)

// Authenticator tells who sent a request. The Handler calls it for every
// /v1 route before anything else.
//
// Authenticate returns the caller, or an error: one wrapping
// auth.ErrNoToken when the request carries no credentials (401), one
// wrapping auth.ErrInvalidToken when they are wrong (401), any other when
// it could not decide (mapped like a Store error: 503 for
// filestore.ErrUnavailable, else 500). A caller without the route's scope
// gets 403. It must not read the request body.
//
// The 401 and 403 answers of JWT's Authenticator speak of bearer tokens
// and carry RFC 6750's challenges ("WWW-Authenticate: Bearer", with
// error="invalid_token" when a token was sent, error="insufficient_scope"
// on a 403). Those of any other Authenticator, whose credentials need not
// be bearer tokens, have neutral details ("the credentials are invalid"),
// and their 401s carry the challenge of an Authenticator that is also a
// Challenger, or no WWW-Authenticate header.
type Authenticator interface {
	Authenticate(r *http.Request) (*auth.Caller, error)
}

// Challenger is implemented by an Authenticator (other than JWT's) that
// names its scheme: the 401 answers to the requests it refuses carry
// Challenge's result as their WWW-Authenticate header, which RFC 9110
// (section 15.5.2) wants on every 401, for example `APIKey
// realm="filestore"`.
type Challenger interface {
	Challenge() string
}

// AuthenticatorFunc adapts a function to an Authenticator.
type AuthenticatorFunc func(r *http.Request) (*auth.Caller, error)

// Authenticate calls f(r).
func (f AuthenticatorFunc) Authenticate(r *http.Request) (*auth.Caller, error) { return f(r) }

// TokenVerifier checks a bearer token; *auth.Verifier is one.
type TokenVerifier interface {
	Verify(ctx context.Context, token string) (*auth.Caller, error)
}

// JWT returns an Authenticator of "Authorization: Bearer <JWT>" headers
// checked by v, which must not be nil: New refuses JWT(nil), and JWT of a
// nil pointer, with ErrInvalidConfig. A request without the header gives
// auth.ErrNoToken; a malformed header, more than one, or a token v refuses
// gives auth.ErrInvalidToken. The request's context bounds v.Verify.
func JWT(v TokenVerifier) Authenticator {
	return jwtAuthenticator{v: v}
}

// jwtAuthenticator is JWT's Authenticator; authenticate answers its
// refusals with Bearer challenges.
type jwtAuthenticator struct{ v TokenVerifier }

func (j jwtAuthenticator) Authenticate(r *http.Request) (*auth.Caller, error) {
	if len(r.Header.Values("Authorization")) > 1 {
		// Authorization is no list: a proxy in front may have
		// checked, or will log, another line than this one.
		return nil, fmt.Errorf("%w: more than one Authorization header", auth.ErrInvalidToken)
	}
	tok, err := auth.BearerToken(r.Header.Get("Authorization"))
	if err != nil {
		return nil, err
	}
	return j.v.Verify(r.Context(), tok)
}

// refuse answers a request that a, the Handler's Authenticator, refused:
// 401 for err (wrapping auth.ErrNoToken or auth.ErrInvalidToken), or 403
// for a nil err (the caller lacks scope). The refusals of JWT's
// Authenticator carry RFC 6750's Bearer challenges and speak of tokens;
// those of any other have neutral details, and its 401s carry its own
// challenge if it is a Challenger.
func refuse(w http.ResponseWriter, r *http.Request, a Authenticator, err error, scope string) {
	_, bearer := a.(jwtAuthenticator)
	status, code := http.StatusUnauthorized, codeUnauthorized
	var challenge, detail string
	switch {
	case errors.Is(err, auth.ErrNoToken) && bearer:
		challenge, detail = "Bearer", "a bearer token is required"
	case errors.Is(err, auth.ErrNoToken):
		challenge, detail = challengeOf(a), "credentials are required"
	case err != nil && bearer:
		challenge, detail = `Bearer error="invalid_token"`, "the bearer token is invalid or expired"
	case err != nil:
		challenge, detail = challengeOf(a), "the credentials are invalid"
	case bearer:
		status, code = http.StatusForbidden, codeForbidden
		challenge, detail = `Bearer error="insufficient_scope", scope="`+scope+`"`, "the token lacks the "+scope+" scope"
	default:
		status, code = http.StatusForbidden, codeForbidden
		detail = "the caller lacks the " + scope + " scope"
	}
	if challenge != "" {
		w.Header().Set("WWW-Authenticate", challenge)
	}
	writeProblem(w, r, status, code, detail)
}

// challengeOf returns a's challenge if it is a Challenger, else "".
func challengeOf(a Authenticator) string {
	if c, ok := a.(Challenger); ok {
		return c.Challenge()
	}
	return ""
}

// authenticate runs the Authenticator and checks the caller has scope. It
// answers r itself and returns nil when it does not.
func (h *Handler) authenticate(w http.ResponseWriter, r *http.Request, scope string) *auth.Caller {
	info := infoFrom(r.Context())
	c, err := h.cfg.Auth.Authenticate(r)
	switch {
	case errors.Is(err, auth.ErrNoToken), errors.Is(err, auth.ErrInvalidToken):
		info.err = err
		refuse(w, r, h.cfg.Auth, err, scope)
		return nil
	case err != nil:
		writeError(w, r, err)
		return nil
	case c == nil || c.Owner == "" || len(c.Owner) > filestore.MaxOwnerBytes:
		writeError(w, r, errors.New("httpapi: authenticator returned no caller or an owner outside 1-255 bytes"))
		return nil
	}
	info.owner = c.Owner
	if !c.Has(scope) {
		refuse(w, r, h.cfg.Auth, nil, scope)
		return nil
	}
	return c
}
