import { CoreError } from '../errors.js';
import { componentIdToHex } from './component-id.js';
import { constantTimeEqual, digestEquals } from './suit-digest.js';
import { CONDITION, commandName, DIRECTIVE, PARAMETER_NAMES } from './suit-labels.js';
import type {
  ComponentId,
  SuitCommand,
  SuitCommandSequence,
  SuitDigest,
  SuitEnvelope,
  SuitParameters,
} from './suit-model.js';

// Every field present from the start: one object shape for all components (fast property access).
function emptyParams(n: number): ParamState[] {
  const out: ParamState[] = [];
  for (let i = 0; i < n; i++) {
    out.push({
      vendorId: undefined,
      classId: undefined,
      imageDigest: undefined,
      imageSize: undefined,
      componentSlot: undefined,
      uri: undefined,
      sourceComponent: undefined,
      content: undefined,
      encryptionInfo: undefined,
      invokeArgs: undefined,
      deviceId: undefined,
      strictOrder: undefined,
      softFailure: undefined,
      useBefore: undefined,
    });
  }
  return out;
}

/** Mutable per-component parameter state while sequences run. */
type ParamState = { -readonly [K in Exclude<keyof SuitParameters, 'others'>]?: SuitParameters[K] };

/** A payload operation found while running the sequences: a component gets new content. */
export interface PayloadOperation {
  readonly action: 'fetch' | 'write' | 'copy';
  readonly componentIndex: number;
  digest?: SuitDigest;
  size?: number;
  readonly uri?: string;
  readonly slot?: number;
  readonly encryptionInfo?: Uint8Array;
  /** For fetch from an integrated payload ("#key") and for write: the bytes. */
  readonly payload?: Uint8Array;
  readonly integrated: boolean;
  readonly integratedKey?: string | number;
  readonly sourceComponentIndex?: number;
}

/** The state of the target device the processor checks against (see processEnvelope). */
export interface ConditionContext {
  readonly vendorId: Uint8Array;
  readonly classId: Uint8Array;
  readonly deviceId?: Uint8Array;
  /** POSIX seconds, for condition-use-before. */
  readonly now: number;
  /** By manifest component index: what the device has installed and where the update would go. */
  readonly components: readonly (
    | { readonly sequenceNumber?: number; readonly digest?: SuitDigest; readonly slot?: number }
    | undefined
  )[];
}

/** Where a command failed, for errors and SUIT reports. */
export interface CommandLocation {
  readonly section: string;
  readonly position: number;
  readonly command: string;
  readonly componentIndex?: number;
}

const soft = new WeakSet<CoreError>();

/** Commands the processor executes (anything else in a sequence it must run is MANIFEST_UNSUPPORTED). */
const SUPPORTED_CONDITIONS: ReadonlySet<number> = new Set([
  CONDITION.vendorIdentifier,
  CONDITION.classIdentifier,
  CONDITION.imageMatch,
  CONDITION.useBefore,
  CONDITION.componentSlot,
  CONDITION.abort,
  CONDITION.deviceIdentifier,
  CONDITION.imageNotMatch,
]);
const SUPPORTED_DIRECTIVES: ReadonlySet<number> = new Set([
  DIRECTIVE.setComponentIndex,
  DIRECTIVE.tryEach,
  DIRECTIVE.write,
  DIRECTIVE.setParameters,
  DIRECTIVE.overrideParameters,
  DIRECTIVE.fetch,
  DIRECTIVE.copy,
  DIRECTIVE.invoke,
  DIRECTIVE.runSequence,
]);

const PAYLOAD_DIRECTIVES: ReadonlySet<number> = new Set([
  DIRECTIVE.fetch,
  DIRECTIVE.write,
  DIRECTIVE.copy,
]);

interface State {
  params: ParamState[];
  indices: number[];
  ops: PayloadOperation[];
  vendorChecked: boolean;
  classChecked: boolean;
}

function cloneState(s: State): State {
  return {
    params: s.params.map((p) => ({ ...p })),
    indices: [...s.indices],
    ops: s.ops.map((o) => ({ ...o })),
    vendorChecked: s.vendorChecked,
    classChecked: s.classChecked,
  };
}

/**
 * Runs SUIT command sequences over a simulated parameter state. In 'process' mode conditions are
 * checked against a device and failures throw typed errors; in 'survey' mode (for summaries) every
 * condition passes and every try-each alternative is explored, to list every payload.
 */
