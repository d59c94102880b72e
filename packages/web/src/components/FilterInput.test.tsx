// @vitest-environment jsdom
import { cleanup, fireEvent, screen } from '@testing-library/react';
import { useState } from 'react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { json, problem, renderWithApp, stubFetch } from '../testing/render';
import { FilterInput } from './FilterInput';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

function Harness() {
  const [value, setValue] = useState('');
  return <FilterInput value={value} onChange={setValue} />;
}

describe('FilterInput', () => {
  it('shows the live count the service answers for the typed filter', async () => {
    const seen = stubFetch((request) => {
      const filter = new URL(request.url).searchParams.get('filter');
      return json({ count: filter === '"canary" in tags' ? 1234 : 0 });
    });
    renderWithApp(<Harness />);
    fireEvent.change(screen.getByLabelText('Filter', { exact: false }), {
      target: { value: '"canary" in tags' },
    });
    expect((await screen.findByTestId('filter-count')).textContent).toBe('1,234 matching devices');
    expect(new URL(seen.at(-1)!.url).pathname).toBe('/api/v1/devices/count');
  });

  it('shows a filter error with its code and a caret at its position', async () => {
    stubFetch(() =>
      problem(400, {
        code: 'FILTER_INVALID',
        detail: 'Unexpected token',
        position: { offset: 5, line: 1, column: 6 },
      }),
    );
    renderWithApp(<Harness />);
    fireEvent.change(screen.getByLabelText('Filter', { exact: false }), {
      target: { value: 'tags ==' },
    });
    const caret = await screen.findByTestId('filter-error-position');
    expect(caret.textContent).toBe('tags ==\n     ^');
    expect(screen.getByRole('alert').textContent).toContain('FILTER_INVALID');
    expect(screen.getByRole('alert').textContent).toContain('line 1, column 6');
  });
});
