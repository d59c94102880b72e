import type { CommandSpec, OptionSpec } from './command-spec.js';
import { SIM_DEVICE_OPTIONS, SIM_FLEET_OPTIONS } from './commands/sim-options.js';

/**
 * The `updraft` command table: one row per command. Help, parsing and dispatch are driven by
 * these rows (run-cli.ts); each row loads its module lazily.
 *
 * To add a command (other packages do this too): write `commands/<group>-<name>.ts` exporting
 * `run(ctx, args)`, add ONE row below (and, for a new group, one line in COMMAND_GROUPS), add its
 * section to docs/cli.md. Rows are independent, so parallel edits merge cleanly.
 */
export const COMMAND_GROUPS: Readonly<Record<string, string>> = {
  keys: 'signing keys: generate, show',
  manifest: 'SUIT manifests: create, sign, verify, inspect',
  server: 'run the update service',
  class: 'device classes and their trusted signing keys (update service)',
  release: 'releases: signed envelopes and payloads (update service)',
  device: 'devices (update service)',
  group: 'device groups: static lists and dynamic saved filters (update service)',
  user: 'users of your tenant: create, list, roles, disable, password (update service)',
  token: 'your API tokens for scripts and CI: create, list, revoke (update service)',
  tenant: 'tenants and their first admins (installation admins; update service)',
  action: 'assign releases to devices (update service)',
  campaign: 'rollout campaigns: phased, approved, health-gated (update service)',
  ddi: 'hawkBit DDI API: gateway tokens and plug-and-play settings (update service)',
  agent: 'the device-side update agent (Linux, file- or block-device slots)',
  delta: 'binary delta patches between firmware images: create, apply, info',
  sim: 'simulated devices: firmware images, one device, fleets (flash + bootloader + agent)',
  pki: 'device identity PKI: offline root, issuing CA, manufacturing CAs, enrollment tokens, certificates',
};

/** Order of the first command words in `updraft --help` (build side, service, device side). */
export const COMMAND_ORDER: readonly string[] = [
  'keys',
  'manifest',
  'encrypt',
  'decrypt',
  'delta',
  'server',
  'login',
  'user',
  'token',
  'tenant',
  'class',
  'release',
  'device',
  'group',
  'action',
  'campaign',
  'ddi',
  'agent',
  'sim',
  'pki',
];

/** `--class` of the release commands that take a version: two classes may both have a 1.1.0. */
const RELEASE_CLASS_OPTION: OptionSpec = {
  name: 'class',
  value: 'class',
  description: 'look a release version up in this device class (id or name)',
};

/** Options of every command that talks to the update service. */
export const SERVICE_OPTIONS: readonly OptionSpec[] = [
  {
    name: 'server',
    value: 'url',
    description: 'update service URL (default: from `updraft login`)',
    env: 'UPDRAFT_SERVER',
  },
  {
    name: 'token',
    value: 'token',
    description: 'API or session token (default: from `updraft login`)',
    env: 'UPDRAFT_TOKEN',
  },
  {
    name: 'config',
    value: 'file',
    description: 'CLI config file (default: ~/.config/updraft/config.json)',
    env: 'UPDRAFT_CLI_CONFIG',
  },
  {
    name: 'ca-file',
    value: 'pem',
    description:
      "CA certificates (PEM) to trust for the service's TLS certificate, besides the system roots and NODE_EXTRA_CA_CERTS",
    env: 'UPDRAFT_CA_FILE',
  },
];

