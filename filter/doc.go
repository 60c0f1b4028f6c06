// Package filter is the decision logic of docker-socket-filter, with no I/O:
// the Docker Engine API route table, request path canonicalisation, profiles
// and the client entries that pick them, and the embedded default policy
// built from tecnativa/docker-socket-proxy's environment variables.
//
// A request is allowed only when its method and canonical path name exactly
// one route of the table and the caller's profile grants that route's
// operation. Everything else is denied.
package filter
