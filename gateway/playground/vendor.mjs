// Copies the files vendor.json names out of node_modules (after npm ci)
// into static/vendor/<package>/, each package's licence beside its build:
// the gateway embeds them, so it serves the playground without npm or a CDN.
import { copyFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const files = JSON.parse(readFileSync(join(here, 'vendor.json'), 'utf8'));
const out = join(here, 'static', 'vendor');

// Start empty, so a file dropped from vendor.json does not linger.
rmSync(out, { recursive: true, force: true });
for (const [pkg, paths] of Object.entries(files)) {
  mkdirSync(join(out, pkg), { recursive: true });
  for (const p of paths) {
    copyFileSync(join(here, 'node_modules', pkg, p), join(out, pkg, basename(p)));
  }
  const { version } = JSON.parse(readFileSync(join(here, 'node_modules', pkg, 'package.json'), 'utf8'));
  console.log(`${pkg}@${version}: ${paths.join(', ')}`);
}
