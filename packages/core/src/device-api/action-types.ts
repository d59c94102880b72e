/**
 * How a device treats an action (docs/device-api.md, "Action types"):
 * - `forced`: installs without asking the device's defer policy (still only inside a maintenance
 *   window, when the action has one);
 * - `soft`: the device's policy (`canInstall`) may defer installing;
 * - `download-only`: downloads and verifies, then stops;
 * - `time-forced`: `soft` until `forceAfter`, `forced` from then on.
 */
export const ACTION_TYPES = ['forced', 'soft', 'download-only', 'time-forced'] as const;
/** One of {@link ACTION_TYPES}. */
export type ActionType = (typeof ACTION_TYPES)[number];

/** Runtime guard for {@link ActionType}. */
export function isActionType(value: unknown): value is ActionType {
  return typeof value === 'string' && (ACTION_TYPES as readonly string[]).includes(value);
}

/**
 * Whether the device's defer policy is consulted at instant `now` (ms): always for `soft`, for
 * `time-forced` before its deadline, never for `forced`. (`download-only` never installs.)
 */
export function policyMayDefer(
  type: ActionType,
  forceAfter: string | null | undefined,
  now: number,
): boolean {
  const table: Record<ActionType, () => boolean> = {
    forced: () => false,
    soft: () => true,
    'download-only': () => true,
    // A missing or unreadable deadline keeps the action soft: the service never sends one, and
    // forcing on a value we cannot read would be the unsafe direction.
    'time-forced': () => {
      const deadline = forceAfter == null ? Number.NaN : Date.parse(forceAfter);
      return !(now >= deadline);
    },
  };
  return table[type]();
}
