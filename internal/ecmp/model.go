package ecmp

import (
	"fmt"
	"strings"
)

// Model is a router's way of mapping a connection's hash to a next hop.
type Model string

// The hashing models WhatIf knows; the package documentation describes each.
const (
	ModuloN       Model = "modulo-n"
	HashThreshold Model = "hash-threshold"
	Resilient     Model = "resilient"
)

// Models returns every model WhatIf knows, in the order tools list them.
func Models() []Model {
	return []Model{ModuloN, HashThreshold, Resilient}
}

// ParseModel accepts the name of one of the models; an error quotes the bad
// input and lists the valid names.
func ParseModel(s string) (Model, error) {
	for _, m := range Models() {
		if s == string(m) {
			return m, nil
		}
	}
	return "", fmt.Errorf("unknown ECMP model %q: valid models are %s", s, modelNames())
}

func modelNames() string {
	names := make([]string, 0, len(Models()))
	for _, m := range Models() {
		names = append(names, string(m))
	}
	return strings.Join(names, ", ")
}
