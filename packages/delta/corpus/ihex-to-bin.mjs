// Flattens an Intel HEX file into a binary image: node ihex-to-bin.mjs IN.hex OUT.bin
// Keeps data records below 0x10000000 (so the nRF51 UICR record at 0x10001000 does not open a
// 256 MiB gap); gaps read as erased flash (0xff); the image starts at the lowest address kept.
import { readFileSync, writeFileSync } from 'node:fs';

const LIMIT = 0x1000_0000;
const [input, output] = process.argv.slice(2);
if (!input || !output) {
  console.error('usage: node ihex-to-bin.mjs IN.hex OUT.bin');
  process.exit(2);
}

const records = [];
let upper = 0;
let low = Number.POSITIVE_INFINITY;
let high = 0;
for (const text of readFileSync(input, 'latin1').split(/\r?\n/)) {
  if (!text.startsWith(':')) continue;
  const record = Buffer.from(text.slice(1).trim(), 'hex');
  if (record.reduce((sum, byte) => (sum + byte) & 0xff, 0) !== 0) {
    throw new Error(`checksum mismatch in record ${text}`);
  }
  const length = record[0];
  const offset = record.readUInt16BE(1);
  const type = record[3];
  const data = record.subarray(4, 4 + length);
  if (type === 0x01) break; // end of file
  if (type === 0x02) upper = data.readUInt16BE(0) * 0x10; // extended segment address
  if (type === 0x04) upper = data.readUInt16BE(0) * 0x1_0000; // extended linear address
  if (type !== 0x00) continue; // start addresses and universal-hex block markers carry no data
  const address = upper + offset;
  if (address >= LIMIT) continue;
  records.push({ address, data });
  low = Math.min(low, address);
  high = Math.max(high, address + length);
}
if (records.length === 0) throw new Error(`${input}: no data records`);
const image = Buffer.alloc(high - low, 0xff);
for (const { address, data } of records) data.copy(image, address - low);
writeFileSync(output, image);
