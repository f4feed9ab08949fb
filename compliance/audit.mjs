// Runs the GraphQL over HTTP audit suite of graphql-http against the URL
// given and prints one JSON line per audit: id, name, status, reason.
import { auditServer } from 'graphql-http';

const results = await auditServer({ url: process.argv[2] });
for (const r of results) {
  console.log(JSON.stringify({ id: r.id, name: r.name, status: r.status, reason: r.reason ?? '' }));
}
