package main

// Regenerates the GraphQL executor in graph/ and the resolver stubs in
// resolvers/ from graph/*.graphqls, as configured in gqlgen.yml.
//go:generate go tool gqlgen generate
