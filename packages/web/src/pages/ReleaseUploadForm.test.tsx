// @vitest-environment jsdom
import { cleanup, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { fakeUploads } from '../testing/fake-uploads';
import { json, problem, renderWithApp } from '../testing/render';
import { ReleaseUploadForm } from './ReleaseUploadForm';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const CLASSES = {
  items: [
    {
      id: 'dc_1',
      name: 'sensor-v2',
      vendorId: 'v',
      classId: 'c',
      vendorName: null,
      modelName: null,
      createdAt: '2026-12-01T10:00:00.000Z',
    },
  ],
};

/** Requests outside the upload sessions: the device classes and the release itself. */
function service(releaseBodies: unknown[]) {
  return async (request: Request) => {
    const path = new URL(request.url).pathname;
    if (path === '/api/v1/device-classes') return json(CLASSES);
    if (path === '/api/v1/releases' && request.method === 'POST') {
      releaseBodies.push(await request.json());
      return json({ id: 'rel_9' }, 201);
    }
    return json({}, 404);
  };
}

async function fillForm(
  user: ReturnType<typeof userEvent.setup>,
  payloadSize: number,
  payloadName = 'fw.bin',
) {
  await screen.findByRole('option', { name: 'sensor-v2' });
  await user.selectOptions(screen.getByRole('combobox', { name: 'Device class' }), 'sensor-v2');
  const [envelopeInput, payloadInput] = Array.from(
    document.querySelectorAll<HTMLInputElement>('input[type=file]'),
  );
  await user.upload(envelopeInput!, new File([new Uint8Array([0xd8, 0x6b, 1, 2])], 'r.suit'));
  await user.upload(
    payloadInput!,
    new File([new Uint8Array(payloadSize).fill(7)], payloadName, {
      type: 'application/octet-stream',
    }),
  );
}

describe('ReleaseUploadForm', () => {
  it('shows each chunk advance the progress bar, then creates the release from the sessions', async () => {
    const user = userEvent.setup();
    const releases: unknown[] = [];
    // Each PUT waits until the test lets it through, so every intermediate value can be seen.
    const gates: (() => void)[] = [];
    const server = fakeUploads({
      gate: () => new Promise<void>((resolve) => gates.push(resolve)),
      other: service(releases),
    });
    const onUploaded = vi.fn();
    renderWithApp(
      <ReleaseUploadForm onUploaded={onUploaded} onClose={() => undefined} chunkBytes={1000} />,
      { roles: ['admin'] },
    );
    await fillForm(user, 4000);
    await user.click(screen.getByRole('button', { name: 'Upload' }));
    const bar = screen.getByRole('progressbar', { name: 'Upload of fw.bin' });
    const seen: string[] = [];
    for (let put = 0; put < 4; put++) {
      await waitFor(() => expect(gates).toHaveLength(put + 1));
      seen.push(bar.getAttribute('aria-valuenow')!);
      gates[put]!();
    }
    await waitFor(() => expect(onUploaded).toHaveBeenCalledWith('rel_9'));
    expect(seen).toEqual(['0', '25', '50', '75']);
    expect(server.puts).toEqual([0, 1000, 2000, 3000]);
    const [id] = [...server.sessions.keys()];
    expect(releases).toEqual([
      {
        deviceClassId: 'dc_1',
        envelope: btoa('\xd8\x6b\x01\x02'),
        payloads: [{ uploadId: id, fileName: 'fw.bin' }],
      },
    ]);
  });

  it('shows a failed chunk with its code and resumes from the service offset', async () => {
    const user = userEvent.setup();
    const releases: unknown[] = [];
    let broken = true;
    const server = fakeUploads({
      // Chunks from the third on fail until the service "recovers"; 3 retries each time.
      fail: (n) => (n >= 2 && broken ? 'before' : null),
      other: service(releases),
    });
    const onUploaded = vi.fn();
    renderWithApp(
      <ReleaseUploadForm onUploaded={onUploaded} onClose={() => undefined} chunkBytes={1000} />,
      { roles: ['admin'] },
    );
    await fillForm(user, 4000);
    await user.click(screen.getByRole('button', { name: 'Upload' }));
    const alert = await screen.findByRole('alert', {}, { timeout: 5000 });
    expect(alert.textContent).toContain('SERVICE_UNAVAILABLE');
    const bar = screen.getByRole('progressbar', { name: 'Upload of fw.bin' });
    expect(bar.getAttribute('aria-valuenow')).toBe('50');
    expect(screen.getByTestId('upload-bytes').textContent).toContain('(50%)');

    broken = false;
    server.puts.length = 0;
    await user.click(screen.getByRole('button', { name: 'Resume upload' }));
    await waitFor(() => expect(onUploaded).toHaveBeenCalledWith('rel_9'));
    // Resumed at the acknowledged offset: nothing resent, one session.
    expect(server.puts).toEqual([2000, 3000]);
    expect(server.sessions.size).toBe(1);
    expect(releases).toHaveLength(1);
  });

  it('shows a refused release with its code and sends a corrected envelope without the payloads again', async () => {
    const user = userEvent.setup();
    const envelopes: string[] = [];
    const payloadLists: unknown[] = [];
    const server = fakeUploads({
      other: async (request) => {
        const path = new URL(request.url).pathname;
        if (path === '/api/v1/device-classes') return json(CLASSES);
        const body = (await request.json()) as { envelope: string; payloads: unknown };
        envelopes.push(body.envelope);
        payloadLists.push(body.payloads);
        return envelopes.length === 1
          ? problem(422, { code: 'RELEASE_KEY_UNTRUSTED', detail: 'signed by an unknown key' })
          : json({ id: 'rel_10' }, 201);
      },
    });
    const onUploaded = vi.fn();
    renderWithApp(
      <ReleaseUploadForm onUploaded={onUploaded} onClose={() => undefined} chunkBytes={1000} />,
      { roles: ['admin'] },
    );
    // A browser file name the service would refuse: sent sanitised as the CLI does.
    await fillForm(user, 2500, 'fw image (1).bin');
    await user.click(screen.getByRole('button', { name: 'Upload' }));
    expect((await screen.findByRole('alert', {}, { timeout: 5000 })).textContent).toContain(
      'RELEASE_KEY_UNTRUSTED',
    );
    expect(server.puts).toEqual([0, 1000, 2000]);
    const envelopeInput = document.querySelector<HTMLInputElement>('input[type=file]')!;
    await user.upload(envelopeInput, new File([new Uint8Array([9, 9])], 'fixed.suit'));
    await user.click(screen.getByRole('button', { name: 'Resume upload' }));
    await waitFor(() => expect(onUploaded).toHaveBeenCalledWith('rel_10'));
    expect(envelopes).toEqual([btoa('\xd8\x6b\x01\x02'), btoa('\x09\x09')]);
    expect(server.puts).toEqual([0, 1000, 2000]);
    // Both attempts name the one session with the file's sanitised name.
    const [id] = [...server.sessions.keys()];
    const sent = [{ uploadId: id, fileName: 'fw_image__1_.bin' }];
    expect(payloadLists).toEqual([sent, sent]);
  });

  it('abandons the upload sessions when cancelled', async () => {
    const user = userEvent.setup();
    const gates: (() => void)[] = [];
    const server = fakeUploads({
      gate: () => new Promise<void>((resolve) => gates.push(resolve)),
      other: service([]),
    });
    const onClose = vi.fn();
    renderWithApp(
      <ReleaseUploadForm onUploaded={() => undefined} onClose={onClose} chunkBytes={1000} />,
      { roles: ['admin'] },
    );
    await fillForm(user, 4000);
    await user.click(screen.getByRole('button', { name: 'Upload' }));
    await waitFor(() => expect(gates).toHaveLength(1));
    gates[0]!();
    await waitFor(() => expect(gates).toHaveLength(2));
    await user.click(screen.getByRole('button', { name: 'Cancel' }));
    gates[1]!();
    await waitFor(() => expect(onClose).toHaveBeenCalled());
    expect(server.sessions.size).toBe(0);
    expect(server.seen.some((s) => s.method === 'DELETE')).toBe(true);
  });
});
