/**
 * What the campaign service and the action service need from the campaign engine
 * (campaign-engine.ts implements it). The engine runs in every replica; it coordinates only
 * through the database, so these are hints to work soon, never the only trigger (the tick is).
 */
export interface CampaignEngineHandle {
  /** Evaluate this campaign soon (after a commit that may have changed its progress). */
  poke(tenantId: string, campaignId: string): void;
}

/** The engine as the server runs it: started with the app, closed before the database goes. */
export interface CampaignEngineService extends CampaignEngineHandle {
  start(): void;
  close(): Promise<void>;
}