export const COMMANDS: readonly CommandSpec[] = [
  {
    path: ['delta', 'create'],
    summary: 'make a patch from <old> to <new> (or a compressed full image when that is smaller)',
    arguments: [
      { name: 'old', description: 'old image file (the base the device has)' },
      { name: 'new', description: 'new image file' },
      { name: 'patch', description: 'patch output file' },
    ],
    options: [
      {
        name: 'kind',
        value: 'kind',
        description: 'auto (default), delta or full',
        choices: ['auto', 'delta', 'full'],
      },
      {
        name: 'transform',
        value: 'transform',
        description: 'auto (default), none or thumb2',
        choices: ['auto', 'none', 'thumb2'],
      },
      {
        name: 'window-log',
        value: 'n',
        description: 'decoder window 2^n bytes, 10..20 (default 16)',
        choices: ['10', '11', '12', '13', '14', '15', '16', '17', '18', '19', '20'],
      },
    ],
    help: 'Example: updraft delta create fw-1.0.bin fw-1.1.bin fw-1.0-1.1.udelta',
    load: () => import('./commands/delta-create.js'),
  },
  {
    path: ['delta', 'apply'],
    summary: 'apply a patch to <old>, writing <out> atomically after every check passed',
    arguments: [
      { name: 'old', description: 'old image file' },
      { name: 'patch', description: 'patch file' },
      { name: 'out', description: 'new image output file' },
    ],
    help: 'Example: updraft delta apply fw-1.0.bin fw-1.0-1.1.udelta fw-1.1.bin',
    load: () => import('./commands/delta-apply.js'),
  },
  {
    path: ['delta', 'info'],
    summary: 'show the header of a patch: kind, sizes, digests, decoder window',
    arguments: [{ name: 'patch', description: 'patch file' }],
    load: () => import('./commands/delta-info.js'),
  },
  {
    path: ['agent', 'run'],
    summary:
      'run the update agent of this Linux device (A/B slots switched by a JSON state, U-Boot or GRUB; RAUC bundles) as a daemon',
    options: [
      {
        name: 'config',
        short: 'c',
        value: 'file',
        description: 'agent config JSON (docs/agent.md)',
        required: true,
      },
      { name: 'once', description: 'poll once (and finish an update it brings), then exit' },
      {
        name: 'no-push',
        description:
          'ignore MQTT push offered by the service (default: subscribe when the check-in answer carries push and server.caFile is set)',
      },
      {
        name: 'transport',
        value: 'kind',
        description: 'how the agent reaches the service: http (default) or mqtt (docs/mqtt.md)',
        choices: ['http', 'mqtt'],
      },
      {
        name: 'mqtt-url',
        value: 'url',
        description:
          'with --transport mqtt: the broker, mqtts://host:port (mqtt:// on a trusted network)',
      },
      {
        name: 'mqtt-identity',
        value: 'CN=<device>,O=<tenant>',
        description: "with --transport mqtt: the device's MQTT identity (its certificate subject)",
      },
      {
        name: 'mqtt-ca',
        value: 'file',
        description: "with --transport mqtt: the pinned CA chain (PEM) of the broker's certificate",
      },
      {
        name: 'mqtt-cert',
        value: 'file',
        description:
          'with --transport mqtt: device certificate (PEM); without it the token of the config is the password',
      },
      { name: 'mqtt-key', value: 'file', description: 'the private key of --mqtt-cert (PEM)' },
      {
        name: 'ca-file',
        value: 'pem',
        description: 'pinned CA (issuing CA or root): the only trust for the service, TLS 1.3',
      },
      {
        name: 'enroll-token',
        value: 'token',
        description: 'one-time enrollment token (EST simpleenroll, HTTP Basic as device.name)',
      },
      { name: 'birth-cert', value: 'pem', description: 'birth certificate to enroll with (EST)' },
      { name: 'birth-key', value: 'pem', description: 'private key of the birth certificate' },
    ],
    help: 'Example: updraft agent run --config /etc/updraft/agent.json --ca-file ca.pem --enroll-token <token>\n         updraft agent run --config agent.json --transport mqtt --mqtt-url mqtts://updates.example.com:8883 --mqtt-identity CN=gw-17,O=ten_default --mqtt-ca ca.pem',
    load: () => import('./commands/agent-run.js'),
  },
  {
    path: ['keys', 'generate'],
    summary:
      'generate a key pair: <prefix>.key (private, 0600) and <prefix>.pub; or a KEK <prefix>.kek',
    options: [
      {
        name: 'alg',
        value: 'alg',
        description:
          'es256/ed25519: signing; x25519: device decryption (ECDH); a128kw/a256kw: class KEK',
        choices: ['es256', 'ed25519', 'x25519', 'a128kw', 'a256kw'],
        required: true,
      },
      {
        name: 'out',
        short: 'o',
        value: 'prefix',
        description: 'output path prefix',
        required: true,
      },
      { name: 'force', description: 'overwrite existing key files' },
    ],
    help: 'Example: updraft keys generate --alg ed25519 --out keys/release',
    load: () => import('./commands/keys-generate.js'),
  },
  {
    path: ['pki', 'init'],
    summary:
      'create an offline root CA, a tenant issuing CA and optionally a TLS server certificate (no service needed)',
    options: [
      {
        name: 'out',
        short: 'o',
        value: 'dir',
        description:
          'directory for root.key/.pem, issuing.key/.pem, chain.pem (existing files are never overwritten)',
        required: true,
      },
      {
        name: 'host',
        value: 'name',
        description: 'DNS name or IP address for server.pem/server.key (repeatable)',
        repeatable: true,
      },
      {
        name: 'tenant',
        value: 'name',
        description: 'tenant named in the issuing CA (default: default)',
      },
    ],
    help: 'Example: updraft pki init --out pki --host updraft.example.com --host 10.0.0.5 --tenant acme',
    load: () => import('./commands/pki-init.js'),
  },
  {
    path: ['pki', 'manufacturing-ca', 'add'],
    summary: 'register a manufacturing CA: its birth certificates may enroll devices over EST',
    arguments: [{ name: 'cert', description: 'the CA certificate (PEM)' }],
    options: [
      {
        name: 'device-class',
        value: 'class',
        description: 'class (name or id) of devices registered by their birth certificate',
        required: true,
      },
      { name: 'name', value: 'name', description: 'a name for the CA (default: its subject)' },
      {
        name: 'auto-accept',
        description: 'accept unknown devices at once (default: pending until `device accept`)',
      },
      ...SERVICE_OPTIONS,
    ],
    help: 'Example: updraft pki manufacturing-ca add factory-ca.pem --device-class pump --auto-accept',
    load: () => import('./commands/pki-manufacturing-ca-add.js'),
  },
  {
    path: ['pki', 'token', 'create'],
    summary: 'create a one-time enrollment token for a device (shown once)',
    arguments: [{ name: 'device', description: 'device id or name' }],
    options: [
      {
        name: 'expires-in',
        value: 'seconds',
        description: 'lifetime in seconds (default: the service setting, 7 days)',
      },
      ...SERVICE_OPTIONS,
    ],
    load: () => import('./commands/pki-token-create.js'),
  },
  {
    path: ['pki', 'cert', 'list'],
    summary: 'list device certificates (the inventory), newest first',
    options: [
      { name: 'device', value: 'device', description: 'only this device (id or name)' },
      {
        name: 'state',
        value: 'state',
        description: 'only certificates in this state',
        choices: ['active', 'superseded', 'revoked'],
      },
      {
        name: 'expiring-within',
        value: 'days',
        description: 'only certificates expiring within this many days',
      },
      ...SERVICE_OPTIONS,
    ],
    load: () => import('./commands/pki-cert-list.js'),
  },
  {
    path: ['pki', 'cert', 'show'],
    summary: "show a certificate (serial or id) or a device's newest certificate",
    arguments: [{ name: 'ref', description: 'device (id or name), certificate serial or id' }],
    options: SERVICE_OPTIONS,
    load: () => import('./commands/pki-cert-show.js'),
  },
  {
    path: ['pki', 'cert', 'revoke'],
    summary: "revoke a certificate (serial or id) or all of a device's certificates",
    arguments: [{ name: 'ref', description: 'certificate serial or id, or device id or name' }],
    options: [
      {
        name: 'reason',
        value: 'reason',
        description: 'RFC 5280 reason (default unspecified)',
        choices: [
          'unspecified',
          'keyCompromise',
          'cACompromise',
          'affiliationChanged',
          'superseded',
          'cessationOfOperation',
          'certificateHold',
          'privilegeWithdrawn',
          'aACompromise',
        ],
      },
      ...SERVICE_OPTIONS,
    ],
    load: () => import('./commands/pki-cert-revoke.js'),
  },
  {
    path: ['pki', 'ca', 'import'],
    summary:
      "make an issuing CA (e.g. from `pki init`) the tenant's: new certificates come from it",
    options: [
      { name: 'cert', value: 'pem', description: 'issuing CA certificate', required: true },
      { name: 'key', value: 'pem', description: 'its private key (PKCS#8 P-256)', required: true },
      { name: 'chain', value: 'pem', description: 'the CAs above it, up to the root' },
      ...SERVICE_OPTIONS,
    ],
    help: 'Example: updraft pki ca import --cert pki/issuing.pem --key pki/issuing.key --chain pki/root.pem',
    load: () => import('./commands/pki-ca-import.js'),
  },
  {
    path: ['device', 'accept'],
    summary: 'accept a pending device (registered by its birth certificate): it may enroll',
    arguments: [{ name: 'device', description: 'device id or name' }],
    options: SERVICE_OPTIONS,
    load: () => import('./commands/device-accept.js'),
  },
  {
    path: ['device', 'reject'],
    summary: 'reject a device: it may not enroll',
    arguments: [{ name: 'device', description: 'device id or name' }],
    options: SERVICE_OPTIONS,
    load: () => import('./commands/device-reject.js'),
  },
  {
    path: ['device', 'preauthorize'],
    summary: "pre-authorise a Mender device's identity and key: its first auth request is accepted",
    options: [
      {
        name: 'id-data',
        value: 'json',
        description: 'the identity as mender-client sends it, e.g. {"mac":"02:00:00:00:00:01"}',
        required: true,
      },
      { name: 'pubkey', value: 'pem', description: "the device's public key", required: true },
      {
        name: 'device-class',
        value: 'class',
        description: 'device class (name or id) of a new device',
        required: true,
      },
      ...SERVICE_OPTIONS,
    ],
    help: 'Example: updraft device preauthorize --id-data \'{"mac":"02:00:00:00:00:01"}\' --pubkey dev1.pub.pem --device-class gateway',
    load: () => import('./commands/device-preauthorize.js'),
  },
  {
    path: ['keys', 'show'],
    summary: 'show a key: algorithm, kid (RFC 9679 thumbprint), COSE_Key',
    arguments: [{ name: 'key', description: 'PEM key file (private or public)' }],
    load: () => import('./commands/keys-show.js'),
  },
  {
    path: ['manifest', 'create'],
    summary:
      'create an unsigned SUIT envelope from a release description (docs/release-description.md)',
    arguments: [{ name: 'release', description: 'release description (.yaml, .yml or .json)' }],
    options: [
      {
        name: 'out',
        short: 'o',
        value: 'file',
        description: 'output envelope file',
        required: true,
      },
      {
        name: 'payload-dir',
        value: 'dir',
        description: 'where encrypted images are written (default: beside --out)',
      },
      { name: 'force', description: 'overwrite an existing envelope and encrypted payloads' },
    ],
    load: () => import('./commands/manifest-create.js'),
  },
  {
    path: ['manifest', 'sign'],
    summary: 'sign an envelope (adds a signature; run again with another key for a second one)',
    arguments: [{ name: 'envelope', description: 'envelope file' }],
    options: [
      { name: 'key', short: 'k', value: 'file', description: 'private key PEM file' },
      {
        name: 'signer-command',
        value: 'cmd',
        description:
          'external signer: gets the bytes to sign on stdin, prints the signature on stdout',
      },
      {
        name: 'alg',
        value: 'alg',
        description: 'algorithm of the external signer',
        choices: ['es256', 'esp256', 'ed25519'],
      },
      {
        name: 'public-key',
        value: 'file',
        description: "the external signer's public key (for its kid and a self-check)",
      },
      {
        name: 'out',
        short: 'o',
        value: 'file',
        description: 'output file (default: overwrite the envelope)',
      },
    ],
    load: () => import('./commands/manifest-sign.js'),
  },
  {
    path: ['manifest', 'verify'],
    summary: 'verify an envelope and print its install plan (or the error, exit non-zero)',
    arguments: [
      {
        name: 'envelope',
        description: 'envelope file(s): several give a status per file',
        variadic: true,
      },
    ],
    options: [
      {
        name: 'trust',
        short: 't',
        value: 'pub',
        description: 'trusted public key file (repeatable)',
        repeatable: true,
        required: true,
      },
      {
        name: 'vendor-id',
        value: 'uuid|name',
        description: "device's vendor-id (UUID, or vendor domain name)",
      },
      {
        name: 'class-id',
        value: 'uuid|name',
        description: "device's class-id (UUID, or model name)",
      },
      {
        name: 'installed-seq',
        value: 'n',
        description: 'installed sequence number (anti-rollback check)',
      },
      {
        name: 'image',
        value: 'file',
        description: 'also check a payload file against the plan (repeatable, in component order)',
        repeatable: true,
      },
      {
        name: 'decrypt-key',
        value: 'file',
        description:
          'KEK or device private key: --image files of encrypted components are ciphertext',
      },
    ],
    load: () => import('./commands/manifest-verify.js'),
  },
  {
    path: ['manifest', 'inspect'],
    summary: 'show an envelope: human view and CBOR diagnostic notation (no verification)',
    arguments: [{ name: 'envelope', description: 'envelope file' }],
    load: () => import('./commands/manifest-inspect.js'),
  },
  {
    path: ['encrypt'],
    summary:
      'encrypt a payload for class KEKs and/or device public keys (SUIT firmware encryption)',
    arguments: [{ name: 'image', description: 'plaintext image file' }],
    options: [
      {
        name: 'recipient',
        short: 'r',
        value: 'key',
        description: 'KEK file (AES-KW) or P-256/X25519 public key (ECDH-ES); repeatable',
        repeatable: true,
        required: true,
      },
      {
        name: 'out',
        short: 'o',
        value: 'file',
        description: 'ciphertext output file',
        required: true,
      },
      {
        name: 'info',
        value: 'file',
        description: 'SUIT_Encryption_Info output file (default: <out>.info)',
      },
      {
        name: 'alg',
        value: 'alg',
        description: 'content encryption (default A128CTR)',
        choices: ['A128GCM', 'A256GCM', 'A128CTR', 'A256CTR'],
      },
    ],
    load: () => import('./commands/encrypt.js'),
  },
  {
    path: ['decrypt'],
    summary: 'decrypt a payload with a class KEK or a device private key',
    arguments: [{ name: 'payload', description: 'ciphertext file' }],
    options: [
      { name: 'info', value: 'file', description: 'SUIT_Encryption_Info file (or use --envelope)' },
      {
        name: 'envelope',
        value: 'file',
        description: "take the encryption info from this envelope's manifest",
      },
      {
        name: 'component',
        value: 'id|index',
        description: 'which encrypted component of --envelope (hex id or index)',
      },
      {
        name: 'key',
        short: 'k',
        value: 'file',
        description: 'KEK file or PEM private key',
        required: true,
      },
      {
        name: 'out',
        short: 'o',
        value: 'file',
        description: 'plaintext output file (mode 0600)',
        required: true,
      },
    ],
    load: () => import('./commands/decrypt.js'),
  },
  {
    path: ['server', 'start'],
    summary:
      'run the update service (embedded defaults: ./.updraft, SQLite, 127.0.0.1:8080) until Ctrl-C',
    options: [
      {
        name: 'config',
        value: 'file',
        description: 'server config file (JSON; see docs/configuration.md)',
        env: 'UPDRAFT_CONFIG',
      },
      { name: 'host', value: 'host', description: 'listen address' },
      { name: 'port', value: 'port', description: 'listen port (0: any free port)' },
      { name: 'data-dir', value: 'dir', description: 'data directory' },
      {
        name: 'tls',
        description:
          'speak only TLS, mutual TLS for devices (setting tls.enabled, env UPDRAFT_TLS; docs/pki.md)',
      },
    ],
    load: () => import('./commands/server-start.js'),
  },
  {
    path: ['login'],
    summary: 'log in to the update service and store the session token (config file, mode 0600)',
    options: [
      {
        name: 'server',
        value: 'url',
        description: 'update service URL, e.g. http://127.0.0.1:8080',
        env: 'UPDRAFT_SERVER',
      },
      {
        name: 'username',
        short: 'u',
        value: 'name',
        description: 'user name (default admin, or $UPDRAFT_USERNAME)',
      },
      {
        name: 'password-stdin',
        description: 'read the password from stdin (else $UPDRAFT_PASSWORD)',
      },
      {
        name: 'token',
        value: 'token',
        description: 'store this API token instead of logging in with a password',
      },
      {
        name: 'tenant',
        value: 'name',
        description: 'log in to this tenant (default: the installation’s default tenant)',
      },
      {
        name: 'config',
        value: 'file',
        description: 'CLI config file (default ~/.config/updraft/config.json)',
        env: 'UPDRAFT_CLI_CONFIG',
      },
    ],
    load: () => import('./commands/login.js'),
  },
  {
    path: ['user', 'create'],
    summary: 'create a user of your tenant (password on stdin)',
    arguments: [{ name: 'username', description: 'user name' }],
    options: [
      { name: 'role', value: 'role', repeatable: true, description: 'a role (repeatable)' },
      { name: 'password-stdin', description: 'read the password from stdin', required: true },
      { name: 'must-change-password', description: 'the user must change it at first login' },
      ...SERVICE_OPTIONS,
    ],
    load: () => import('./commands/user-create.js'),
  },
  {
    path: ['user', 'list'],
    summary: 'list the users of your tenant with their roles',
    options: SERVICE_OPTIONS,
    load: () => import('./commands/user-list.js'),
  },
  {
    path: ['user', 'roles'],
    summary: "replace a user's roles (the last enabled admin cannot lose admin)",
    arguments: [
      { name: 'user', description: 'user id or name' },
      { name: 'roles', description: 'roles (none: no roles)', required: false, variadic: true },
    ],
    options: SERVICE_OPTIONS,
    load: () => import('./commands/user-roles.js'),
  },
  {
    path: ['user', 'disable'],
    summary: 'disable a user and revoke its tokens',
    arguments: [{ name: 'user', description: 'user id or name' }],
    options: SERVICE_OPTIONS,
    load: () => import('./commands/user-disable.js'),
  },
  {
    path: ['user', 'password'],
    summary:
      "change your password (stdin: current, new) or, as an admin, set another user's (stdin: new)",
    arguments: [{ name: 'user', description: 'user id or name (admins)', required: false }],
    options: [
      {
        name: 'password-stdin',
        description: 'read the passwords from stdin, one per line',
        required: true,
      },
      ...SERVICE_OPTIONS,
    ],
    load: () => import('./commands/user-password.js'),
  },
  {
    path: ['token', 'create'],
    summary: 'create an API token for scripts and CI (shown once)',
    arguments: [{ name: 'name', description: 'what the token is for' }],
    options: [
      {
        name: 'expires-in-days',
        value: 'n',
        description: 'lifetime in days (required from a login session unless you are an admin)',
      },
      ...SERVICE_OPTIONS,
    ],
    load: () => import('./commands/token-create.js'),
  },
  {
    path: ['token', 'list'],
    summary: 'list your API tokens and login sessions',
    options: SERVICE_OPTIONS,
    load: () => import('./commands/token-list.js'),
  },
  {
    path: ['token', 'revoke'],
    summary: 'revoke one of your tokens',
    arguments: [{ name: 'id', description: 'token id (see token list)' }],
    options: SERVICE_OPTIONS,
    load: () => import('./commands/token-revoke.js'),
  },
  {
    path: ['tenant', 'create'],
    summary: 'create a tenant and its first admin (password on stdin)',
    arguments: [{ name: 'name', description: 'tenant name' }],
    options: [
      {
        name: 'admin',
        value: 'username',
        description: "the tenant admin's user name",
        required: true,
      },
      {
        name: 'password-stdin',
        description: "read the admin's first password from stdin",
        required: true,
      },
      ...SERVICE_OPTIONS,
    ],
    load: () => import('./commands/tenant-create.js'),
  },
  {
    path: ['tenant', 'list'],
    summary: 'list tenants',
    options: SERVICE_OPTIONS,
    load: () => import('./commands/tenant-list.js'),
  },
  {
    path: ['class', 'create'],
    summary: 'create a device class (ids derived from vendor domain and model name, or given)',
    arguments: [{ name: 'name', description: 'class name' }],
    options: [
      {
        name: 'vendor',
        value: 'domain',
        description: 'vendor domain name (vendor-id = UUIDv5(DNS, domain))',
      },
      { name: 'vendor-id', value: 'uuid', description: 'vendor-id' },
      {
        name: 'model',
        value: 'name',
        description: 'model name (class-id = UUIDv5(vendor-id, name))',
      },
      { name: 'class-id', value: 'uuid', description: 'class-id' },
      ...SERVICE_OPTIONS,
    ],
    load: () => import('./commands/class-create.js'),
  },
  {
    path: ['class', 'list'],
    summary: 'list device classes',
    options: SERVICE_OPTIONS,
    load: () => import('./commands/class-list.js'),
  },
  {
    path: ['class', 'add-key'],
    summary: 'trust a release-signing public key for a class',
    arguments: [
      { name: 'class', description: 'class id or name' },
      {
        name: 'key',
        description:
          'public key file: PEM (SPKI) or COSE_Key (CBOR or hex); a private key is refused',
      },
    ],
    options: SERVICE_OPTIONS,
    load: () => import('./commands/class-add-key.js'),
  },
  {
    path: ['class', 'revoke-key'],
    summary: "revoke a class's trusted key: its releases can no longer be assigned",
    arguments: [
      { name: 'class', description: 'class id or name' },
      {
        name: 'key',
        description: 'key id, kid (hex), or the public key file given to add-key',
      },
    ],
    options: [
      { name: 'reason', value: 'text', description: 'why (kept in the audit log)' },
      ...SERVICE_OPTIONS,
    ],
    load: () => import('./commands/class-revoke-key.js'),
  },
  {
    path: ['release', 'upload'],
    summary:
      'upload a signed envelope and its payloads (resumable chunked upload; the service verifies)',
    arguments: [{ name: 'envelope', description: 'signed envelope file' }],
    options: [
      { name: 'class', value: 'class', description: 'device class id or name', required: true },
      {
        name: 'payload',
        short: 'p',
        value: '[component=]file',
        description: 'payload file, optionally for a component id (hex); repeatable',
        repeatable: true,
      },
      {
        name: 'release-version',
        value: 'version',
        description: "version label (default: the manifest text's version)",
      },
      { name: 'chunk-mib', value: 'n', description: 'chunk size in MiB (1-16, default 8)' },
      ...SERVICE_OPTIONS,
    ],
    load: () => import('./commands/release-upload.js'),
  },
  {
    path: ['release', 'list'],
    summary: 'list releases, newest first',
    options: [
      { name: 'class', value: 'class', description: 'only this device class (id or name)' },
      { name: 'limit', value: 'n', description: 'at most n releases (default 50)' },
      ...SERVICE_OPTIONS,
    ],
    load: () => import('./commands/release-list.js'),
  },
  {
    path: ['release', 'show'],
    summary: 'show a release: manifest summary, components, payloads, signer kids',
    arguments: [{ name: 'id', description: 'release id or version' }],
    options: [RELEASE_CLASS_OPTION, ...SERVICE_OPTIONS],
    load: () => import('./commands/release-show.js'),
  },
  {
    path: ['release', 'delta-bases'],
    summary:
      'name the earlier releases (or any installed image) the service makes delta patches from',
    help: 'Example: updraft release delta-bases 1.3.0 --class thermostats 1.1.0 1.2.0',
    arguments: [
      { name: 'release', description: 'release id or version' },
      {
        name: 'bases',
        description: 'earlier releases of the same class (ids or versions)',
        required: false,
        variadic: true,
      },
    ],
    options: [
      {
        name: 'any-installed',
        description: 'any installed image the service holds as a payload is a base',
      },
      RELEASE_CLASS_OPTION,
      { name: 'lazy', description: 'make patches when a device running a base checks in, not now' },
      ...SERVICE_OPTIONS,
    ],
    load: () => import('./commands/release-delta-bases.js'),
  },
  {
    path: ['release', 'deltas'],
    summary: "show a release's delta bases, cached patches and the bytes deltas saved",
    arguments: [{ name: 'release', description: 'release id or version' }],
    options: [RELEASE_CLASS_OPTION, ...SERVICE_OPTIONS],
    load: () => import('./commands/release-deltas.js'),
  },
  {
    path: ['device', 'add'],
    summary: 'pre-register a device (prints its device token once)',
    arguments: [{ name: 'name', description: 'device name (letters, digits, . _ : @ -)' }],
    options: [
      { name: 'class', value: 'class', description: 'device class id or name', required: true },
      {
        name: 'attr',
        value: 'key=value',
        description: 'custom attribute; repeatable',
        repeatable: true,
      },
      { name: 'tag', value: 'tag', description: 'tag; repeatable', repeatable: true },
      ...SERVICE_OPTIONS,
    ],
    load: () => import('./commands/device-add.js'),
  },
  {
    path: ['device', 'list'],
    summary: 'list devices (filters, sort, pagination)',
    options: [
      { name: 'class', value: 'class', description: 'device class id or name' },
      { name: 'tag', value: 'tag', description: 'has this tag; repeatable', repeatable: true },
      {
        name: 'attr',
        value: 'key=value',
        description: 'attribute equals; repeatable',
        repeatable: true,
      },
      { name: 'name-prefix', value: 'prefix', description: 'name starts with' },
      {
        name: 'filter',
        value: 'expr',
        description: 'target filter, a CEL expression (docs/filters.md)',
      },
      { name: 'sort', value: 'field', description: 'sort field (default name)' },
      { name: 'order', value: 'order', description: 'asc or desc', choices: ['asc', 'desc'] },
      { name: 'limit', value: 'n', description: 'page size (default 50, at most 500)' },
      { name: 'offset', value: 'n', description: 'skip n devices' },
      ...SERVICE_OPTIONS,
    ],
    load: () => import('./commands/device-list.js'),
  },
  {
    path: ['device', 'count'],
    summary: 'count the devices matching a target filter',
    arguments: [{ name: 'filter', description: 'a CEL target filter (docs/filters.md)' }],
    options: SERVICE_OPTIONS,
    help: `Example: updraft device count 'device.class == "thermo-v2" && "beta" in device.tags'`,
    load: () => import('./commands/device-count.js'),
  },
  {
    path: ['group', 'create'],
    summary: 'create a static group (--devices) or a dynamic one (--filter)',
    arguments: [{ name: 'name', description: 'group name' }],
    options: [
      { name: 'devices', value: 'a,b,c', description: 'device ids or names (static group)' },
      { name: 'filter', value: 'expr', description: 'a CEL target filter (dynamic group)' },
      ...SERVICE_OPTIONS,
    ],
    help: `Examples: updraft group create pilot --devices dev-1,dev-2\n          updraft group create eu --filter 'device.attributes.region == "eu"'`,
    load: () => import('./commands/group-create.js'),
  },
  {
    path: ['group', 'list'],
    summary: 'list device groups',
    options: SERVICE_OPTIONS,
    load: () => import('./commands/group-list.js'),
  },
  {
    path: ['group', 'show'],
    summary: 'show a group: its filter or members, and how many devices it holds now',
    arguments: [{ name: 'group', description: 'group id or name' }],
    options: SERVICE_OPTIONS,
    load: () => import('./commands/group-show.js'),
  },
  {
    path: ['group', 'delete'],
    summary: 'delete a group (its devices stay)',
    arguments: [{ name: 'group', description: 'group id or name' }],
    options: SERVICE_OPTIONS,
    load: () => import('./commands/group-delete.js'),
  },
  {
    path: ['device', 'show'],
    summary: 'show a device: attributes, installed components, action history',
    arguments: [{ name: 'id', description: 'device id or name' }],
    options: SERVICE_OPTIONS,
    load: () => import('./commands/device-show.js'),
  },
  {
    path: ['action', 'assign'],
    summary: 'assign a release to a device',
    arguments: [
      { name: 'device', description: 'device id or name' },
      { name: 'release', description: "release id, or a version of the device's class" },
    ],
    options: [
      {
        name: 'action',
        value: 'type',
        description:
          'forced (ignores the device policy), soft (default), download-only, time-forced (soft until --force-after)',
        choices: ['forced', 'soft', 'download-only', 'time-forced'],
      },
      { name: 'force-after', value: 'iso', description: 'time-forced: forced from (ISO 8601)' },
      {
        name: 'download-only',
        description: 'download but do not install (= --action download-only)',
      },
      { name: 'window-start', value: 'iso', description: 'maintenance window start (ISO 8601)' },
      { name: 'window-end', value: 'iso', description: 'maintenance window end (ISO 8601)' },
      {
        name: 'window',
        value: 'cron',
        description: "recurring window start, 5-field cron, e.g. '0 2 * * 1-5'",
      },
      { name: 'window-duration', value: 'd', description: 'recurring window length, e.g. 30m, 2h' },
      {
        name: 'window-tz',
        value: 'tz',
        description: 'recurring window time zone (IANA; default UTC)',
      },
      ...SERVICE_OPTIONS,
    ],
    load: () => import('./commands/action-assign.js'),
  },
  {
    path: ['action', 'cancel'],
    summary: 'request cancellation of an action',
    arguments: [{ name: 'id', description: 'action id' }],
    options: SERVICE_OPTIONS,
    load: () => import('./commands/action-cancel.js'),
  },
  {
    path: ['action', 'show'],
    summary: 'show an action and its event history',
    arguments: [{ name: 'id', description: 'action id' }],
    options: SERVICE_OPTIONS,
    load: () => import('./commands/action-show.js'),
  },
  {
    path: ['campaign', 'create'],
    summary: 'create a draft campaign: a release to the devices a filter selects, in phases',
    options: [
      {
        name: 'name',
        value: 'name',
        description: 'campaign name (1-128 characters)',
        required: true,
      },
      {
        name: 'release',
        value: 'release',
        description: 'release id (or a version naming one release)',
        required: true,
      },
      {
        name: 'filter',
        value: 'expr',
        description: 'target filter, a CEL expression (docs/filters.md)',
        required: true,
      },
      {
        name: 'type',
        value: 'type',
        description:
          'one-shot (default: targets fixed at start) or continuous (later matches join)',
        choices: ['one-shot', 'continuous'],
      },
      {
        name: 'phase',
        value: 'size',
        description:
          'a phase: 10% (cumulative share of targets) or 25 (adds 25); repeatable, in order',
        repeatable: true,
      },
      {
        name: 'success-threshold',
        value: 'p%',
        description: 'a phase passes when this share succeeded (default 95%)',
      },
      {
        name: 'error-threshold',
        value: 'p%|n',
        description: 'pause when more than p% of a phase failed, or n devices (default 10%)',
      },
      {
        name: 'soak',
        value: 'd',
        description: 'a device counts as succeeded after staying healthy this long (30s, 10m, 2h)',
      },
      {
        name: 'action',
        value: 'type',
        description: 'action type: forced, soft (default), download-only, time-forced',
        choices: ['forced', 'soft', 'download-only', 'time-forced'],
      },
      { name: 'force-after', value: 'iso', description: 'time-forced: forced from (ISO 8601)' },
      {
        name: 'window',
        value: 'cron',
        description: "recurring install window start, 5-field cron, e.g. '0 2 * * 1-5'",
      },
      { name: 'window-duration', value: 'd', description: 'recurring window length, e.g. 30m, 2h' },
      {
        name: 'window-tz',
        value: 'tz',
        description: 'recurring window time zone (IANA; default UTC)',
      },
      ...SERVICE_OPTIONS,
    ],
    help: `Example: updraft campaign create --name 'thermo 1.1 EU' --release rel_… --filter 'device.attributes.region == "eu"' --phase 10% --phase 50% --phase 100% --error-threshold 5%`,
    load: () => import('./commands/campaign-create.js'),
  },
  {
    path: ['campaign', 'approve'],
    summary: 'approve a draft campaign (campaigns:approve; not its creator)',
    arguments: [{ name: 'id', description: 'campaign id' }],
    options: [
      { name: 'comment', value: 'text', description: 'review comment' },
      ...SERVICE_OPTIONS,
    ],
    load: () => import('./commands/campaign-approve.js'),
  },
  {
    path: ['campaign', 'reject'],
    summary: 'reject a campaign back to draft, saying why',
    arguments: [{ name: 'id', description: 'campaign id' }],
    options: [
      { name: 'comment', value: 'text', description: 'why (required)', required: true },
      ...SERVICE_OPTIONS,
    ],
    load: () => import('./commands/campaign-reject.js'),
  },
  {
    path: ['campaign', 'start'],
    summary: 'start an approved campaign now, or at a time (scheduled)',
    arguments: [{ name: 'id', description: 'campaign id' }],
    options: [
      { name: 'at', value: 'iso', description: 'start at this time (ISO 8601)' },
      ...SERVICE_OPTIONS,
    ],
    load: () => import('./commands/campaign-start.js'),
  },
  {
    path: ['campaign', 'pause'],
    summary: 'pause a running campaign: no new actions (open ones continue)',
    arguments: [{ name: 'id', description: 'campaign id' }],
    options: [{ name: 'comment', value: 'text', description: 'why' }, ...SERVICE_OPTIONS],
    load: () => import('./commands/campaign-pause.js'),
  },
  {
    path: ['campaign', 'resume'],
    summary: 'resume a paused campaign (also passes a manual gate)',
    arguments: [{ name: 'id', description: 'campaign id' }],
    options: SERVICE_OPTIONS,
    load: () => import('./commands/campaign-resume.js'),
  },
  {
    path: ['campaign', 'cancel'],
    summary: 'cancel a campaign and request cancellation of its open actions',
    arguments: [{ name: 'id', description: 'campaign id' }],
    options: SERVICE_OPTIONS,
    load: () => import('./commands/campaign-cancel.js'),
  },
  {
    path: ['campaign', 'finish'],
    summary: 'finish a campaign: no new actions, open ones run to their end',
    arguments: [{ name: 'id', description: 'campaign id' }],
    options: SERVICE_OPTIONS,
    load: () => import('./commands/campaign-finish.js'),
  },
  {
    path: ['campaign', 'list'],
    summary: 'list campaigns, newest first',
    options: [
      {
        name: 'state',
        value: 'state',
        description: 'only campaigns in this state',
        choices: ['draft', 'approved', 'scheduled', 'running', 'paused', 'finished', 'cancelled'],
      },
      ...SERVICE_OPTIONS,
    ],
    load: () => import('./commands/campaign-list.js'),
  },
  {
    path: ['campaign', 'status'],
    summary: 'show a campaign’s progress: per phase counts, totals, failure reasons',
    arguments: [{ name: 'id', description: 'campaign id' }],
    options: SERVICE_OPTIONS,
    load: () => import('./commands/campaign-status.js'),
  },
  {
    path: ['campaign', 'watch'],
    summary: 'follow a campaign live (progress per phase) until it is finished or cancelled',
    arguments: [{ name: 'id', description: 'campaign id' }],
    options: SERVICE_OPTIONS,
    help: 'With --json: one JSON line per event ({id, event, data}).',
    load: () => import('./commands/campaign-watch.js'),
  },
  {
    path: ['campaign', 'settings'],
    summary: "show or change the tenant's campaign settings (approval required)",
    options: [
      {
        name: 'approval-required',
        value: 'bool',
        description: 'true: campaigns need a second user’s approval before they start',
        choices: ['true', 'false'],
      },
      ...SERVICE_OPTIONS,
    ],
    load: () => import('./commands/campaign-settings.js'),
  },
  {
    path: ['ddi', 'gateway-token', 'create'],
    summary: 'create a hawkBit DDI gateway token (shown once)',
    arguments: [{ name: 'name', description: 'a name for the token (who uses it)' }],
    options: [
      {
        name: 'class',
        value: 'class',
        description: 'act only for controllers of this device class (id or name)',
      },
      ...SERVICE_OPTIONS,
    ],
    load: () => import('./commands/ddi-gateway-token-create.js'),
  },
  {
    path: ['ddi', 'gateway-token', 'list'],
    summary: "list the tenant's hawkBit DDI gateway tokens",
    options: SERVICE_OPTIONS,
    load: () => import('./commands/ddi-gateway-token-list.js'),
  },
  {
    path: ['ddi', 'gateway-token', 'revoke'],
    summary: 'revoke a hawkBit DDI gateway token',
    arguments: [{ name: 'id', description: 'gateway token id (gwt_…)' }],
    options: SERVICE_OPTIONS,
    load: () => import('./commands/ddi-gateway-token-revoke.js'),
  },
  {
    path: ['ddi', 'settings'],
    summary: "show or change the tenant's hawkBit DDI settings (plug-and-play, polling sleep)",
    options: [
      {
        name: 'auto-register',
        value: 'bool',
        description: 'true: register unknown controllers polling with a gateway token',
        choices: ['true', 'false'],
      },
      { name: 'class', value: 'class', description: 'device class of auto-registered controllers' },
      {
        name: 'polling-sleep',
        value: 'seconds',
        description: 'the config.polling.sleep told to controllers (5 to 86399)',
      },
      ...SERVICE_OPTIONS,
    ],
    load: () => import('./commands/ddi-settings.js'),
  },
  {
    path: ['sim', 'image'],
    summary:
      'build a signed sim firmware image whose body scripts the app (healthy, crash-on-boot, …)',
    options: [
      {
        name: 'key',
        value: 'file',
        description: 'PEM private signing key (Ed25519 or P-256)',
        required: true,
      },
      {
        name: 'image-version',
        value: 'x.y.z',
        description: 'image version, e.g. 1.2.0',
        required: true,
      },
      { name: 'sequence-number', value: 'n', description: 'security counter (default 0)' },
      {
        name: 'behaviour',
        value: 'b',
        description: 'what the app does',
        choices: ['healthy', 'crash-on-boot', 'fails-health-check', 'hangs'],
      },
      { name: 'size', value: 'bytes', description: 'body size (default 16384)' },
      { name: 'out', short: 'o', value: 'file', description: 'output file', required: true },
      { name: 'force', description: 'overwrite --out' },
    ],
    help: 'Example: updraft sim image --key keys/release.key --image-version 1.1.0 --sequence-number 2 --out fw-1.1.0.bin',
    load: () => import('./commands/sim-image.js'),
  },
  {
    path: ['sim', 'device'],
    summary:
      'run one simulated device (flash, bootloader, real agent) against a service, with its boot log',
    options: [
      ...SIM_DEVICE_OPTIONS,
      {
        name: 'token',
        value: 'token',
        description: 'device token (with --server)',
        env: 'UPDRAFT_DEVICE_TOKEN',
      },
      { name: 'id', value: 'name', description: 'name in the log (default sim-device)' },
      {
        name: 'state',
        value: 'file',
        description: "keep the device's flash in this file across runs",
      },
      { name: 'polls', value: 'n', description: 'boot-and-poll rounds (default 1)' },
      { name: 'poll-interval-ms', value: 'ms', description: 'pause between rounds (default 1000)' },
    ],
    help: 'Example: updraft sim device --offline --image fw-1.0.0.bin --release fw-1.1.0.bin --key keys/release.key --trusted-key keys/release.pub',
    load: () => import('./commands/sim-device.js'),
  },
  {
    path: ['sim', 'fleet'],
    summary:
      'run N simulated devices in one process against a service; prints outcomes and versions',
    options: [
      ...SIM_DEVICE_OPTIONS,
      {
        name: 'devices',
        short: 'n',
        value: 'N',
        description: 'fleet size (default: one per token, or 10)',
      },
      {
        name: 'tokens-file',
        value: 'file',
        description: "one device per line: '<token>' or '<device name> <token>' (with --server)",
      },
      {
        name: 'concurrency',
        value: 'n',
        description: 'devices running at once (default 64; every device with --duration)',
      },
      { name: 'log', description: 'print every device boot/update log line on stderr' },
      {
        name: 'mtls',
        description:
          'devices enroll over EST (a token each from the management API) and check in over mutual TLS; --tokens-file lines name the devices',
      },
      { name: 'ca-file', value: 'pem', description: 'pinned CA of the service (with --mtls)' },
      ...SIM_FLEET_OPTIONS,
    ],
    help: 'Example: updraft sim fleet --devices 1000 --offline --image fw-1.0.0.bin --release fw-1.1.0.bin --key keys/release.key --trusted-key keys/release.pub',
    load: () => import('./commands/sim-fleet.js'),
  },
];
