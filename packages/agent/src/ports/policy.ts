/**
 * Device-side policy hooks, supplied by the application that embeds the agent.
 * Both are optional; the defaults allow installing and treat a booted image as healthy.
 */
export interface Policy {
  /**
   * Asked before anything disruptive (marking an image pending, rebooting). Answer `ok: false`
   * with a short reason (`busy`, `battery-low`, `job-in-progress`) to defer; the agent asks again
   * after the poll interval and keeps the downloaded image.
   */
  canInstall?(context: InstallContext): Promise<PolicyVerdict>;
  /**
   * Run after a trial boot into a new image, before confirming it. `ok: false` (or a throw, or
   * exceeding the agent's health-check timeout) reverts to the previous image.
   */
  healthCheck?(): Promise<PolicyVerdict>;
}

/** What `canInstall` is asked about. */
export interface InstallContext {
  readonly actionId: string;
  readonly version: string;
  readonly components: readonly string[];
}

/** A hook's answer. */
export type PolicyVerdict = { readonly ok: true } | { readonly ok: false; readonly reason: string };
