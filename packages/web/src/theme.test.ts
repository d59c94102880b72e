import { readFileSync } from 'node:fs';
import { DEFAULT_THEME } from '@mantine/core';
import { describe, expect, it } from 'vitest';
import { theme } from './theme';

/** WCAG 2 contrast ratio of two #rrggbb colours. */
function contrast(a: string, b: string): number {
  const luminance = (hex: string) => {
    const [r, g, bl] = [1, 3, 5].map((i) => {
      const c = Number.parseInt(hex.slice(i, i + 2), 16) / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r! + 0.7152 * g! + 0.0722 * bl!;
  };
  const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
  return (x! + 0.05) / (y! + 0.05);
}

describe('theme.css', () => {
  it('gives the active navigation link AA contrast, also while hovered', () => {
    const css = readFileSync(new URL('./theme.css', import.meta.url), 'utf8');
    const rule = /\.mantine-NavLink-root[^{]*\{([^}]*)\}/.exec(css)?.[1] ?? '';
    const shade = (name: string) => {
      const m = new RegExp(`--${name}:\\s*var\\(--mantine-primary-color-(\\d)\\)`).exec(rule);
      expect(m, `--${name} set to a primary shade`).not.toBeNull();
      return DEFAULT_THEME.colors[theme.primaryColor ?? DEFAULT_THEME.primaryColor]![
        Number(m![1])
      ]!;
    };
    const text = shade('nl-color');
    for (const background of [shade('nl-bg'), shade('nl-hover')]) {
      expect(contrast(text, background)).toBeGreaterThanOrEqual(4.5);
    }
  });
});
