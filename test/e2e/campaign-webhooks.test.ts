import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  WebhookReceiver,
  webhookSignatureValid,
} from '../../packages/server/src/testing/webhook-receiver.js';
import { CampaignWorld } from './campaign-fixture.js';

// Campaign webhooks end to end: a real local receiver gets signed `campaign.*` events of a
// campaign driven with the CLI; its first delivery is answered 503, the server is killed
// (SIGKILL) and started again on the same database, and the retry arrives from the new process
// with the same delivery id and a valid signature.

let world: CampaignWorld;
let receiver: WebhookReceiver;

beforeAll(async () => {
  receiver = await WebhookReceiver.start();
  world = await CampaignWorld.start({
    dialect: 'sqlite',
    // A retry is due 3–6 s after a failed attempt: after the kill below, even on a loaded machine.
    env: { UPDRAFT_WEBHOOKS_RETRY_BASE_SECONDS: '6', UPDRAFT_WEBHOOKS_RETRY_MAX_SECONDS: '6' },
  });
}, 120_000);
afterAll(async () => {
  await world?.close();
  await receiver?.close();
});

interface Delivery {
  id: string;
  event: string;
  data: Record<string, unknown>;
}

describe('campaign webhooks', () => {
  it('(g) delivers signed campaign events and retries a failed one after a restart', async () => {
    await world.api('PUT', '/api/v1/webhooks/settings', { allowPrivateTargets: true });
    const { secret, webhook } = await world.api<{ secret: string; webhook: { id: string } }>(
      'POST',
      '/api/v1/webhooks',
      {
        url: receiver.url,
        events: ['campaign.state_changed', 'campaign.phase_advanced', 'campaign.phase_paused'],
      },
    );
    const approver = await world.addUser('alice', ['approver']);
    // No device matches: the engine finishes the started campaign at once (completed).
    const id = await world.createCampaign([
      '--name',
      'hooked',
      '--filter',
      'device.attributes.ring == "nobody"',
    ]);
    receiver.statuses.push(503);
    await world.ok(['campaign', 'approve', id], { config: approver });
    await world.ok(['campaign', 'start', id]);
    await receiver.waitFor(1);
    // The failed attempt is recorded before the server dies.
    await expect
      .poll(async () => {
        const { items } = await world.api<{ items: { attempts: number; state: string }[] }>(
          'GET',
          `/api/v1/webhooks/${webhook.id}/deliveries`,
        );
        return items.some((d) => d.attempts >= 1 && d.state === 'pending');
      })
      .toBe(true);
    await world.servers[0]!.kill('SIGKILL');
    const failedId = receiver.requests[0]!.headers['updraft-webhook-id'];
    const beforeRestart = receiver.requests.length;

    await world.startReplica();
    await world.login();
    await expect
      .poll(
        () => receiver.requests.slice(beforeRestart).map((r) => r.headers['updraft-webhook-id']),
        {
          timeout: 20_000,
          interval: 200,
        },
      )
      .toContain(failedId);
    const retry = receiver.requests
      .slice(beforeRestart)
      .find((r) => r.headers['updraft-webhook-id'] === failedId)!;
    expect(retry.body).toBe(receiver.requests[0]!.body);

    // Every campaign event up to `finished` arrives, signed; each delivery id once delivered.
    await expect
      .poll(
        () =>
          receiver.requests
            .map((r) => JSON.parse(r.body) as Delivery)
            .filter((d) => d.event === 'campaign.state_changed')
            .map((d) => d.data.to),
        { timeout: 20_000, interval: 200 },
      )
      .toEqual(expect.arrayContaining(['approved', 'running', 'finished']));
    for (const request of receiver.requests) {
      expect(webhookSignatureValid(secret, request)).toBe(true);
    }
    const deliveries = receiver.requests.map((r) => JSON.parse(r.body) as Delivery);
    expect(deliveries.find((d) => d.data.to === 'finished')).toMatchObject({
      event: 'campaign.state_changed',
      data: {
        campaign: { id, name: 'hooked' },
        from: 'running',
        to: 'finished',
        reason: 'completed',
      },
    });
    expect((await world.status(id)).state).toBe('finished');
  }, 60_000);
});
