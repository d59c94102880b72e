// Run in a child process whose NODE_EXTRA_CA_CERTS trusts the server's (foreign) root: prints
// what a plain https request and the pinned agent transport make of the same server.
import { get } from 'node:https';
import { HttpTransport, PinnedCa } from '@updraft/agent';

const [url, pin] = [process.env.TARGET_URL!, process.env.PIN_PEM!];
const plain = await new Promise<string>((resolve) => {
  get(`${url}/ping`, (res) => {
    res.resume();
    resolve(`status ${res.statusCode}`);
  }).on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? String(e)));
});
const transport = new HttpTransport({ baseUrl: url, token: 't', pinnedCa: PinnedCa.parse(pin) });
const pinned = await transport
  .fetchEnvelope(`${url}/ping`, 1024)
  .then(() => 'accepted')
  .catch((e: { code?: string }) => e.code ?? String(e));
process.stdout.write(JSON.stringify({ plain, pinned }));
