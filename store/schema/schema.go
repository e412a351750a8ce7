// Package schema is the Redis contract of alsobought in one place: every
// key name, every hash field name and every stored value format
// (docs/redis-keys.md). It imports no Redis client, so that the pure code
// that computes counter changes (internal/delta) and the lab tools that
// rebuild or check a state (internal/lab/oracle, internal/lab/verify) share
// the names with package store without sharing its Redis code.
package schema

import (
	"fmt"
	"regexp"
)

// Version is the version of the key contract and of the state's encoding.
// It changes only with a migration note in docs/redis-keys.md.
const Version = 5

// ListEncodingVersion is the "v" field of a stored list's JSON (related
// and popularity lists).
const ListEncodingVersion = 1

// DefaultPrefix is the key prefix when none is configured.
const DefaultPrefix = "ab"

var prefixPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,32}$`)

// ValidatePrefix checks a key prefix.
func ValidatePrefix(p string) error {
	if !prefixPattern.MatchString(p) {
		return fmt.Errorf("redis key prefix %q: use 1-32 characters of A-Z a-z 0-9 _ . -", p)
	}
	return nil
}
