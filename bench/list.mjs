// `npm run bench`: lists the benchmarks. Each one compares against a baseline measured in the same
// run and writes its result to bench/results/.
import { readdirSync, readFileSync } from 'node:fs';

const dir = new URL('.', import.meta.url);
const entries = readdirSync(dir, { withFileTypes: true })
  .filter((e) => e.isFile() && /\.bench\.(mjs|ts)$/.test(e.name))
  .map((e) => e.name)
  .sort();
console.log(
  'Benchmarks (run one with: npm run bench:<name>, or npx tsx --conditions=updraft-source bench/<file>):',
);
for (const name of entries) {
  const firstComment = readFileSync(new URL(name, dir), 'utf8').match(/^\/\/\s*(.*)$/m);
  console.log(`  ${name.padEnd(32)} ${firstComment ? firstComment[1] : ''}`);
}
if (entries.length === 0) console.log('  (none yet)');
