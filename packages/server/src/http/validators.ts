import { Ajv, type Options } from 'ajv';
import type { FastifyInstance } from 'fastify';

const common: Options = {
  allErrors: true,
  removeAdditional: false,
  useDefaults: true,
  strict: false,
};

/**
 * Two validators: JSON bodies are checked strictly (a number where a string belongs is an error,
 * never silently converted), while query strings, path params and headers — which are text on the
 * wire — are coerced to the declared types (and single values to arrays).
 */
export function installValidators(app: FastifyInstance): void {
  const strict = new Ajv({ ...common, coerceTypes: false });
  const coercing = new Ajv({ ...common, coerceTypes: 'array' });
  app.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === 'body' ? strict : coercing).compile(schema),
  );
}
