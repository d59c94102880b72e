/**
 * The two functions of a test framework a contract suite needs (vitest's `describe` and `it` fit
 * as they are). Passed in, so the suites ship without importing a test framework.
 */
export interface ContractRunner {
  describe(name: string, body: () => void): void;
  it(name: string, body: () => Promise<void>): void;
}
