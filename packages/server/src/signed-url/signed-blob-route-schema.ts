import { Type } from 'typebox';

/**
 * Route schema of a download through a signed URL (payloads and delta patches): the artifact's
 * digest in the path and the signature's claims (`t`, `d`, `exp`, `sig`) in the query. The
 * handler verifies the claims with {@link SignedUrl.verify}; the schema only bounds their sizes.
 */
export function signedBlobRouteSchema(summary: string) {
  return {
    summary,
    tags: ['device'],
    params: Type.Object({ digest: Type.String({ maxLength: 128 }) }),
    querystring: Type.Object({
      t: Type.Optional(Type.String({ maxLength: 128 })),
      d: Type.Optional(Type.String({ maxLength: 128 })),
      exp: Type.Optional(Type.String({ maxLength: 20 })),
      sig: Type.Optional(Type.String({ maxLength: 128 })),
    }),
  };
}