export class CommandInterpreter {
  readonly #envelope: SuitEnvelope;
  readonly #device: ConditionContext | undefined;
  #state: State;
  readonly #surveyOps: PayloadOperation[] = [];
  // Where the interpreter is; turned into a CommandLocation only when something fails.
  #section = '';
  #current: SuitCommand | undefined;
  #componentIndex: number | undefined;

  readonly #surveyChoice: number;

  /** `surveyChoice` (survey mode only): which alternative every try-each takes. */
  constructor(envelope: SuitEnvelope, device?: ConditionContext, surveyChoice = 0) {
    this.#envelope = envelope;
    this.#device = device;
    this.#surveyChoice = surveyChoice;
    const n = envelope.manifest.common.components.length;
    this.#state = {
      params: emptyParams(n),
      indices: n > 0 ? [0] : [],
      ops: [],
      vendorChecked: false,
      classChecked: false,
    };
  }

  get operations(): readonly PayloadOperation[] {
    return this.#device ? this.#state.ops : this.#surveyOps;
  }

  get vendorChecked(): boolean {
    return this.#state.vendorChecked;
  }

  get classChecked(): boolean {
    return this.#state.classChecked;
  }

  /** Parameters of a component after the sequences ran. */
  parameters(index: number): Readonly<ParamState> {
    return this.#state.params[index] ?? {};
  }

  /** Runs the shared sequence, then `sequence`, as SUIT prescribes for each command sequence. */
  run(section: string, sequence: SuitCommandSequence): void {
    const shared = this.#envelope.manifest.common.sharedSequence;
    try {
      if (shared) this.#sequence('shared-sequence', shared);
      this.#sequence(section, sequence);
    } catch (error) {
      throw this.#located(error);
    }
  }

  #located(error: unknown): unknown {
    if (!(error instanceof CoreError) || !this.#current || 'section' in error.details) return error;
    const location: CommandLocation = {
      section: this.#section,
      position: this.#current.position,
      command: commandName(this.#current.code),
      ...(this.#componentIndex !== undefined ? { componentIndex: this.#componentIndex } : {}),
    };
    return new CoreError(
      error.code,
      `${error.message} (${location.section}, command ${location.position}: ${location.command})`,
      { cause: error, details: { ...error.details, ...location } },
    );
  }

  #sequence(section: string, seq: SuitCommandSequence): void {
    // The component index starts at 0; a manifest without components has none to act on.
    this.#state.indices = this.#state.params.length > 0 ? [0] : [];
    this.#commands(section, seq.commands);
  }

  #commands(section: string, commands: readonly SuitCommand[]): void {
    for (const cmd of commands) {
      this.#section = section;
      this.#current = cmd;
      this.#componentIndex = undefined;
      this.#command(section, cmd);
    }
  }

  #command(section: string, cmd: SuitCommand): void {
    const s = this.#state;
    const count = s.params.length;
    switch (cmd.kind) {
      case 'set-component-index': {
        const list =
          cmd.index === true
            ? s.params.map((_, i) => i)
            : typeof cmd.index === 'number'
              ? [cmd.index]
              : [...cmd.index];
        for (const i of list) {
          if (i >= count) malformed(`component index ${i} is out of range (${count} components)`);
        }
        s.indices = list;
        return;
      }
      case 'parameters':
        if (this.#device) checkParameters(cmd.parameters);
        for (const i of s.indices) applyParameters(s.params[i]!, cmd.parameters, cmd.override);
        return;
      case 'try-each':
        this.#tryEach(section, cmd.sequences, cmd.noneIsOk);
        return;
      case 'run-sequence': {
        const saved = s.indices;
        this.#commands(section, cmd.sequence.commands);
        this.#state.indices = saved;
        return;
      }
      case 'condition':
        if (!this.#device) return;
        if (!SUPPORTED_CONDITIONS.has(cmd.code)) unsupported(`${commandName(cmd.code)}`);
        for (const i of s.indices) {
          this.#componentIndex = i;
          this.#condition(cmd.code, i);
        }
        return;
      case 'directive':
        if (!this.#device) {
          if (PAYLOAD_DIRECTIVES.has(cmd.code))
            for (const i of s.indices) this.#payloadDirective(cmd.code, i);
          return;
        }
        if (!SUPPORTED_DIRECTIVES.has(cmd.code)) unsupported(`${commandName(cmd.code)}`);
        if (cmd.code === DIRECTIVE.invoke) {
          if (section !== 'invoke') unsupported(`directive-invoke in ${section}`);
          return;
        }
        for (const i of s.indices) this.#payloadDirective(cmd.code, i);
        return;
      case 'other':
        if (this.#device) unsupported(`${commandName(cmd.code)}`);
    }
  }

  #tryEach(section: string, sequences: readonly SuitCommandSequence[], noneIsOk: boolean): void {
    if (!this.#device) {
      // Survey: every try-each takes alternative `surveyChoice` (or its last one), so running the
      // survey once per choice visits every alternative together with what follows it.
      const seq = sequences[Math.min(this.#surveyChoice, sequences.length - 1)]!;
      this.#commands(section, seq.commands);
      return;
    }
    let lastFailure: CoreError | undefined;
    const start = this.#state;
    for (const seq of sequences) {
      this.#state = cloneState(start);
      try {
        this.#commands(section, seq.commands);
        return;
      } catch (error) {
        if (!(error instanceof CoreError) || !soft.has(error)) throw error;
        lastFailure = error;
      }
    }
    this.#state = start;
    if (noneIsOk) return;
    throw lastFailure!;
  }

  #condition(code: number, i: number): void {
    const device = this.#device!;
    const p = this.#state.params[i]!;
    const installed = device.components[i];
    let written: PayloadOperation | undefined;
    for (const o of this.#state.ops) if (o.componentIndex === i) written = o;
    switch (code) {
      case CONDITION.vendorIdentifier:
        if (!p.vendorId) malformed('condition-vendor-identifier without a vendor-id parameter');
        this.#state.vendorChecked = true;
        if (!bytesEqual(p.vendorId, device.vendorId))
          failSoft('MANIFEST_VENDOR_MISMATCH', 'the manifest is for another vendor');
        return;
      case CONDITION.classIdentifier:
        if (!p.classId) malformed('condition-class-identifier without a class-id parameter');
        this.#state.classChecked = true;
        if (!bytesEqual(p.classId, device.classId))
          failSoft('MANIFEST_CLASS_MISMATCH', 'the manifest is for another device class');
        return;
      case CONDITION.deviceIdentifier:
        if (!p.deviceId) malformed('condition-device-identifier without a device-id parameter');
        if (!device.deviceId || !bytesEqual(p.deviceId, device.deviceId))
          failSoft('MANIFEST_CONDITION_FAILED', 'the manifest is for another device');
        return;
      case CONDITION.imageMatch:
      case CONDITION.imageNotMatch: {
        if (!p.imageDigest) malformed(`${commandName(code)} without an image-digest parameter`);
        const wantMatch = code === CONDITION.imageMatch;
        if (written && wantMatch) {
          // The new image is checked after it is written: record what it must match.
          if (written.digest && !digestEquals(written.digest, p.imageDigest)) {
            failSoft(
              'MANIFEST_CONDITION_FAILED',
              'image-match expects another digest than the payload was fetched with',
            );
          }
          written.digest = p.imageDigest;
          if (p.imageSize !== undefined) {
            if (written.size !== undefined && written.size !== p.imageSize)
              failSoft('MANIFEST_CONDITION_FAILED', 'image sizes disagree');
            written.size = p.imageSize;
          }
          return;
        }
        const current = written ? written.digest : installed?.digest;
        const matches = current !== undefined && digestEquals(current, p.imageDigest);
        if (matches !== wantMatch) {
          failSoft(
            'MANIFEST_CONDITION_FAILED',
            wantMatch ? 'the installed image does not match' : 'the image is already installed',
          );
        }
        return;
      }
      case CONDITION.componentSlot:
        if (p.componentSlot === undefined)
          malformed('condition-component-slot without a component-slot parameter');
        if (installed?.slot !== p.componentSlot)
          failSoft(
            'MANIFEST_CONDITION_FAILED',
            `the update does not go to slot ${p.componentSlot}`,
          );
        return;
      case CONDITION.useBefore:
        if (p.useBefore === undefined)
          malformed('condition-use-before without a use-before parameter');
        if (device.now > p.useBefore)
          failSoft('MANIFEST_CONDITION_FAILED', 'the manifest has expired (use-before)');
        return;
      case CONDITION.abort:
        failSoft('MANIFEST_CONDITION_FAILED', 'condition-abort');
    }
  }

  #payloadDirective(code: number, i: number): void {
    const p = this.#state.params[i]!;
    // Built by assignment (no conditional spreads): this runs for every verified envelope.
    const op: { -readonly [K in keyof PayloadOperation]: PayloadOperation[K] } = {
      action: code === DIRECTIVE.fetch ? 'fetch' : code === DIRECTIVE.write ? 'write' : 'copy',
      componentIndex: i,
      integrated: false,
    };
    if (p.imageDigest) op.digest = p.imageDigest;
    if (p.imageSize !== undefined) op.size = p.imageSize;
    if (p.componentSlot !== undefined) op.slot = p.componentSlot;
    if (p.encryptionInfo) op.encryptionInfo = p.encryptionInfo;
    if (code === DIRECTIVE.fetch) {
      if (p.uri === undefined) malformed('directive-fetch without a uri parameter');
      op.uri = p.uri;
      const integratedPayload = this.#envelope.integrated.get(p.uri);
      if (integratedPayload) {
        op.integrated = true;
        op.integratedKey = p.uri;
        op.payload = integratedPayload;
      } else if (p.uri.startsWith('#')) {
        throw new CoreError(
          'MANIFEST_MEMBER_MISSING',
          `the integrated payload ${p.uri} is not in the envelope`,
          {
            details: { member: p.uri },
          },
        );
      }
    } else if (code === DIRECTIVE.write) {
      if (!p.content) malformed('directive-write without a content parameter');
      op.integrated = true;
      op.payload = p.content;
    } else {
      if (p.sourceComponent === undefined)
        malformed('directive-copy without a source-component parameter');
      if (p.sourceComponent >= this.#state.params.length) {
        malformed(`source-component ${p.sourceComponent} is out of range`);
      }
      op.sourceComponentIndex = p.sourceComponent;
    }
    if (!this.#device) {
      this.#surveyOps.push(op);
      return;
    }
    if (this.#state.ops.some((o) => o.componentIndex === i))
      unsupported('writing one component twice in one update');
    this.#state.ops.push(op);
  }
}

/**
 * override-parameters sets every given parameter; set-parameters only those not set yet.
 * Spelled out field by field: named property access stays fast where a loop over field names
 * (keyed access) was the interpreter's main cost.
 */
function applyParameters(t: ParamState, p: SuitParameters, override: boolean): void {
  if (p.vendorId !== undefined && (override || t.vendorId === undefined)) t.vendorId = p.vendorId;
  if (p.classId !== undefined && (override || t.classId === undefined)) t.classId = p.classId;
  if (p.imageDigest !== undefined && (override || t.imageDigest === undefined))
    t.imageDigest = p.imageDigest;
  if (p.imageSize !== undefined && (override || t.imageSize === undefined))
    t.imageSize = p.imageSize;
  if (p.componentSlot !== undefined && (override || t.componentSlot === undefined))
    t.componentSlot = p.componentSlot;
  if (p.uri !== undefined && (override || t.uri === undefined)) t.uri = p.uri;
  if (p.sourceComponent !== undefined && (override || t.sourceComponent === undefined)) {
    t.sourceComponent = p.sourceComponent;
  }
  if (p.content !== undefined && (override || t.content === undefined)) t.content = p.content;
  if (p.encryptionInfo !== undefined && (override || t.encryptionInfo === undefined))
    t.encryptionInfo = p.encryptionInfo;
  if (p.invokeArgs !== undefined && (override || t.invokeArgs === undefined))
    t.invokeArgs = p.invokeArgs;
  if (p.deviceId !== undefined && (override || t.deviceId === undefined)) t.deviceId = p.deviceId;
  if (p.strictOrder !== undefined && (override || t.strictOrder === undefined))
    t.strictOrder = p.strictOrder;
  if (p.softFailure !== undefined && (override || t.softFailure === undefined))
    t.softFailure = p.softFailure;
  if (p.useBefore !== undefined && (override || t.useBefore === undefined))
    t.useBefore = p.useBefore;
}

function checkParameters(parameters: SuitParameters): void {
  if (parameters.others.size > 0) {
    const key = parameters.others.keys().next().value as number;
    unsupported(`parameter ${PARAMETER_NAMES.get(key) ?? key}`, { parameter: key });
  }
  if (parameters.softFailure === true) unsupported('parameter soft-failure = true');
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return constantTimeEqual(a, b);
}

function malformed(reason: string): never {
  throw new CoreError('MANIFEST_MALFORMED', `malformed manifest: ${reason}`, {
    details: { reason },
  });
}

function unsupported(what: string, details: Record<string, unknown> = {}): never {
  throw new CoreError('MANIFEST_UNSUPPORTED', `unsupported: ${what}`, {
    details: { reason: what, ...details },
  });
}

function failSoft(
  code: 'MANIFEST_VENDOR_MISMATCH' | 'MANIFEST_CLASS_MISMATCH' | 'MANIFEST_CONDITION_FAILED',
  message: string,
): never {
  const error = new CoreError(code, message, { details: { reason: message } });
  soft.add(error);
  throw error;
}

/** Statically checks that a sequence holds only commands and parameters the processor implements. */
export function assertSupportedSequence(section: string, seq: SuitCommandSequence): void {
  for (const cmd of seq.commands) {
    const where = { section, position: cmd.position, command: commandName(cmd.code) };
    try {
      if (cmd.kind === 'condition' && !SUPPORTED_CONDITIONS.has(cmd.code))
        unsupported(commandName(cmd.code));
      if (cmd.kind === 'directive' && !SUPPORTED_DIRECTIVES.has(cmd.code))
        unsupported(commandName(cmd.code));
      if (cmd.kind === 'other') unsupported(commandName(cmd.code));
      if (cmd.kind === 'parameters') checkParameters(cmd.parameters);
    } catch (error) {
      const e = error as CoreError;
      throw new CoreError(e.code, `${e.message} (${section}, command ${cmd.position})`, {
        cause: e,
        details: { ...e.details, ...where },
      });
    }
    if (cmd.kind === 'try-each') for (const s of cmd.sequences) assertSupportedSequence(section, s);
    if (cmd.kind === 'run-sequence') assertSupportedSequence(section, cmd.sequence);
  }
}

/** What the manifest's sequences say about one component (survey for summaries; no device checks). */
export interface ComponentSurvey {
  readonly index: number;
  readonly id: ComponentId;
  /** Lowercase hex of the CBOR encoding of the component id (docs/device-api.md). */
  readonly idHex: string;
  readonly vendorId?: Uint8Array;
  readonly classId?: Uint8Array;
  readonly imageDigest?: SuitDigest;
  readonly imageSize?: number;
  readonly uri?: string;
  /** Every payload operation targeting this component, across all try-each alternatives. */
  readonly payloads: readonly PayloadOperation[];
}

/**
 * Lists per component what the shared, payload-fetch, install and validate sequences set,
 * exploring every try-each alternative (e.g. both images of an A/B manifest). Severed sequences
 * that the envelope does not carry are skipped. Unknown commands are not judged here.
 */
export function surveyComponents(envelope: SuitEnvelope): ComponentSurvey[] {
  const m = envelope.manifest;
  const sequences: [string, SuitCommandSequence | undefined][] = [
    ['payload-fetch', m.payloadFetch?.value],
    ['install', m.install?.value],
    ['validate', m.validate],
  ];
  if (!sequences.some(([, seq]) => seq))
    sequences.push(['shared-sequence', { bytes: new Uint8Array(0), commands: [] }]);
  const width = Math.min(
    8,
    Math.max(
      1,
      ...sequences.map(([, seq]) => (seq ? tryEachWidth(seq) : 1)),
      tryEachWidth(m.common.sharedSequence),
    ),
  );
  let first: CommandInterpreter | undefined;
  const operations: PayloadOperation[] = [];
  const seen = new Set<string>();
  for (let choice = 0; choice < width; choice++) {
    const it = new CommandInterpreter(envelope, undefined, choice);
    for (const [section, seq] of sequences) {
      if (!seq) continue;
      try {
        it.run(section, seq);
      } catch (error) {
        if (!(error instanceof CoreError)) throw error;
        // A survey describes what it can; the device's processor is the judge.
      }
    }
    first ??= it;
    for (const op of it.operations) {
      const key = `${op.componentIndex}|${op.action}|${op.uri ?? ''}|${op.digest ? Buffer.from(op.digest.bytes).toString('hex') : ''}|${op.slot ?? ''}`;
      if (seen.has(key)) continue;
      seen.add(key);
      operations.push(op);
    }
  }
  return m.common.components.map((id, index) => {
    const p = first!.parameters(index);
    return {
      index,
      id,
      idHex: componentIdToHex(id),
      ...(p.vendorId ? { vendorId: p.vendorId } : {}),
      ...(p.classId ? { classId: p.classId } : {}),
      ...(p.imageDigest ? { imageDigest: p.imageDigest } : {}),
      ...(p.imageSize !== undefined ? { imageSize: p.imageSize } : {}),
      ...(p.uri !== undefined ? { uri: p.uri } : {}),
      payloads: operations.filter((o) => o.componentIndex === index),
    };
  });
}

/** The most alternatives any try-each in `seq` (or nested in it) offers. */
function tryEachWidth(seq: SuitCommandSequence | undefined): number {
  let width = 1;
  for (const cmd of seq?.commands ?? []) {
    if (cmd.kind === 'try-each') {
      width = Math.max(width, cmd.sequences.length);
      for (const s of cmd.sequences) width = Math.max(width, tryEachWidth(s));
    } else if (cmd.kind === 'run-sequence') {
      width = Math.max(width, tryEachWidth(cmd.sequence));
    }
  }
  return width;
}
