import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentError } from '../errors.js';
import { DeviceApiServer } from '../testing/device-api-server.js';
import { TestDevice } from '../testing/harness.js';

let server: DeviceApiServer;
beforeEach(async () => {
  server = await new DeviceApiServer().start();
});
afterEach(async () => {
  await server.close();
});

describe('certificate renewal in the check-in', () => {
  it('runs before the check-in goes out', async () => {
    const seen: number[] = [];
    const device = new TestDevice(server, {
      identityRenewal: {
        renewIfDue: async () => {
          seen.push(server.checkIns.length);
        },
      },
    });
    await device.runToIdle();
    await device.runToIdle();
    // Each renewal saw the check-ins before its own, never its own.
    expect(seen).toEqual([0, 1]);
    expect(server.checkIns).toHaveLength(2);
  });

  it('never fails the check-in when the renewal fails', async () => {
    const device = new TestDevice(server, {
      identityRenewal: {
        renewIfDue: async () => {
          throw new AgentError('AGENT_SERVER_UNREACHABLE', 'EST down');
        },
      },
    });
    const result = await device.runToIdle();
    expect(device.chain()).toEqual(['CheckIn', 'Idle']);
    expect(server.checkIns).toHaveLength(1);
    expect(result).toEqual({ halted: 'idle' });
  });
});
