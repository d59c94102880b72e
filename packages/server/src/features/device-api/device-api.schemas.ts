import { Type } from 'typebox';
import { FEEDBACK_STATUSES, type FeedbackStatus } from '../actions/action-state-machine.js';

/*
 * The device API's request shapes, shared by the HTTP routes and the device API over MQTT
 * (features/device-mqtt), so both channels accept exactly the same reports.
 */

const Sha256 = Type.String({ pattern: '^[0-9a-f]{64}$' });
export const ActionId = Type.String({ pattern: '^act_[A-Za-z0-9_-]{1,64}$' });
const Code = Type.String({ pattern: '^[A-Z][A-Z0-9_]{0,63}$' });

/** The check-in report (HTTP body, and `report` of an MQTT check-in). */
export const CheckInBody = Type.Object(
  {
    components: Type.Optional(
      Type.Array(
        Type.Object(
          {
            id: Type.String({ pattern: '^[0-9a-f]{2,256}$' }),
            version: Type.Optional(Type.Union([Type.String({ maxLength: 64 }), Type.Null()])),
            sequenceNumber: Type.Optional(
              Type.Union([
                Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
                Type.Null(),
              ]),
            ),
            digest: Type.Optional(Type.Union([Sha256, Type.Null()])),
          },
          { additionalProperties: false },
        ),
        { maxItems: 32 },
      ),
    ),
    attributes: Type.Optional(
      Type.Record(
        Type.String({ pattern: '^[A-Za-z][A-Za-z0-9_.-]{0,63}$' }),
        Type.Union([Type.String({ maxLength: 256 }), Type.Number(), Type.Boolean()]),
        { maxProperties: 64 },
      ),
    ),
  },
  { additionalProperties: false },
);

/** A feedback report (HTTP body, and `report` of an MQTT feedback). */
export const FeedbackBody = Type.Object(
  {
    reportId: Type.String({ pattern: '^[A-Za-z0-9_-]{8,64}$' }),
    status: Type.Unsafe<FeedbackStatus>({ type: 'string', enum: [...FEEDBACK_STATUSES] }),
    progress: Type.Optional(Type.Union([Type.Integer({ minimum: 0, maximum: 100 }), Type.Null()])),
    code: Type.Optional(Type.Union([Code, Type.Null()])),
    message: Type.Optional(Type.Union([Type.String({ maxLength: 1024 }), Type.Null()])),
    /** Patches the device applied (counted as delta deliveries; see DeltaService). */
    deltas: Type.Optional(Type.Array(Sha256, { maxItems: 32 })),
  },
  { additionalProperties: false },
);
