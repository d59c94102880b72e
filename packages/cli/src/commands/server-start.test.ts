import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EXIT_CODES } from '../exit-codes.js';
import { runCli } from '../run-cli.js';
import { captureIo, run, tempDir } from '../testing/capture-io.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(() => cleanup());

describe('server start', () => {
  it('runs the service until the stop signal, answering /healthz meanwhile', async () => {
    const stop = new AbortController();
    const io = captureIo(dir, { signal: stop.signal, env: { UPDRAFT_LOG_LEVEL: 'silent' } });
    let url: string | undefined;
    let onListening: () => void = () => {};
    const listening = new Promise<void>((resolve) => {
      onListening = resolve;
    });
    // Watch stdout for the address line the service prints once it listens.
    const watched = {
      ...io,
      stdout: {
        write(chunk: string) {
          const m = /listening on (http:\/\/\S+)/.exec(chunk);
          if (m !== null) {
            url = m[1];
            onListening();
          }
          return io.stdout.write(chunk);
        },
      },
    };
    const exit = runCli(
      ['server', 'start', '--port', '0', '--data-dir', join(dir, 'data')],
      watched,
    );
    await listening;
    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    stop.abort();
    expect(await exit).toBe(EXIT_CODES.ok);
    expect(io.stdout.text()).toMatch(/one-time password/);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });

  it('reports an invalid configuration with every problem and exit 3', async () => {
    await writeFile(join(dir, 'server.json'), JSON.stringify({ port: 'eighty', logLevel: 'loud' }));
    const r = await run(dir, ['server', 'start', '--config', 'server.json', '--json']);
    expect(r.code).toBe(EXIT_CODES.input);
    const { error } = r.json<{ error: { code: string; message: string } }>();
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toMatch(/port/);
    expect(error.message).toMatch(/logLevel/);
  });

  it('rejects a port that is not a number before starting anything', async () => {
    const r = await run(dir, ['server', 'start', '--port', '99999']);
    expect(r.code).toBe(EXIT_CODES.usage);
    expect(r.stderr).toMatch(/--port must be an integer from 0 to 65535 \[CLI_USAGE\]/);
  });
});
