import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { expect } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
export const CHROMIUM = '/usr/bin/chromium';
export const WEB_DIST = join(root, 'packages/web/dist/index.html');
export const SCREENSHOTS = join(root, 'bench/results/screenshots');

/**
 * Why the browser tests cannot run here (no chromium, no built dashboard), or null. In CI the
 * tests fail with this reason; elsewhere they are skipped with it printed.
 */
export function browserTestsUnavailable(): string | null {
  if (!existsSync(CHROMIUM)) return `${CHROMIUM} is missing (apt-get install chromium)`;
  if (!existsSync(WEB_DIST)) return `${WEB_DIST} is missing (run npm run build first)`;
  return null;
}

/** A fresh headless Debian chromium at 1280×800 that records every request it makes. */
export interface Browser {
  readonly context: BrowserContext;
  readonly requests: string[];
  readonly consoleErrors: string[];
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<Browser> {
  const userDataDir = await mkdtemp(join(tmpdir(), 'updraft-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1280, height: 800 },
  });
  const requests: string[] = [];
  const consoleErrors: string[] = [];
  context.on('request', (request) => requests.push(request.url()));
  context.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  });
  return {
    context,
    requests,
    consoleErrors,
    async newPage() {
      const page = await context.newPage();
      // Fail with the locator's message well before the test's own timeout.
      page.setDefaultTimeout(10_000);
      return page;
    },
    async close() {
      await context.close();
      await rm(userDataDir, { recursive: true, force: true });
    },
  };
}

const axeSource = readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** The serious and critical axe-core violations on the page as it stands (rule id and targets). */
export async function seriousViolations(page: Page): Promise<string[]> {
  // evaluate runs over the DevTools protocol, outside the page's CSP (which forbids inline scripts).
  await page.evaluate(`${await axeSource};0`);
  const violations = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(): Promise<AxeResults> } }).axe;
    return (await axe.run()).violations;
  });
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

interface AxeResults {
  violations: { id: string; impact: string | null; nodes: { target: string[] }[] }[];
}

/** A 1280×800 screenshot for review, bench/results/screenshots/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<void> {
  await mkdir(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) });
}

/**
 * The gate every browser test file starts with: outside CI, a missing chromium or dashboard
 * build skips the file with the reason printed; in CI it is a failure, not a skip (call
 * `assertRunnable()` first thing in the file's beforeAll).
 */
export interface BrowserGate {
  readonly skip: boolean;
  assertRunnable(): void;
}

export function browserGate(label: string): BrowserGate {
  const unavailable = browserTestsUnavailable();
  if (unavailable && !process.env.CI) console.warn(`${label} skipped: ${unavailable}`);
  return {
    skip: unavailable !== null && !process.env.CI,
    assertRunnable() {
      if (unavailable) throw new Error(`${label} cannot run: ${unavailable}`);
    },
  };
}

/**
 * Signs `username` in through the login form of the service at `base` (optionally with
 * `?next=`), as a fresh session: one browser profile serves every user, so each starts as a
 * stranger. Returns once "Sign in" is clicked; the caller waits for where it lands.
 */
export async function signIn(
  page: Page,
  base: string,
  username: string,
  password: string,
  next?: string,
): Promise<void> {
  await page.context().clearCookies();
  await page.goto(next === undefined ? `${base}/login` : `${base}/login?next=${next}`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/**
 * No serious or critical axe violation on the page as it stands (the failure names `name`),
 * then a screenshot for review named `shot` (`name` unless given; none when false).
 */
export async function expectAccessible(
  page: Page,
  name: string,
  shot: string | false = name,
): Promise<void> {
  expect(await seriousViolations(page), `axe on ${name}`).toEqual([]);
  if (shot !== false) await screenshot(page, shot);
}

/** The requests the browser made that left the service's origin `base` (to be none). */
export function requestsOffOrigin(browser: Browser, base: string): string[] {
  return browser.requests.filter((url) => !url.startsWith(`${base}/`));
}

/** The browser's console errors but those `expected` matches (to be none). */
export function unexpectedConsoleErrors(browser: Browser, expected: RegExp): string[] {
  return browser.consoleErrors.filter((e) => !expected.test(e));
}
