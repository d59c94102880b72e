import { createHash, generateKeyPairSync } from 'node:crypto';
import { MemoryTransport } from './adapters/memory-transport.js';
import { AgentApplication } from './agent-application.js';
import { buildImage } from './build-image.js';
import { defaultLayoutSpec, type LayoutName, type LayoutSpec } from './device-layout.js';
import type { AppBehaviour, ImageSigningKey, TrustedImageKey } from './image-format.js';
import { imageSigningKey, trustedImageKey } from './image-keys.js';
import { Prng } from './prng.js';
import { buildReleaseEnvelope, MAIN_COMPONENT, releaseVerifier } from './release-envelope.js';
import { type DeviceApplication, type DeviceOutcome, SimDevice } from './sim-device.js';
import { CUT_MODES, type CutMode, type PlannedCut } from './sim-flash.js';

/** The two updates every sweep runs. */
export const SWEEP_SCENARIOS = ['good-update', 'failing-update'] as const;
export type SweepScenario = (typeof SWEEP_SCENARIOS)[number];

const NEW_BEHAVIOUR: Record<SweepScenario, AppBehaviour> = {
  'good-update': 'healthy',
  'failing-update': 'fails-health-check',
};

/** The images of one sweep: old (installed), new (offered), factory. */
export interface SweepImages {
  readonly old: Uint8Array;
  readonly next: Uint8Array;
  readonly factory: Uint8Array;
  /** The SUIT envelope (built and signed by core) that offers `next` with sequence number 2. */
  readonly nextEnvelope: Uint8Array;
  readonly oldVersion: string;
  readonly newVersion: string;
  readonly factoryVersion: string;
}

/** The application under test, with the terminal status it reported (when it reports). */
export type SweepApplication = DeviceApplication & { outcome?(): string | null };

/** Builds the application under test for one device (the real agent or the scripted updater). */
export type SweepApplicationFactory = (
  images: SweepImages,
  key: { signing: ImageSigningKey; trusted: TrustedImageKey },
) => SweepApplication;

/** Knobs of {@link agentUnderTest}: smaller units mean more flash operations to cut. */
export interface AgentUnderTestOptions {
  /** Bytes per payload chunk served by the in-process service (default 512). */
  readonly chunkSize?: number;
  /** The agent's download checkpoint interval in bytes (default 1024). */
  readonly checkpointBytes?: number;
}

/**
 * The real `@updraft/agent` as the sweep's application: an in-process service offers the new
 * image (sequence number 2) in a SUIT envelope signed by core, which the agent's production
 * verifier (core's SUIT processor) checks; the agent runs over the device's ports.
 */
export function agentUnderTest(options: AgentUnderTestOptions = {}): SweepApplicationFactory {
  return (images, key) => {
    const transport = new MemoryTransport(
      {
        actionId: 'act-1',
        version: images.newVersion,
        sequenceNumber: 2,
        envelope: images.nextEnvelope,
        payloads: [images.next],
      },
      {},
      options.chunkSize ?? 512,
    );
    const app = new AgentApplication({
      transport,
      verifier: releaseVerifier({ trustedKeys: [key.trusted] }),
      initialComponents: [
        {
          id: MAIN_COMPONENT,
          version: images.oldVersion,
          sequenceNumber: 1,
          digest: createHash('sha256').update(images.old).digest('hex'),
        },
      ],
      agentOptions: { checkpointBytes: options.checkpointBytes ?? 1024 },
    });
    return Object.assign(app, { outcome: () => transport.outcome?.status ?? null });
  };
}

/** Inputs of {@link runPowerCutSweep}. */
export interface SweepOptions {
  readonly layout: LayoutName;
  readonly scenario: SweepScenario;
  readonly application: SweepApplicationFactory;
  readonly bodySize?: number;
  readonly layoutOverrides?: Partial<LayoutSpec>;
  readonly modes?: readonly CutMode[];
  /** Test every `stride`-th cut point only (1 = exhaustive). The count of all points is still reported. */
  readonly stride?: number;
  /** Random multi-cut runs after the single-cut sweep. */
  readonly multiCutRuns?: number;
  readonly seed?: number;
  readonly key?: { signing: ImageSigningKey; trusted: TrustedImageKey };
}

/** One violated invariant. */
export interface SweepFailure {
  readonly cuts: readonly PlannedCut[];
  readonly reason: string;
}

/** Figures of one sweep. */
export interface SweepResult {
  readonly layout: LayoutName;
  readonly scenario: SweepScenario;
  /** Flash writes + erases of the clean run (the cut-point space). */
  readonly cleanOps: number;
  readonly cleanOpsByArea: Readonly<Record<string, number>>;
  /** Cut points actually run (ops × modes, after sampling). */
  readonly cutPoints: number;
  readonly multiCutRuns: number;
  readonly bricks: number;
  readonly unverifiedBoots: number;
  readonly failures: readonly SweepFailure[];
  readonly endedOn: Readonly<Record<string, number>>;
}

/** A throwaway Ed25519 key pair for test images (kid = core's `keyId`). */
export function generateTestKey(): { signing: ImageSigningKey; trusted: TrustedImageKey } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { signing: imageSigningKey(privateKey), trusted: trustedImageKey(publicKey) };
}

/**
 * The exhaustive power-cut sweep: run the update once without faults and count its flash
 * operations; then, for every operation index and every cut mode (before, after, torn inside),
 * run it again on a fresh device with power cut there, reboot, and let it converge. Checks on
 * every run: no boot ever panics (a brick), every booted image re-verifies independently, the
 * device ends idle on the new version (good update) or the old one (failing update). Then
 * seeded random multi-cut runs, which may end on either version but never brick.
 */
