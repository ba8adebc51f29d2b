// Bundles the example into one script for the browser: `node build.mjs [OUTDIR]`
// (default dist/), next to a copy of index.html.
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';

const outdir = process.argv[2] ?? 'dist';
mkdirSync(outdir, { recursive: true });
await build({
  entryPoints: ['src/main.jsx'],
  bundle: true,
  minify: true,
  format: 'iife',
  jsx: 'automatic',
  target: 'es2020',
  define: { 'process.env.NODE_ENV': '"production"' },
  outfile: join(outdir, 'app.js'),
  logLevel: 'warning',
});
copyFileSync('index.html', join(outdir, 'index.html'));
