/** What a child process wrote, kept as text so tests can search it and errors can quote its tail. */
export class OutputLog {
  private kept = '';
  private droppedChars = 0;

  /** @param maxChars Keep at most this many of the most recent characters. Default: unlimited. */
  constructor(private readonly maxChars = Number.POSITIVE_INFINITY) {}

  append(text: string): void {
    this.kept += text;
    const excess = this.kept.length - this.maxChars;
    if (excess > 0) {
      this.kept = this.kept.slice(excess);
      this.droppedChars += excess;
    }
  }

  /** How many characters were ever appended; a mark to pass to `since` later. */
  get totalChars(): number {
    return this.droppedChars + this.kept.length;
  }

  text(): string {
    return this.kept;
  }

  /** What was appended after `mark` (as much of it as is still kept). */
  since(mark: number): string {
    return this.kept.slice(Math.max(0, mark - this.droppedChars));
  }

  /** The last `lines` lines appended after `mark`. */
  tail(lines: number, mark = 0): string {
    const all = this.since(mark).split('\n');
    if (all.at(-1) === '') all.pop();
    return all.slice(-lines).join('\n');
  }
}
