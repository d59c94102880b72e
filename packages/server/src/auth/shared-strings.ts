/**
 * One instance per distinct value for strings that repeat across many cached sessions (tenant,
 * class, report digest): a row from the database brings a fresh copy each time, and a million
 * cached sessions would hold a million equal copies. Bounded: full, it starts over (the strings
 * already handed out stay valid, only the sharing of new ones restarts).
 */
export class SharedStrings {
  readonly #known = new Map<string, string>();

  constructor(private readonly maxEntries: number) {}

  /** Distinct values remembered now. */
  get size(): number {
    return this.#known.size;
  }

  of(value: string): string {
    const known = this.#known.get(value);
    if (known !== undefined) return known;
    if (this.#known.size >= this.maxEntries) this.#known.clear();
    this.#known.set(value, value);
    return value;
  }
}
