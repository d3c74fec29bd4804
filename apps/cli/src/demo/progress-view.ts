/** The demo's live progress: redrawn in place on a terminal, one line a second otherwise (logs, CI). */
import pc from 'picocolors';
import type { DemoProgress } from '@throughline/embedded';
import { count, percent, seconds } from '../format.js';

export interface ProgressView {
  update(progress: DemoProgress): void;
  /** Leaves the last state on screen. */
  finish(): void;
}

const BAR_WIDTH = 24;

function bar(done: number, total: number): string {
  const filled = total === 0 ? BAR_WIDTH : Math.round((BAR_WIDTH * done) / total);
  return pc.green('█'.repeat(filled)) + pc.dim('░'.repeat(BAR_WIDTH - filled));
}

function backlogText(p: DemoProgress): string {
  return `enrich ${count(p.backlog.enrich)} · state ${count(p.backlog.state)} · writer ${count(p.backlog.writer)}`;
}

export function createProgressView(out: NodeJS.WriteStream): ProgressView {
  if (!out.isTTY) {
    return {
      update(p) {
        out.write(
          `[${seconds(p.elapsedMs)}] ${p.phase}: ${count(p.committed)}/${count(p.events)} committed (${percent(p.committed, p.events)}), ` +
            `${count(p.eventsPerSecond)} events/s, backlog ${backlogText(p)}\n`,
        );
      },
      finish() {},
    };
  }
  let drawn = 0;
  return {
    update(p) {
      const lines = [
        `  ${bar(p.committed, p.events)} ${percent(p.committed, p.events).padStart(6)}  ${count(p.committed)} of ${count(p.events)} committed  ${pc.dim(p.phase)}`,
        `  ${pc.bold(count(p.eventsPerSecond))} events/s   ${seconds(p.elapsedMs)}   backlog: ${backlogText(p)}`,
      ];
      // Up to the start of the previous frame, clear to the end of the screen, draw.
      out.write((drawn > 0 ? `\x1b[${drawn}A\x1b[0J` : '') + lines.join('\n') + '\n');
      drawn = lines.length;
    },
    finish() {
      drawn = 0;
    },
  };
}