export async function runPowerCutSweep(options: SweepOptions): Promise<SweepResult> {
  const key = options.key ?? generateTestKey();
  const bodySize = options.bodySize ?? 6000;
  const next = buildImage({
    version: '1.1.0',
    sequenceNumber: 2,
    behaviour: NEW_BEHAVIOUR[options.scenario],
    size: bodySize - 100,
    key: key.signing,
  });
  const images: SweepImages = {
    old: buildImage({
      version: '1.0.0',
      sequenceNumber: 1,
      behaviour: 'healthy',
      size: bodySize,
      key: key.signing,
    }),
    next,
    nextEnvelope: await buildReleaseEnvelope(
      { sequenceNumber: 2, components: [{ id: MAIN_COMPONENT, image: next }] },
      key.signing,
    ),
    factory: buildImage({
      version: '0.9.0',
      sequenceNumber: 0,
      behaviour: 'healthy',
      size: 2000,
      key: key.signing,
    }),
    oldVersion: '1.0.0',
    newVersion: '1.1.0',
    factoryVersion: '0.9.0',
  };
  const expected = options.scenario === 'good-update' ? images.newVersion : images.oldVersion;
  const spec = defaultLayoutSpec(options.layout, options.layoutOverrides);
  let deviceSeed = options.seed ?? 1;
  const makeDevice = () => {
    const application = options.application(images, key);
    const device = new SimDevice({
      layout: spec,
      seed: deviceSeed++,
      trustedKeys: [key.trusted],
      initialImage: images.old,
      ...(options.layout === 'ab-factory' ? { factoryImage: images.factory } : {}),
      application,
    });
    return { device, application };
  };

  const failures: SweepFailure[] = [];
  const endedOn: Record<string, number> = {};
  let bricks = 0;
  let unverifiedBoots = 0;

  const judge = (
    { device, application }: { device: SimDevice; application: SweepApplication },
    outcome: DeviceOutcome,
    cuts: PlannedCut[],
    strict: boolean,
  ) => {
    if (outcome === 'bricked') bricks++;
    for (const b of device.boots) if (b.result.ok && !b.oracleVerified) unverifiedBoots++;
    const version = device.running?.image.versionString ?? 'none';
    endedOn[version] = (endedOn[version] ?? 0) + 1;
    const fail = (reason: string) => failures.push({ cuts, reason });
    if (outcome !== 'idle') return fail(`device ended ${outcome}`);
    if (device.boots.some((b) => b.result.ok && !b.oracleVerified))
      return fail('booted an unverified image');
    const allowed = strict ? [expected] : [images.newVersion, images.oldVersion];
    if (!allowed.includes(version)) {
      return fail(`ended on ${version}, expected ${allowed.join(' or ')}`);
    }
    if (application.outcome) {
      const reported = application.outcome();
      const want = version === images.newVersion ? 'success' : 'failure';
      if (reported !== want)
        return fail(`on ${version} but reported ${reported}, expected ${want}`);
    }
  };

  // Clean run: counts the cut-point space.
  const cleanRun = makeDevice();
  const clean = cleanRun.device;
  const start = clean.flash.counters.ops;
  const byArea: Record<string, number> = {};
  const areas = [
    ...clean.layout.slots.flatMap((s) => [s.image, s.trailer?.area]),
    clean.layout.bootState.area,
    clean.layout.swap?.scratch,
    clean.layout.swap?.status.area,
    ...clean.layout.journal,
  ].filter((a) => a !== undefined);
  clean.flash.observe((op) => {
    const area = areas.find((a) => op.offset >= a.offset && op.offset < a.offset + a.size);
    const name = (area?.name ?? 'other').replace(/-\d$/, '');
    byArea[name] = (byArea[name] ?? 0) + 1;
  });
  const cleanOutcome = await clean.runUntilIdle();
  const cleanOps = clean.flash.counters.ops - start;
  judge(cleanRun, cleanOutcome, [], true);

  const modes = options.modes ?? CUT_MODES;
  const stride = Math.max(1, options.stride ?? 1);
  let cutPoints = 0;
  for (let i = 0; i < cleanOps; i += stride) {
    for (const mode of modes) {
      const run = makeDevice();
      const cuts = [{ opIndex: start + i, mode }];
      run.device.flash.planCuts(cuts);
      judge(run, await run.device.runUntilIdle(), cuts, true);
      cutPoints++;
    }
  }

  const rng = new Prng((options.seed ?? 1) ^ 0x5eed);
  const runs = options.multiCutRuns ?? 0;
  for (let r = 0; r < runs; r++) {
    const run = makeDevice();
    const count = 2 + rng.int(4);
    const cuts: PlannedCut[] = [];
    for (let c = 0; c < count; c++) {
      cuts.push({
        opIndex: start + rng.int(Math.ceil(cleanOps * 1.5)),
        mode: modes[rng.int(modes.length)] ?? 'torn',
      });
    }
    run.device.flash.planCuts(cuts);
    judge(run, await run.device.runUntilIdle(), cuts, false);
  }

  return {
    layout: options.layout,
    scenario: options.scenario,
    cleanOps,
    cleanOpsByArea: byArea,
    cutPoints,
    multiCutRuns: runs,
    bricks,
    unverifiedBoots,
    failures,
    endedOn,
  };
}
