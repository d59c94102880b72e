// `npm run bench`: lists the benchmarks. Each one compares against a baseline measured in the same
// run and writes its result to bench/results/.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('.', import.meta.url));
// Top-level files, and the files of folders holding a benchmark of several files (bench/fleet-load/).
const entries = readdirSync(dir, { withFileTypes: true })
  .flatMap((e) =>
    e.isDirectory() && e.name !== 'results'
      ? readdirSync(path.join(dir, e.name)).map((name) => `${e.name}/${name}`)
      : [e.name],
  )
  .filter((name) => /\.bench\.(mjs|ts)$/.test(name))
  .sort();
console.log(
  'Benchmarks (run one with: npm run bench:<name>, or npx tsx --conditions=updraft-source bench/<file>):',
);
for (const name of entries) {
  const firstComment = readFileSync(path.join(dir, name), 'utf8').match(/^\/\/\s*(.*)$/m);
  console.log(`  ${name.padEnd(32)} ${firstComment ? firstComment[1] : ''}`);
}
if (entries.length === 0) console.log('  (none yet)');
