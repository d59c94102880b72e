import { isUpdraftError } from '@updraft/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseAgentConfig } from './agent-config.js';

const good = {
  server: { url: 'https://updates.example.com', token: 'tok' },
  device: {
    vendorId: 'fa6b4a53-d5ad-5fdf-be9d-e663e4d41ffe',
    classId: '1492af14-2569-5e48-bf42-9b2d51f2ab45',
    attributes: { hw: 'B', battery: 80 },
  },
  trustedKeys: ['keys/release.pub.pem'],
  stateDir: 'state',
  slots: { a: { path: 'a.img', size: 1048576 }, b: { path: 'b.img', size: 1048576 } },
  installed: { version: '1.0.0', sequenceNumber: 3 },
};

describe('parseAgentConfig', () => {
  it('accepts a good config and resolves paths against the config folder', () => {
    const config = parseAgentConfig(good, '/etc/updraft');
    expect(config.slots.a.path).toBe('/etc/updraft/a.img');
    expect(config.trustedKeyFiles).toEqual(['/etc/updraft/keys/release.pub.pem']);
    expect(config.installed.sequenceNumber).toBe(3);
    expect(config.mainComponent).toBe('814100');
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('reports every problem at once', () => {
    try {
      parseAgentConfig(
        { ...good, server: { url: 'ftp://x' }, device: { vendorId: 'nope' }, slots: {} },
        '/',
      );
      expect.unreachable();
    } catch (error) {
      expect(error).toMatchObject({ code: 'AGENT_CONFIG_INVALID' });
      const problems = (
        error as { details: { problems: { path: string; message: string }[] } }
      ).details.problems.map((p) => `${p.path}: ${p.message}`);
      expect(problems).toEqual(
        expect.arrayContaining([
          'server.url: must start with http:// or https://',
          'server.token: must be a non-empty string',
          'device.vendorId: must be a UUID',
          'device.classId: must be a non-empty string',
          'slots.a: must be an object',
          'slots.b: must be an object',
        ]),
      );
    }
  });

  it('answers any input with a config or AGENT_CONFIG_INVALID, nothing else (fuzz)', () => {
    fc.assert(
      fc.property(fc.anything(), (value) => {
        try {
          parseAgentConfig(value, '/');
        } catch (error) {
          expect(isUpdraftError(error) && error.code).toBe('AGENT_CONFIG_INVALID');
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('parseAgentConfig: device identity', () => {
  const problemsOf = (value: unknown): string[] => {
    try {
      parseAgentConfig(value, '/etc/updraft');
    } catch (error) {
      return (error as { details: { problems: { path: string }[] } }).details.problems.map(
        (p) => p.path,
      );
    }
    return [];
  };

  it('takes a pin and a token enrollment without a bearer token, paths resolved', () => {
    const config = parseAgentConfig(
      {
        ...good,
        server: { url: 'https://u.example', caFile: 'ca.pem' },
        device: { ...good.device, name: 'pump-1' },
        enrollment: { token: 'one-time' },
      },
      '/etc/updraft',
    );
    expect(config.server).toEqual({
      url: 'https://u.example',
      token: null,
      caFile: '/etc/updraft/ca.pem',
    });
    expect(config.enrollment).toEqual({ token: 'one-time' });
    expect(config.renewAtFraction).toBeCloseTo(1 / 3);
  });

  it('refuses enrollment without a pin, a pin over http, a token enrollment without device.name, and a bad renewAtFraction', () => {
    expect(problemsOf({ ...good, enrollment: { token: 't' } })).toContain('enrollment');
    expect(
      problemsOf({ ...good, server: { url: 'http://u.example', caFile: 'ca.pem', token: 't' } }),
    ).toContain('server.url');
    expect(
      problemsOf({
        ...good,
        server: { url: 'https://u.example', caFile: 'ca.pem' },
        enrollment: { token: 't' },
      }),
    ).toContain('device.name');
    expect(problemsOf({ ...good, renewAtFraction: 1.5 })).toContain('renewAtFraction');
    // Without a pin the bearer token stays required.
    expect(problemsOf({ ...good, server: { url: 'https://u.example' } })).toContain('server.token');
  });
});
