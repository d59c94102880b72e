import { readFileSync } from 'node:fs';
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
        server: { url: 'https://u.example', caFile: 'ca.pem', downloadCaFile: 'store-ca.pem' },
        device: { ...good.device, name: 'pump-1' },
        enrollment: { token: 'one-time' },
      },
      '/etc/updraft',
    );
    expect(config.server).toEqual({
      url: 'https://u.example',
      token: null,
      caFile: '/etc/updraft/ca.pem',
      downloadCaFile: '/etc/updraft/store-ca.pem',
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

describe('parseAgentConfig: boot control and installers', () => {
  const problems = (value: unknown): string[] => {
    try {
      parseAgentConfig(value, '/etc/updraft');
    } catch (error) {
      expect(error).toMatchObject({ code: 'AGENT_CONFIG_INVALID' });
      return (
        error as { details: { problems: { path: string; message: string }[] } }
      ).details.problems.map((p) => `${p.path}: ${p.message}`);
    }
    return [];
  };
  const reboot = { rebootCommand: ['systemctl', 'reboot'] };

  it('defaults to the JSON boot control and file components', () => {
    const config = parseAgentConfig(
      { ...good, components: [{ id: '814101', path: 'app.json', maxSize: 100 }] },
      '/etc/updraft',
    );
    expect(config.bootControl).toEqual({ kind: 'json' });
    expect(config.components).toEqual([
      { installer: 'file', id: '814101', path: '/etc/updraft/app.json', maxSize: 100 },
    ]);
  });

  it('takes a U-Boot environment with variable names and tool paths, paths resolved', () => {
    const config = parseAgentConfig(
      {
        ...good,
        ...reboot,
        bootControl: {
          kind: 'uboot',
          fwEnvConfig: 'fw_env.config',
          printenv: '/usr/bin/fw_printenv',
          variables: { slot: 'boot_part', bootlimit: 'bootlimit' },
        },
      },
      '/etc/updraft',
    );
    expect(config.bootControl).toEqual({
      kind: 'uboot',
      fwEnvConfig: '/etc/updraft/fw_env.config',
      printenv: '/usr/bin/fw_printenv',
      setenv: null,
      variables: { slot: 'boot_part', bootlimit: 'bootlimit' },
    });
  });

  it('takes a GRUB environment block', () => {
    const config = parseAgentConfig(
      { ...good, ...reboot, bootControl: { kind: 'grub', grubenv: '/boot/grub/grubenv' } },
      '/etc/updraft',
    );
    expect(config.bootControl).toEqual({
      kind: 'grub',
      grubenv: '/boot/grub/grubenv',
      editenv: null,
      variables: {},
    });
  });

  it('takes a RAUC component with its own folder under stateDir', () => {
    const config = parseAgentConfig(
      {
        ...good,
        components: [
          {
            id: '814102',
            installer: 'rauc',
            systemConf: '/etc/rauc/system.conf',
            maxSize: 1 << 29,
          },
        ],
      },
      '/etc/updraft',
    );
    expect(config.components).toEqual([
      {
        installer: 'rauc',
        id: '814102',
        systemConf: '/etc/rauc/system.conf',
        rauc: null,
        maxSize: 1 << 29,
        dir: '/etc/updraft/state/rauc-814102',
        installTimeoutMs: 1_800_000,
      },
    ]);
  });

  it('refuses an unknown kind, a missing environment path, unknown keys and a missing reboot command', () => {
    expect(problems({ ...good, ...reboot, bootControl: { kind: 'barebox' } })).toEqual([
      'bootControl.kind: must be "json", "uboot" or "grub"',
    ]);
    expect(problems({ ...good, ...reboot, bootControl: { kind: 'uboot' } })).toEqual([
      'bootControl.fwEnvConfig: must be a non-empty string',
    ]);
    expect(
      problems({ ...good, ...reboot, bootControl: { kind: 'grub', grubenv: 'g', file: 'x' } }),
    ).toEqual(['bootControl.file: unknown setting']);
    expect(problems({ ...good, bootControl: { kind: 'grub', grubenv: 'grubenv' } })).toEqual([
      'rebootCommand: needed with bootControl.kind grub (only a reboot runs the boot loader)',
    ]);
    // A misspelled section would otherwise silently leave the JSON boot control in charge.
    expect(problems({ ...good, bootcontrol: { kind: 'uboot' } })).toEqual([
      'bootcontrol: unknown setting',
    ]);
    expect(problems({ ...good, bootControl: 'uboot' })).toEqual([
      'bootControl: must be an object',
      'bootControl.kind: must be "json", "uboot" or "grub"',
    ]);
  });

  it('refuses relative tool paths, bad or shared variable names, and unknown variable roles', () => {
    expect(
      problems({
        ...good,
        ...reboot,
        bootControl: {
          kind: 'uboot',
          fwEnvConfig: '/etc/fw_env.config',
          setenv: 'fw_setenv',
          variables: { slot: 'boot slot', bootcount: 'x', bootlimit: 'x', counter: 'c' },
        },
      }),
    ).toEqual([
      'bootControl.setenv: must be an absolute path (leave it out to find the tool on PATH)',
      'bootControl.variables.counter: unknown setting',
      'bootControl.variables.slot: must be a variable name matching /^[A-Za-z0-9_.:-]{1,64}$/',
      'bootControl.variables: two roles name the same variable',
    ]);
    // GRUB variable names are narrower than U-Boot's.
    expect(
      problems({
        ...good,
        ...reboot,
        bootControl: { kind: 'grub', grubenv: 'g', variables: { trial: 'updraft.trial' } },
      }),
    ).toEqual([
      'bootControl.variables.trial: must be a variable name matching /^[A-Za-z0-9_]{1,64}$/',
    ]);
    expect(
      problems({ ...good, ...reboot, bootControl: { kind: 'grub', grubenv: 'g\0/x' } }),
    ).toEqual(['bootControl.grubenv: must not contain a NUL character']);
  });

  it('refuses a bad installer, a RAUC component without system.conf, stray keys and duplicate ids', () => {
    expect(
      problems({
        ...good,
        components: [
          { id: '02', installer: 'swupdate', path: 'x', maxSize: 1 },
          { id: '03', installer: 'rauc', path: 'x', maxSize: 1, rauc: 'rauc' },
          { id: '04', path: 'x', maxSize: 1, systemConf: 'y' },
          { id: '814100', path: 'y', maxSize: 1 },
        ],
      }),
    ).toEqual([
      'components[0].installer: must be "file" or "rauc"',
      'components[1].path: unknown setting',
      'components[1].systemConf: must be a non-empty string',
      'components[1].rauc: must be an absolute path (leave it out to find the tool on PATH)',
      'components[2].systemConf: unknown setting',
      'components: every id must differ from the others and from mainComponent',
    ]);
  });
});

describe('docs/agent.md config examples', () => {
  const doc = readFileSync(new URL('../../../../docs/agent.md', import.meta.url), 'utf8');
  const examples = [...doc.matchAll(/```json\n([\s\S]*?)```/g)]
    .map((m) => m[1]!)
    .filter((text) => text.includes('"trustedKeys"'))
    // The first example's token placeholder is a string like any other.
    .map((text) => JSON.parse(text) as unknown);

  it('every agent config in the docs parses, with the boot chain it claims', () => {
    const configs = examples.map((e) => parseAgentConfig(e, '/etc/updraft'));
    expect(configs.map((c) => c.bootControl.kind)).toEqual(['json', 'uboot', 'grub']);
    expect(configs[1]!.components.map((c) => c.installer)).toEqual(['rauc']);
    expect(configs[1]!.bootControl).toMatchObject({ fwEnvConfig: '/etc/fw_env.config' });
    expect(configs[2]!.bootControl).toMatchObject({ grubenv: '/boot/grub/grubenv' });
  });
});
