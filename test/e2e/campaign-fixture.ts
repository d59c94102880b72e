import { spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CliIo, runCli } from '@updraft/cli';
import { expect } from 'vitest';
import { type SpawnedServer, spawnServer } from '../../packages/server/src/testing/spawn-server.js';
import {
  type Dialect,
  openTestDatabase,
  type TestDatabase,
} from '../../packages/server/src/testing/test-database.js';

// What the campaign end-to-end tests share: real server processes (spawned from sources, as
// `updraft server` runs) on one test database, and the `updraft` CLI run in-process the way an
// operator types it — keys, sim firmware images, a signed SUIT manifest, a device class, an
// uploaded release, devices, campaigns and simulated fleets (`updraft sim fleet`).

export const ADMIN_PASSWORD = 'campaign-e2e-admin-password';
const BIN = fileURLToPath(new URL('../../packages/cli/src/bin.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** One run of `updraft …`. */
export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  json<T = Record<string, unknown>>(): T;
}

/** A device registered for a test, with the token its simulated twin uses. */
export interface TestDevice {
  readonly id: string;
  readonly name: string;
  readonly token: string;
}

export interface CampaignWorldOptions {
  readonly dialect: Dialect;
  /** Server processes on the one database (PostgreSQL for more than one). */
  readonly replicas?: number;
  /** Extra UPDRAFT_* settings of every server. */
  readonly env?: Record<string, string>;
}

/**
 * A service (one or more replicas) with a device class `sensor` (vendor example.com, model
 * sim-mcu), its release 1.1.0 (sequence number 2) and sim images 1.0.0 and 1.1.0 in `dir`.
 */
export class CampaignWorld {
  readonly dir: string;
  readonly database: TestDatabase;
  readonly servers: SpawnedServer[] = [];
  readonly env: Record<string, string>;
  vendorId = '';
  classId = '';
  releaseId = '';
  #adminToken = '';
  #devices = 0;

  private constructor(dir: string, database: TestDatabase, env: Record<string, string>) {
    this.dir = dir;
    this.database = database;
    this.env = env;
  }

  static async start(options: CampaignWorldOptions): Promise<CampaignWorld> {
    const dir = await mkdtemp(join(tmpdir(), 'updraft-e2e-campaign-'));
    const database = await openTestDatabase(options.dialect);
    const db = database.config;
    const env: Record<string, string> = {
      UPDRAFT_DATA_DIR: join(dir, 'server'),
      UPDRAFT_ADMIN_PASSWORD: ADMIN_PASSWORD,
      UPDRAFT_RATE_LIMIT_ENABLED: 'false',
      // The engine's tick: phases advance within a second or two of the devices' reports.
      UPDRAFT_CAMPAIGN_TICK_SECONDS: '1',
      UPDRAFT_WEBHOOKS_POLL_INTERVAL_MS: '100',
      // What the agents keep as their poll interval (`sim fleet --poll-interval` paces the
      // check-ins; a device waiting for a maintenance window sleeps this long between looks).
      UPDRAFT_DEVICE_POLL_INTERVAL_SECONDS: '5',
      UPDRAFT_DATABASE_KIND: db.kind,
      ...(db.kind === 'sqlite'
        ? { UPDRAFT_DATABASE_SQLITE_FILE: db.sqliteFile }
        : { UPDRAFT_DATABASE_URL: db.url, UPDRAFT_DATABASE_SCHEMA: db.schema }),
      ...options.env,
    };
    const world = new CampaignWorld(dir, database, env);
    try {
      await world.#prepareFirmware();
      // The first start creates the data directory's master key; the others then share it.
      await world.startReplica();
      await Promise.all(
        Array.from({ length: (options.replicas ?? 1) - 1 }, () => world.startReplica()),
      );
      await world.#prepareService();
    } catch (error) {
      await world.close();
      throw error;
    }
    return world;
  }

  /** The first live replica's URL (the CLI's server). */
  get url(): string {
    const live = this.servers.find((s) => s.child.exitCode === null && s.child.signalCode === null);
    if (live === undefined) throw new Error('no server is running');
    return live.url;
  }

  /** Starts one more server process on the same database and data directory. */
  async startReplica(): Promise<SpawnedServer> {
    const server = await spawnServer(this.env);
    this.servers.push(server);
    return server;
  }

  /**
   * Runs `updraft <argv>` in-process in `dir`, logged in as the admin unless `config` names
   * another user's CLI config (`<name>.json`). `signal` stands for Ctrl-C.
   */
  async cli(
    argv: readonly string[],
    options: { config?: string; signal?: AbortSignal; stdin?: string; timeoutMs?: number } = {},
  ): Promise<CliRun> {
    const signal =
      options.timeoutMs === undefined
        ? options.signal
        : AbortSignal.any([
            AbortSignal.timeout(options.timeoutMs),
            ...(options.signal === undefined ? [] : [options.signal]),
          ]);
    const out: string[] = [];
    const err: string[] = [];
    const io: CliIo = {
      stdout: { write: (s: string) => out.push(s), isTTY: false },
      stderr: { write: (s: string) => err.push(s), isTTY: false },
      // Read by the service commands and `login` only (their --config).
      env: { UPDRAFT_CLI_CONFIG: join(this.dir, options.config ?? 'admin.json') },
      cwd: this.dir,
      ...(options.stdin === undefined ? {} : { stdin: [Buffer.from(options.stdin)] }),
      ...(signal === undefined ? {} : { signal }),
    };
    const code = await runCli(argv, io);
    const stdout = out.join('');
    return { code, stdout, stderr: err.join(''), json: <T>() => JSON.parse(stdout) as T };
  }

  /** `cli` that must succeed; returns its JSON (the command gets `--json`). */
  async ok<T = Record<string, unknown>>(
    argv: readonly string[],
    options: { config?: string; stdin?: string } = {},
  ): Promise<T> {
    const r = await this.cli([...argv, '--json'], options);
    expect(r.code, `updraft ${argv.join(' ')}: ${r.stdout}${r.stderr}`).toBe(0);
    return r.json<T>();
  }

  /** A management API call as the admin (or with `token`); throws on a non-2xx answer. */
  async api<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
    token = this.#adminToken,
  ): Promise<T> {
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return (text === '' ? undefined : JSON.parse(text)) as T;
  }

  /**
   * Registers `count` devices of class `sensor` with `attributes` (over the API, 20 at a time)
   * and writes their `<name> <token>` lines to `<tokensFile>` for `sim fleet --tokens-file`.
   */
  async addDevices(
    count: number,
    attributes: Record<string, string>,
    tokensFile: string,
  ): Promise<TestDevice[]> {
    const devices: TestDevice[] = [];
    for (let start = 0; start < count; start += 20) {
      const batch = Array.from({ length: Math.min(20, count - start) }, () => {
        this.#devices += 1;
        return `sim-${String(this.#devices).padStart(4, '0')}`;
      });
      devices.push(
        ...(await Promise.all(
          batch.map(async (name) => {
            const made = await this.api<{ device: { id: string }; token: string }>(
              'POST',
              '/api/v1/devices',
              { name, deviceClassId: await this.#classRowId(), attributes },
            );
            return { id: made.device.id, name, token: made.token };
          }),
        )),
      );
    }
    await this.writeTokens(tokensFile, devices);
    return devices;
  }

  /** Writes `<name> <token>` lines for `sim fleet --tokens-file`. */
  async writeTokens(tokensFile: string, devices: readonly TestDevice[]): Promise<void> {
    await writeFile(
      join(this.dir, tokensFile),
      `${devices.map((d) => `${d.name} ${d.token}`).join('\n')}\n`,
    );
  }

  #classRow: string | undefined;
  async #classRowId(): Promise<string> {
    if (this.#classRow === undefined) {
      const { items } = await this.api<{ items: { id: string; name: string }[] }>(
        'GET',
        '/api/v1/device-classes',
      );
      this.#classRow = items.find((c) => c.name === 'sensor')!.id;
    }
    return this.#classRow;
  }

  /**
   * Starts `updraft sim fleet` as its own process (the real `updraft` from sources, real time)
   * for the devices of `tokensFile`: every device on 1.0.0, checking in every second (or
   * `pollIntervalSeconds`) until
   * `stop()` (SIGINT, as Ctrl-C) or `durationSeconds`. Its own process: a busy fleet cannot
   * starve this test's timers.
   */
  fleet(
    tokensFile: string,
    options: {
      server?: string;
      extra?: readonly string[];
      durationSeconds?: number;
      pollIntervalSeconds?: number;
    } = {},
  ): { stop(): Promise<CliRun>; done: Promise<CliRun> } {
    const child = spawn(
      process.execPath,
      [
        '--conditions=updraft-source',
        '--import',
        'tsx',
        BIN,
        'sim',
        'fleet',
        '--server',
        options.server ?? this.url,
        '--tokens-file',
        join(this.dir, tokensFile),
        '--vendor-id',
        this.vendorId,
        '--class-id',
        this.classId,
        '--image',
        join(this.dir, 'fw-1.0.0.bin'),
        '--trusted-key',
        join(this.dir, 'release.pub'),
        '--duration',
        String(options.durationSeconds ?? 300),
        '--poll-interval',
        String(options.pollIntervalSeconds ?? 1),
        '--json',
        ...(options.extra ?? []),
      ],
      // From the repository root, where `--import tsx` resolves; every path above is absolute.
      { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' } },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
      if (process.env.E2E_LOG) appendFileSync(process.env.E2E_LOG, c);
    });
    const done = new Promise<CliRun>((resolve) => {
      child.on('close', (code, signal) =>
        resolve({
          code: code ?? (signal === null ? -1 : 128),
          stdout,
          stderr,
          json: <T>() => JSON.parse(stdout) as T,
        }),
      );
    });
    return {
      done,
      stop: async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
        // A fleet that does not end within 5 s of Ctrl-C is killed (and the test sees code 128).
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        const result = await done;
        clearTimeout(timer);
        return result;
      },
    };
  }

  /** Creates a campaign with `updraft campaign create` (release 1.1.0); returns its id. */
  async createCampaign(flags: readonly string[], config?: string): Promise<string> {
    const created = await this.ok<{ id: string; state: string }>(
      ['campaign', 'create', '--release', this.releaseId, ...flags],
      config === undefined ? {} : { config },
    );
    expect(created.state).toBe('draft');
    return created.id;
  }

  /** `campaign status --json`. */
  status(id: string): Promise<CampaignStatusDoc> {
    return this.ok<CampaignStatusDoc>(['campaign', 'status', id]);
  }

  /** Creates a user with `roles` and logs it in to `<name>.json`. */
  async addUser(name: string, roles: readonly string[]): Promise<string> {
    const password = `${name}-password-0123`;
    await this.ok(
      ['user', 'create', name, ...roles.flatMap((r) => ['--role', r]), '--password-stdin'],
      {
        stdin: `${password}\n`,
      },
    );
    await this.ok(['login', '--server', this.url, '-u', name, '--password-stdin'], {
      config: `${name}.json`,
      stdin: `${password}\n`,
    });
    return `${name}.json`;
  }

  /** Per device of the campaign: how many actions it has for it (straight from the database). */
  async actionsPerDevice(campaignId: string): Promise<Map<string, number>> {
    const rows = await this.database.handle.db
      .selectFrom('actions')
      .select(['device_id', (eb) => eb.fn.countAll().as('n')])
      .where('campaign_id', '=', campaignId)
      .groupBy('device_id')
      .execute();
    return new Map(rows.map((r) => [r.device_id, Number(r.n)]));
  }

  /** The campaign's actions with their states, by device id. */
  async actionStates(campaignId: string): Promise<Map<string, string>> {
    const rows = await this.database.handle.db
      .selectFrom('actions')
      .select(['device_id', 'state'])
      .where('campaign_id', '=', campaignId)
      .execute();
    return new Map(rows.map((r) => [r.device_id, r.state]));
  }

  async close(): Promise<void> {
    for (const server of this.servers) await server.kill('SIGKILL');
    await this.database.dispose();
    await rm(this.dir, { recursive: true, force: true });
  }

  async #prepareFirmware(): Promise<void> {
    const must = async (argv: string[]) => {
      const r = await this.cli(argv);
      if (r.code !== 0) throw new Error(`updraft ${argv.join(' ')}: ${r.stderr}`);
    };
    await must(['keys', 'generate', '--alg', 'ed25519', '--out', 'release']);
    for (const [version, seq] of [
      ['1.0.0', '1'],
      ['1.1.0', '2'],
    ] as const) {
      await must([
        'sim',
        'image',
        '--key',
        'release.key',
        '--image-version',
        version,
        '--sequence-number',
        seq,
        '--size',
        '16384',
        '--out',
        `fw-${version}.bin`,
      ]);
    }
    await writeFile(
      join(this.dir, 'release.yaml'),
      [
        'vendor: example.com',
        'class: sim-mcu',
        'version: 1.1.0',
        'sequenceNumber: 2',
        'text: { updateDescription: "Faster sensor sampling" }',
        'components:',
        '  - id: ["00"]',
        '    image: fw-1.1.0.bin',
        '',
      ].join('\n'),
    );
    await must(['manifest', 'create', 'release.yaml', '--out', 'rel.suit']);
    await must(['manifest', 'sign', 'rel.suit', '--key', 'release.key']);
  }

  /** Logs the admin in (CLI config and API token) at the first live replica. */
  async login(): Promise<void> {
    await this.ok(['login', '--server', this.url, '--password-stdin'], {
      stdin: `${ADMIN_PASSWORD}\n`,
    });
    const login = await fetch(`${this.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD }),
    });
    this.#adminToken = ((await login.json()) as { token: string }).token;
  }

  async #prepareService(): Promise<void> {
    await this.login();
    const cls = await this.ok<{ vendorId: string; classId: string }>([
      'class',
      'create',
      'sensor',
      '--vendor',
      'example.com',
      '--model',
      'sim-mcu',
    ]);
    this.vendorId = cls.vendorId;
    this.classId = cls.classId;
    await this.ok(['class', 'add-key', 'sensor', 'release.pub']);
    const uploaded = await this.ok<{ release: { id: string } }>([
      'release',
      'upload',
      'rel.suit',
      '--class',
      'sensor',
      '--payload',
      'fw-1.1.0.bin',
    ]);
    this.releaseId = uploaded.release.id;
  }
}

/** `campaign status --json` (docs/campaigns.md). */
export interface CampaignStatusDoc {
  readonly id: string;
  readonly state: string;
  readonly stateReason: string | null;
  readonly currentPhase: number;
  readonly phases: ReadonlyArray<{
    readonly index: number;
    readonly state: string;
    readonly size: number;
    readonly counts: Record<string, number>;
  }>;
  readonly totals: Record<string, number>;
  readonly failureReasons: ReadonlyArray<{
    readonly code: string;
    readonly count: number;
    readonly devices?: readonly string[];
  }>;
}
