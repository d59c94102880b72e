import type { Kysely } from 'kysely';
import type { Database } from '../../db/database.js';
import type { CampaignState, StateReason } from '../campaigns/campaign-states.js';
import { campaignTotals, type TargetCounts } from '../campaigns/campaign-stats.repository.js';
import {
  activeCampaigns,
  type ClassCount,
  deltaSavings,
  devicesByClass,
  devicesByVersion,
  devicesWithVersion,
  type FailureCount,
  failuresSince,
} from './overview.repository.js';

/** How many versions the overview names; the rest are summed into `other`. */
export const TOP_VERSIONS = 8;
/** How many active campaigns the overview lists (newest first); `total` counts them all. */
export const LISTED_CAMPAIGNS = 20;
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** The parts of the overview a user's roles may see (absent parts are answered as null). */
export interface OverviewGrants {
  /** `campaigns:read`: the active campaigns and their progress. */
  readonly campaigns: boolean;
  /** `actions:read`: failures of the last 24 h (they come from the actions' reports). */
  readonly failures: boolean;
  /** `releases:read`: bytes saved by deltas (as the release page shows them per release). */
  readonly deltas: boolean;
}

/** The fleet at a glance (docs/web.md, "The overview"). */
export interface Overview {
  readonly at: string;
  readonly devices: {
    readonly total: number;
    readonly onlineLastHour: number;
    readonly onlineLastDay: number;
    readonly byClass: ClassCount[];
    readonly byVersion: {
      readonly items: {
        deviceClassId: string;
        className: string;
        version: string;
        devices: number;
      }[];
      /** Devices counted under versions beyond the first {@link TOP_VERSIONS}. */
      readonly other: number;
      /** Active devices that report no version for any component (e.g. never checked in). */
      readonly unreported: number;
    };
  };
  readonly campaigns: {
    readonly total: number;
    readonly items: {
      id: string;
      name: string;
      state: CampaignState;
      stateReason: StateReason | null;
      releaseId: string;
      releaseVersion: string | null;
      totals: TargetCounts;
    }[];
  } | null;
  readonly failures: {
    readonly since: string;
    readonly total: number;
    readonly items: FailureCount[];
  } | null;
  readonly deltas: { readonly downloads: number; readonly bytesSaved: number } | null;
}

/** Builds the overview with a fixed number of set-based statements, whatever the fleet's size. */
export class OverviewService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => Date,
  ) {}

  /** The tenant's overview; parts `grants` does not allow are null and never queried. */
  async overview(tenantId: string, grants: OverviewGrants): Promise<Overview> {
    const now = this.now();
    const at = now.toISOString();
    const hour = new Date(now.getTime() - HOUR_MS).toISOString();
    const day = new Date(now.getTime() - DAY_MS).toISOString();
    const [classes, versions, withVersion, campaigns, failures, deltas] = await Promise.all([
      devicesByClass(this.db, tenantId, { hour, day }),
      devicesByVersion(this.db, tenantId),
      devicesWithVersion(this.db, tenantId),
      grants.campaigns ? this.#campaigns(tenantId) : null,
      grants.failures ? failuresSince(this.db, tenantId, day) : null,
      grants.deltas ? deltaSavings(this.db, tenantId) : null,
    ]);
    const sum = (key: 'devices' | 'onlineLastHour' | 'onlineLastDay') =>
      classes.reduce((n, c) => n + c[key], 0);
    const total = sum('devices');
    const className = new Map(classes.map((c) => [c.deviceClassId, c.name]));
    return {
      at,
      devices: {
        total,
        onlineLastHour: sum('onlineLastHour'),
        onlineLastDay: sum('onlineLastDay'),
        byClass: classes,
        byVersion: {
          items: versions.slice(0, TOP_VERSIONS).map((v) => ({
            deviceClassId: v.deviceClassId,
            className: className.get(v.deviceClassId) ?? v.deviceClassId,
            version: v.version,
            devices: v.devices,
          })),
          other: versions.slice(TOP_VERSIONS).reduce((n, v) => n + v.devices, 0),
          unreported: total - withVersion,
        },
      },
      campaigns,
      failures: failures && {
        since: day,
        total: failures.reduce((n, f) => n + f.count, 0),
        items: failures,
      },
      deltas,
    };
  }

  async #campaigns(tenantId: string): Promise<NonNullable<Overview['campaigns']>> {
    const active = await activeCampaigns(this.db, tenantId, LISTED_CAMPAIGNS);
    const totals = await campaignTotals(
      this.db,
      active.items.map((c) => c.id),
    );
    return {
      total: active.total,
      items: active.items.map(({ createdAt: _, ...c }) => ({
        ...c,
        totals: totals.get(c.id) as TargetCounts,
      })),
    };
  }
}
