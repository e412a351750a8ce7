package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// bearerRealm names the protection space in WWW-Authenticate (RFC 6750).
const bearerRealm = `Bearer realm="alsobought"`

// wrongToken is the 401's message when a token was sent and is not the
// one: the message, not the token, is what the client is told.
const wrongToken = "wrong API token"

// personal guards an endpoint that names a customer: with a token set, it
// answers only requests that carry it (docs/http-api.md,
// "Authentication").
func (s *server) personal(h http.HandlerFunc) http.HandlerFunc {
	if len(s.tokenSums) == 0 {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		if msg, ok := s.authorized(r); !ok {
			s.challenge(w, msg)
			writeError(w, http.StatusUnauthorized, msg)
			return
		}
		h(w, r)
	}
}

// authorized reports whether r carries a token, and if not, why. The
// token is compared through its SHA-256, in constant time, with every
// token: neither the time of an answer nor its message tells how much of a
// guess was right, nor a token's length, nor which token matched. No
// message and no log line holds a token.
func (s *server) authorized(r *http.Request) (why string, ok bool) {
	if len(s.tokenSums) == 0 {
		return "", true
	}
	h := r.Header.Get("Authorization")
	scheme, token, found := strings.Cut(h, " ")
	switch {
	case h == "":
		return "this endpoint needs the API token: send Authorization: Bearer <token>", false
	case !found || !strings.EqualFold(scheme, "Bearer"):
		return "the Authorization header is not Bearer <token>", false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
	match := 0
	for _, want := range s.tokenSums {
		match |= subtle.ConstantTimeCompare(sum[:], want[:])
	}
	if match != 1 {
		return wrongToken, false
	}
	return "", true
}

// challenge sets the WWW-Authenticate header of a 401: invalid_token when
// a token was sent and is wrong (RFC 6750, section 3).
func (s *server) challenge(w http.ResponseWriter, why string) {
	v := bearerRealm
	if why == wrongToken {
		v += `, error="invalid_token"`
	}
	w.Header().Set("WWW-Authenticate", v)
}
