package main

import (
	"fmt"
	"strings"

	"github.com/aimeter/aimeter/usage"
)

// openStore opens the store named by spec.
func openStore(spec string) (usage.Store, error) {
	switch {
	case spec == "memory":
		return usage.NewMemoryStore(), nil
	case strings.HasPrefix(spec, "sqlite:"), strings.HasPrefix(spec, "postgres:"):
		return nil, fmt.Errorf("store %q is not available in this build; use -store memory", spec)
	}
	return nil, fmt.Errorf("unknown store %q; use -store memory", spec)
}
