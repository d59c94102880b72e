// Options of `updraft sim device` / `updraft sim fleet`, kept free of heavy imports because the
// command table loads this file eagerly (the commands themselves load @updraft/sim lazily).
import type { OptionSpec } from '../command-spec.js';

/** Keep in sync with `LAYOUT_NAMES` of @updraft/sim (checked by sim-commands.test.ts). */
export const SIM_LAYOUTS = ['ab-xip', 'ab-factory', 'swap-scratch'] as const;

/** Options shared by the simulated-device commands. */
export const SIM_DEVICE_OPTIONS: readonly OptionSpec[] = [
  {
    name: 'image',
    value: 'file',
    description: 'sim image installed at manufacturing (slot a)',
    required: true,
  },
  {
    name: 'trusted-key',
    value: 'file',
    description: 'PEM public key the bootloader and the agent trust',
    repeatable: true,
    required: true,
  },
  {
    name: 'layout',
    value: 'name',
    description: 'slot layout (default ab-factory)',
    choices: SIM_LAYOUTS,
  },
  { name: 'factory-image', value: 'file', description: 'factory slot image (default: --image)' },
  { name: 'server', value: 'url', description: 'update service URL', env: 'UPDRAFT_SERVER' },
  { name: 'vendor-id', value: 'uuid', description: "the devices' SUIT vendor-id (with --server)" },
  { name: 'class-id', value: 'uuid', description: "the devices' SUIT class-id (with --server)" },
  {
    name: 'offline',
    description: 'no service: an in-process one offers --release, signed with --key',
  },
  { name: 'release', value: 'file', description: 'sim image offered in --offline mode' },
  { name: 'key', value: 'file', description: 'PEM private key that signs the --offline envelope' },
  {
    name: 'timeout',
    value: 's',
    description: 'with --server: stop after this many seconds (default: no limit)',
  },
  {
    name: 'max-requests',
    value: 'n',
    description: 'with --server: most requests per device (default: no limit)',
  },
];

/** Rollout-rehearsal options of `updraft sim fleet` (validated in sim-fleet.ts). */
export const SIM_FLEET_OPTIONS: readonly OptionSpec[] = [
  {
    name: 'duration',
    value: 's',
    description: 'with --server: keep every device polling this many seconds, then exit 0',
  },
  {
    name: 'poll-interval',
    value: 's',
    description: "with --server: check in every this many seconds (replaces the service's)",
  },
  {
    name: 'fault-rate',
    value: '0..1',
    description: 'this fraction of devices (by a seeded hash of the name) fails every trial boot',
  },
  { name: 'fault-seed', value: 'text', description: 'seed of that hash (default updraft)' },
];
