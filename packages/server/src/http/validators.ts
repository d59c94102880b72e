import { Ajv, type ErrorObject, type Options, type ValidateFunction } from 'ajv';
import type { FastifyInstance } from 'fastify';

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?(?:Z|[+-](\d{2}):(\d{2}))$/;

/**
 * True for an RFC 3339 date-time that names a real instant: month 1–12, a day that exists in
 * that month (leap years included), hours below 24, minutes and seconds below 60, offsets below
 * 24:00. `2026-02-31T00:00:00Z` matches a pattern but is no date (and `new Date` throws on it).
 */
export function isRealDateTime(text: string): boolean {
  const m = RFC3339.exec(text);
  if (m === null) return false;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as number[];
  const days = new Date(Date.UTC(year!, month!, 0)).getUTCDate();
  if (month! < 1 || month! > 12 || day! < 1 || day! > days) return false;
  if (hour! > 23 || minute! > 59 || second! > 59) return false;
  if (m[7] !== undefined && (Number(m[7]) > 23 || Number(m[8]) > 59)) return false;
  return Number.isFinite(Date.parse(text));
}

const common: Options = {
  allErrors: true,
  removeAdditional: false,
  useDefaults: true,
  strict: false,
  // `format: 'date-time'` in a route schema means a real instant, not only its shape.
  formats: { 'date-time': { type: 'string', validate: isRealDateTime } },
};

/**
 * Where the first string (value or object key) holding U+0000 sits in `data`, as a JSON
 * pointer; `undefined` when none does. Iterative: a deeply nested body cannot exhaust the stack.
 */
export function nulPointer(data: unknown): string | undefined {
  const stack: [unknown, string][] = [[data, '']];
  while (stack.length > 0) {
    const [value, at] = stack.pop()!;
    if (typeof value === 'string') {
      if (value.includes('\u0000')) return at;
    } else if (typeof value === 'object' && value !== null) {
      for (const [key, child] of Object.entries(value)) {
        const where = `${at}/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`;
        if (key.includes('\u0000')) return where;
        stack.push([child, where]);
      }
    }
  }
  return undefined;
}

type Validator = ((data: unknown) => boolean) & { errors?: ErrorObject[] | null };

/**
 * The schema's verdict, then no NUL characters anywhere: PostgreSQL's text cannot hold U+0000
 * (the driver fails, which was a 500), and no name, attribute or message needs it. Refused
 * here, once for every route and every part of a request, as a validation error (400).
 */
function refusingNul(validate: ValidateFunction): Validator {
  const checked: Validator = (data) => {
    if (!validate(data)) {
      checked.errors = validate.errors ?? null;
      return false;
    }
    const at = nulPointer(data);
    if (at !== undefined) {
      checked.errors = [
        {
          instancePath: at,
          schemaPath: '#',
          keyword: 'nul',
          params: {},
          message: 'must not contain NUL (U+0000) characters',
        },
      ];
      return false;
    }
    checked.errors = null;
    return true;
  };
  return checked;
}

/**
 * Two validators: JSON bodies are checked strictly (a number where a string belongs is an error,
 * never silently converted), while query strings, path params and headers — which are text on the
 * wire — are coerced to the declared types (and single values to arrays). Both refuse strings
 * holding NUL, and `format: 'date-time'` accepts only real dates.
 */
export function installValidators(app: FastifyInstance): void {
  const strict = new Ajv({ ...common, coerceTypes: false });
  const coercing = new Ajv({ ...common, coerceTypes: 'array' });
  app.setValidatorCompiler(({ schema, httpPart }) =>
    refusingNul((httpPart === 'body' ? strict : coercing).compile(schema)),
  );
}
