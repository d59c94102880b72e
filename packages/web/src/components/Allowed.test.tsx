// @vitest-environment jsdom
import { cleanup, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { renderWithApp } from '../testing/render';
import { PermittedButton } from './Allowed';

afterEach(cleanup);

describe('PermittedButton', () => {
  it('is disabled with the missing permission as its description when the roles do not grant it', () => {
    renderWithApp(
      <PermittedButton permission="devices:write" onClick={() => undefined}>
        Decommission
      </PermittedButton>,
      { roles: ['support'] },
    );
    const button = screen.getByRole('button', { name: 'Decommission' });
    expect(button).toHaveProperty('disabled', true);
    expect(button.getAttribute('aria-describedby')).toBeTruthy();
    const reason = document.getElementById(button.getAttribute('aria-describedby')!);
    expect(reason?.textContent).toContain('devices:write');
  });

  it('is enabled for a role that grants it', () => {
    renderWithApp(
      <PermittedButton permission="devices:write" onClick={() => undefined}>
        Decommission
      </PermittedButton>,
      { roles: ['deployment-admin'] },
    );
    expect(screen.getByRole('button', { name: 'Decommission' })).toHaveProperty('disabled', false);
  });
});
