import {
  type FastifyBaseLogger,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import type { Bindings, ChildLoggerOptions, Level, Logger } from 'pino';

/**
 * A request logger that builds its pino child (bindings serialised, redaction set up) only when
 * something is logged at an enabled level. Most requests log nothing, and an eager child per
 * request cost several µs on the hottest path. A class, so each request allocates one small
 * object and the methods stay on the prototype.
 */
class LazyChildLogger {
  #child: FastifyBaseLogger | undefined;

  constructor(
    private readonly parent: FastifyBaseLogger,
    private readonly bindings: Bindings,
    private readonly options: ChildLoggerOptions | undefined,
  ) {}

  #real(): FastifyBaseLogger {
    this.#child ??= this.parent.child(this.bindings, this.options);
    return this.#child;
  }

  isLevelEnabled(level: Level): boolean {
    return ((this.#child ?? this.parent) as unknown as Logger).isLevelEnabled(level);
  }

  #log(level: Level, args: unknown[]): void {
    if (this.isLevelEnabled(level)) (this.#real()[level] as (...a: unknown[]) => void)(...args);
  }

  get level(): string {
    return this.#child?.level ?? this.parent.level;
  }
  set level(level: string) {
    this.#real().level = level;
  }
  fatal(...args: unknown[]): void {
    this.#log('fatal', args);
  }
  error(...args: unknown[]): void {
    this.#log('error', args);
  }
  warn(...args: unknown[]): void {
    this.#log('warn', args);
  }
  info(...args: unknown[]): void {
    this.#log('info', args);
  }
  debug(...args: unknown[]): void {
    this.#log('debug', args);
  }
  trace(...args: unknown[]): void {
    this.#log('trace', args);
  }
  silent(): void {}
  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.#real().child(bindings, options);
  }
}

/** Fastify's `childLoggerFactory`: see {@link LazyChildLogger}. */
export function lazyChildLogger(
  this: unknown,
  parent: FastifyBaseLogger,
  bindings: Bindings,
  options: ChildLoggerOptions,
): FastifyBaseLogger {
  if (options?.level !== undefined) return parent.child(bindings, options);
  return new LazyChildLogger(parent, bindings, options) as unknown as FastifyBaseLogger;
}

/** Request paths logged without their query (a signed URL's query is a credential). */
function pathOf(request: FastifyRequest): string {
  const q = request.url.indexOf('?');
  return q === -1 ? request.url : request.url.slice(0, q);
}

/**
 * Fastify's request log lines, ours: one line per answered request (no "incoming request"
 * line), with method, path (never the query), address, status and time; 5xx at error,
 * everything else at info except successful high-volume calls — the device API (a fleet's polls),
 * health probes and metric scrapes, named by path prefix — at debug.
 */
export class UpdraftLogController extends LogController {
  constructor(private readonly quietPrefixes: readonly string[]) {
    super();
  }

  override incomingRequest(): void {}

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    const status = reply.statusCode;
    const level =
      error || status >= 500
        ? 'error'
        : status < 400 && this.quietPrefixes.some((p) => request.url.startsWith(p))
          ? 'debug'
          : 'info';
    if (!(request.log as unknown as Logger).isLevelEnabled(level)) return;
    request.log[level](
      {
        method: request.method,
        path: pathOf(request),
        ip: request.ip,
        statusCode: status,
        responseTime: reply.elapsedTime,
        ...(error ? { err: error } : {}),
      },
      'request completed',
    );
  }
}
