// Package graph holds Trestle's GraphQL schema (*.graphqls) and the executor
// gqlgen generates from it (`go generate ./...` at the module root).
package graph
